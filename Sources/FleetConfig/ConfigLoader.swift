import Foundation
import Yams

/// Where a value came from, for error messages and `--print-config`.
public enum ConfigSource: Sendable, Equatable, CustomStringConvertible {
    case defaultValue
    case file(path: String, line: Int)
    case environment(String)

    public var description: String {
        switch self {
        case .defaultValue: return "default"
        case .file(let path, let line): return "\(path):\(line)"
        case .environment(let name): return "env \(name)"
        }
    }
}

public struct ConfigValue: Sendable, Equatable {
    public let text: String
    public let source: ConfigSource
}

/// A configuration problem: names the key and where it came from. Programs exit with
/// `ConfigError.exitCode` (78, EX_CONFIG) when they meet one at start-up.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public static let exitCode: Int32 = 78

    public let key: String
    public let source: ConfigSource?
    public let message: String

    public init(key: String, source: ConfigSource?, message: String) {
        self.key = key
        self.source = source
        self.message = message
    }

    public var description: String {
        if let source { return "configuration error: \(key) (\(source)): \(message)" }
        return "configuration error: \(key): \(message)"
    }
}

/// The effective configuration: defaults < config file (`--config FILE`, YAML) < environment.
public struct LoadedConfig: Sendable {
    public let spec: ConfigSpec
    public let values: [String: ConfigValue]
    /// librdkafka properties: `kafka:` map in the file, `KAFKA_*` variables
    /// (`KAFKA_BOOTSTRAP_SERVERS` → `bootstrap.servers`).
    public let kafka: [String: ConfigValue]

    public func text(_ key: String) -> String? {
        precondition(spec.setting(key) != nil, "\(key) is not a setting of \(spec.program)")
        return values[key]?.text
    }

    public func string(_ key: String) -> String { text(key) ?? "" }
    public func int(_ key: String) -> Int { Int(string(key).trimmingCharacters(in: .whitespaces)) ?? 0 }
    public func bool(_ key: String) -> Bool { Setting.parseBool(string(key)) ?? false }
    public func duration(_ key: String) -> Duration { Setting.parseDuration(string(key)) ?? .zero }
    public func list(_ key: String) -> [String] {
        string(key).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The librdkafka properties as plain strings, with the fleet's defaults under them.
    public func kafkaProperties(defaults: [String: String] = ["bootstrap.servers": "localhost:9092"]) -> [String: String] {
        var p = defaults
        for (k, v) in kafka { p[k] = v.text }
        return p
    }

    /// `--print-config`: every effective value with its source; secrets never shown.
    public func rendered() -> String {
        var lines: [String] = ["# \(spec.program): effective configuration (value  # source)"]
        for s in spec.settings {
            let shown: String
            if let v = values[s.key] {
                shown = s.isSecret ? "<redacted>  # \(v.source)" : "\(v.text.isEmpty ? "\"\"" : v.text)  # \(v.source)"
            } else {
                shown = "<unset>"
            }
            lines.append("\(s.key): \(shown)")
        }
        for (k, v) in kafka.sorted(by: { $0.key < $1.key }) {
            let shown = KafkaSecrets.isSecret(k) ? "<redacted>" : v.text
            lines.append("kafka.\(k): \(shown)  # \(v.source)")
        }
        return lines.joined(separator: "\n")
    }
}

/// librdkafka properties whose values must never be printed or logged.
public enum KafkaSecrets {
    public static func isSecret(_ property: String) -> Bool {
        let p = property.lowercased()
        return p.contains("password") || p.contains("secret") || p.hasSuffix(".key") || p.contains("key.pem")
            || p.contains("jaas") || p.contains("token")
    }
}

