import Codec
import Foundation
import Yams

/// The sensitivity policy (policy/sensitivity.yaml): rules in a file, not in code.
public struct SensitivityPolicy: Sendable {
    public enum Action: String, Sendable { case keep, pseudonymise, postalRegion = "postal_region", maskFreeText = "mask_free_text", drop }

    public struct FieldRule: Sendable {
        public let path: String
        public let classes: [String]
        public let action: Action
        /// Pseudonym domain (e.g. `name`): the same value in two domains gets two pseudonyms.
        public let kind: String?
        /// `path`, parsed once rather than for every record.
        let steps: JSONValue.Path

        init(path: String, classes: [String], action: Action, kind: String?) {
            self.path = path
            self.classes = classes
            self.action = action
            self.kind = kind
            steps = JSONValue.Path(path)
        }
    }

    public struct Resource: Sendable {
        public let classes: [String]
        public let personalData: Bool
        public let level: String?
    }

    public let version: String
    public let levels: [String]
    public let classLevels: [String: String]
    public let records: [String: [FieldRule]]
    public let resources: [String: Resource]

    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func load(path: String) throws -> SensitivityPolicy {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Failure(message: "cannot read \(path)") }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String) throws -> SensitivityPolicy {
        func fail(_ m: String) -> Failure { Failure(message: "\(source): \(m)") }
        guard let root = try Yams.load(yaml: text) as? [String: Any] else { throw fail("expected a mapping") }
        guard let version = root["version"].map({ "\($0)" }), !version.isEmpty else { throw fail("version: required") }
        let levels = (root["levels"] as? [String]) ?? []
        guard !levels.isEmpty else { throw fail("levels: required") }
        let classLevels = (root["class_levels"] as? [String: String]) ?? [:]
        for (c, l) in classLevels where !levels.contains(l) { throw fail("class_levels.\(c): unknown level \(l)") }
        var records: [String: [FieldRule]] = [:]
        for (kind, rules) in (root["records"] as? [String: Any]) ?? [:] {
            guard let list = rules as? [[String: Any]] else { throw fail("records.\(kind): expected a list of rules") }
            records[kind] = try list.enumerated().map { i, r in
                guard let path = r["path"] as? String else { throw fail("records.\(kind)[\(i)].path: required") }
                let actionText = (r["action"] as? String) ?? "keep"
                guard let action = Action(rawValue: actionText) else { throw fail("records.\(kind)[\(i)].action: unknown \(actionText)") }
                let classes = (r["classes"] as? [String]) ?? []
                for c in classes where classLevels[c] == nil { throw fail("records.\(kind)[\(i)].classes: \(c) has no level in class_levels") }
                if action == .pseudonymise && r["kind"] == nil { throw fail("records.\(kind)[\(i)]: pseudonymise needs a kind") }
                return FieldRule(path: path, classes: classes, action: action, kind: r["kind"] as? String)
            }
        }
        var resources: [String: Resource] = [:]
        for (kind, value) in (root["resources"] as? [String: Any]) ?? [:] {
            guard let r = value as? [String: Any] else { throw fail("resources.\(kind): expected a mapping") }
            let level = r["level"] as? String
            if let level, !levels.contains(level) { throw fail("resources.\(kind).level: unknown level \(level)") }
            resources[kind] = Resource(classes: (r["classes"] as? [String]) ?? [], personalData: (r["personal_data"] as? Bool) ?? false, level: level)
        }
        return SensitivityPolicy(version: version, levels: levels, classLevels: classLevels, records: records, resources: resources)
    }

    /// The highest level of the classes (the lowest level when there are none).
    public func level(of classes: some Sequence<String>) -> String {
        var best = 0
        for c in classes { if let l = classLevels[c], let i = levels.firstIndex(of: l) { best = Swift.max(best, i) } }
        return levels[best]
    }

    public func max(_ a: String, _ b: String) -> String {
        (levels.firstIndex(of: a) ?? 0) >= (levels.firstIndex(of: b) ?? 0) ? a : b
    }
}
