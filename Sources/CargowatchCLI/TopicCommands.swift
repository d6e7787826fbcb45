import Catalogue
import Foundation
import Kafka

/// Creates and checks the catalogue's topics (with their partitions and configs).
public enum TopicProvisioner {
    public struct Problem: CustomStringConvertible {
        public let topic: String
        public let message: String
        public var description: String { "\(topic): \(message)" }
    }

    public static func allTopics(environment: [String: String]) throws -> [Topic] {
        Catalogue.topics + (try Fleet.internalTopics(environment: environment))
    }

    /// Creates what is missing; existing topics are left as they are (and checked).
    public static func create(_ topics: [Topic], properties: [String: String], partitions: Int32?) throws -> (created: [String], existing: [String], problems: [Problem]) {
        let admin = try KafkaAdmin(properties: properties)
        let specs = topics.map { TopicSpec(name: $0.name, partitions: partitions ?? $0.partitions, config: $0.config) }
        let result = try admin.createTopics(specs, timeout: .seconds(30))
        var created: [String] = [], existing: [String] = [], problems: [Problem] = []
        for t in topics {
            switch result[t.name] {
            case .created: created.append(t.name)
            case .alreadyExists: existing.append(t.name)
            case .failed(let e): problems.append(Problem(topic: t.name, message: e.message))
            case nil: problems.append(Problem(topic: t.name, message: "no answer from the broker"))
            }
        }
        problems += try check(topics.filter { existing.contains($0.name) }, properties: properties, partitions: partitions)
        return (created, existing, problems)
    }

    /// Every topic must exist with the catalogue's partition count.
    public static func check(_ topics: [Topic], properties: [String: String], partitions: Int32?) throws -> [Problem] {
        let admin = try KafkaAdmin(properties: properties)
        let present = Dictionary(uniqueKeysWithValues: try admin.listTopics().map { ($0.name, $0) })
        var problems: [Problem] = []
        for t in topics {
            guard let d = present[t.name] else {
                problems.append(Problem(topic: t.name, message: "missing"))
                continue
            }
            let want = partitions ?? t.partitions
            if d.partitions.count != Int(want) {
                problems.append(Problem(topic: t.name, message: "has \(d.partitions.count) partitions, the catalogue says \(want)"))
            }
        }
        return problems
    }
}