public enum ConfigLoader {
    /// Loads, merges and validates. `configFile` is the `--config` argument, if any.
    public static func load(_ spec: ConfigSpec, configFile: String?, environment: [String: String]) throws(ConfigError) -> LoadedConfig {
        var values: [String: ConfigValue] = [:]
        var kafka: [String: ConfigValue] = [:]
        for s in spec.settings {
            if let d = s.defaultValue { values[s.key] = ConfigValue(text: d, source: .defaultValue) }
        }
        if let configFile {
            let (fleet, kafkaFromFile) = try readFile(configFile, spec: spec)
            values.merge(fleet) { $1 }
            kafka.merge(kafkaFromFile) { $1 }
        }
        let byEnvironmentName = Dictionary(uniqueKeysWithValues: spec.settings.map { ($0.environmentName, $0) })
        let foreignEnvironmentPrefixes = spec.foreignPrefixes.map { Setting($0, .string, default: nil, "").environmentName }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            if name.hasPrefix("CARGOWATCH_") {
                if let s = byEnvironmentName[name] {
                    values[s.key] = ConfigValue(text: value, source: .environment(name))
                } else if !foreignEnvironmentPrefixes.contains(where: { name.hasPrefix($0) }) && !ignoredEnvironment.contains(name) {
                    throw ConfigError(key: name, source: .environment(name), message: "unknown setting for \(spec.program) (see the configuration table in docs/configuration.md)")
                }
            } else if name.hasPrefix("KAFKA_") && name.count > 6 {
                let property = name.dropFirst(6).lowercased().replacingOccurrences(of: "_", with: ".")
                kafka[property] = ConfigValue(text: value, source: .environment(name))
            }
        }
        for s in spec.settings {
            guard let v = values[s.key] else { continue }
            if let problem = s.problem(with: v.text) { throw ConfigError(key: s.key, source: v.source, message: problem) }
        }
        return LoadedConfig(spec: spec, values: values, kafka: kafka)
    }

    /// Variables with the prefix that are not settings (read by scripts, not by programs).
    static let ignoredEnvironment: Set<String> = ["CARGOWATCH_STATE", "CARGOWATCH_ROOT", "CARGOWATCH_BROKER_PORT"]

    static func readFile(_ path: String, spec: ConfigSpec) throws(ConfigError) -> ([String: ConfigValue], [String: ConfigValue]) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(key: "--config", source: nil, message: "cannot read \(path): \(error.localizedDescription)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConfigError(key: "--config", source: .file(path: path, line: 0), message: "not valid YAML: \(error)")
        }
        guard let root else { return ([:], [:]) }
        guard case .mapping = root else {
            throw ConfigError(key: "--config", source: .file(path: path, line: root.mark?.line ?? 0), message: "expected a mapping of settings at the top level")
        }
        var fleet: [String: ConfigValue] = [:]
        var kafka: [String: ConfigValue] = [:]
        var flat: [(key: String, text: String, line: Int)] = []
        try flatten(root, prefix: "", path: path, into: &flat)
        for (key, scalar, line) in flat {
            if key.hasPrefix("kafka.") {
                kafka[String(key.dropFirst(6))] = ConfigValue(text: scalar, source: .file(path: path, line: line))
            } else if spec.setting(key) != nil {
                fleet[key] = ConfigValue(text: scalar, source: .file(path: path, line: line))
            } else if !spec.foreignPrefixes.contains(where: { key.hasPrefix($0) }) {
                throw ConfigError(key: key, source: .file(path: path, line: line), message: "unknown setting for \(spec.program)")
            }
        }
        return (fleet, kafka)
    }

    /// Nested mappings become dotted keys; `kafka:` keeps its (already dotted) property names.
    static func flatten(_ node: Node, prefix: String, path: String, into out: inout [(key: String, text: String, line: Int)]) throws(ConfigError) {
        switch node {
        case .mapping(let mapping):
            for (k, v) in mapping {
                guard let name = k.scalar?.string, !name.isEmpty else {
                    throw ConfigError(key: prefix.isEmpty ? "(top level)" : prefix, source: .file(path: path, line: k.mark?.line ?? 0), message: "keys must be plain strings")
                }
                try flatten(v, prefix: prefix.isEmpty ? name : "\(prefix).\(name)", path: path, into: &out)
            }
        case .scalar(let scalar):
            out.append((prefix, scalar.string, node.mark?.line ?? 0))
        case .sequence(let seq):
            // Lists are written as comma-separated text, so that env and file read alike.
            let items = seq.compactMap { $0.scalar?.string }
            guard items.count == seq.count else {
                throw ConfigError(key: prefix, source: .file(path: path, line: node.mark?.line ?? 0), message: "lists may only hold plain values")
            }
            out.append((prefix, items.joined(separator: ","), node.mark?.line ?? 0))
        case .alias:
            throw ConfigError(key: prefix, source: .file(path: path, line: node.mark?.line ?? 0), message: "YAML anchors and aliases are not supported")
        }
    }
}
