/// One setting of a worker: its key, type, default and meaning. The list of settings is the
/// single source for loading, validation, `--print-config` and the generated docs table.
public struct Setting: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case int(ClosedRange<Int>)
        case bool
        case string
        /// Non-empty text.
        case name
        case duration(ClosedRange<Duration>)
        case choice([String])
        /// Never printed or logged.
        case secret
        case path
        /// Comma-separated list.
        case list
    }

    /// Dotted key as written in a config file (`http.port`).
    public let key: String
    public let kind: Kind
    /// Textual default (`nil`: unset unless given).
    public let defaultValue: String?
    public let summary: String

    public init(_ key: String, _ kind: Kind, default defaultValue: String?, _ summary: String) {
        self.key = key
        self.kind = kind
        self.defaultValue = defaultValue
        self.summary = summary
    }

    /// The environment variable that sets it: `CARGOWATCH_` + key in upper case, dots as underscores.
    public var environmentName: String {
        "CARGOWATCH_" + key.uppercased().replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    public var isSecret: Bool { kind == .secret }

    /// How the type reads in docs.
    public var typeDescription: String {
        switch kind {
        case .int(let r): return "integer \(r.lowerBound)–\(r.upperBound)"
        case .bool: return "boolean"
        case .string: return "string"
        case .name: return "non-empty string"
        case .duration: return "duration (e.g. 500ms, 30s, 5m, 48h)"
        case .choice(let options): return options.joined(separator: " | ")
        case .secret: return "secret string"
        case .path: return "file path"
        case .list: return "comma-separated list"
        }
    }

    /// Checks a textual value; returns a message saying what was wrong, or nil.
    func problem(with value: String) -> String? {
        switch kind {
        case .int(let range):
            guard let v = Int(value.trimmingCharacters(in: .whitespaces)) else { return "expected an integer, got \"\(value)\"" }
            return range.contains(v) ? nil : "expected an integer from \(range.lowerBound) to \(range.upperBound), got \(v)"
        case .bool:
            return Setting.parseBool(value) == nil ? "expected true or false, got \"\(value)\"" : nil
        case .duration(let range):
            guard let d = Setting.parseDuration(value) else { return "expected a duration such as 500ms, 30s, 5m or 48h, got \"\(value)\"" }
            return range.contains(d) ? nil : "expected a duration from \(Setting.format(range.lowerBound)) to \(Setting.format(range.upperBound)), got \(value)"
        case .choice(let options):
            return options.contains(value) ? nil : "expected one of \(options.joined(separator: ", ")), got \"\(value)\""
        case .name, .secret, .path:
            return value.isEmpty ? "must not be empty" : nil
        case .string, .list:
            return nil
        }
    }

    public static func parseBool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: return nil
        }
    }

    /// `250ms`, `30s`, `5m`, `48h`, `7d`, or combinations like `1h30m`.
    public static func parseDuration(_ text: String) -> Duration? {
        var total: Int64 = 0
        var number: Int64?
        var i = text.startIndex
        var sawUnit = false
        while i < text.endIndex {
            let c = text[i]
            if let d = c.wholeNumberValue, c.isASCII {
                number = (number ?? 0) * 10 + Int64(d)
                if number! > 1_000_000_000 { return nil }
                i = text.index(after: i)
                continue
            }
            guard let n = number else { return nil }
            let rest = text[i...]
            let (unitMs, length): (Int64, Int)
            if rest.hasPrefix("ms") { (unitMs, length) = (1, 2) }
            else if rest.hasPrefix("s") { (unitMs, length) = (1000, 1) }
            else if rest.hasPrefix("m") { (unitMs, length) = (60_000, 1) }
            else if rest.hasPrefix("h") { (unitMs, length) = (3_600_000, 1) }
            else if rest.hasPrefix("d") { (unitMs, length) = (86_400_000, 1) }
            else { return nil }
            total += n * unitMs
            number = nil
            sawUnit = true
            i = text.index(i, offsetBy: length)
        }
        guard sawUnit, number == nil else { return nil }
        return .milliseconds(total)
    }

    public static func format(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        if ms % 86_400_000 == 0 && ms > 0 { return "\(ms / 86_400_000)d" }
        if ms % 3_600_000 == 0 && ms > 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 && ms > 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

/// The settings one worker reads, plus which other namespaces belong to the fleet (so that one
/// environment can carry every worker's settings without each calling the others' unknown).
public struct ConfigSpec: Sendable {
    public let program: String
    public let settings: [Setting]
    /// Key prefixes owned by the fleet's other programs (e.g. `fraud.`): accepted, not validated here.
    public let foreignPrefixes: [String]

    public init(program: String, settings: [Setting], foreignPrefixes: [String] = []) {
        self.program = program
        self.settings = settings
        self.foreignPrefixes = foreignPrefixes
        precondition(Set(settings.map(\.key)).count == settings.count, "duplicate setting in \(program)")
    }

    public func setting(_ key: String) -> Setting? { settings.first { $0.key == key } }
}
