import ArgumentParser
import Catalogue
import FleetConfig
import Foundation
import Kafka
import WorkerRuntime

public struct Cargowatch: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cargowatch",
        abstract: "Run, feed and inspect the Cargowatch fleet.",
        discussion: "Example: cargowatch topics create   (uses KAFKA_BOOTSTRAP_SERVERS)",
        subcommands: [DemoCommand.self, Topics.self, GenerateCommand.self, TailCommand.self, ReportCommand.self, EvalCommand.self, ConfigDocsCommand.self])

    public init() {}
}

/// librdkafka properties for the CLI's own clients: KAFKA_* variables, as the workers read them.
func kafkaProperties() -> [String: String] {
    var p = RuntimeSettings.kafkaDefaults
    for (k, v) in ProcessInfo.processInfo.environment where k.hasPrefix("KAFKA_") && k.count > 6 {
        p[k.dropFirst(6).lowercased().replacingOccurrences(of: "_", with: ".")] = v
    }
    return p
}

struct Topics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, check or describe the catalogue's topics.",
        subcommands: [Create.self, Check.self, List.self, AsyncAPI.self, Docs.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create every topic of the catalogue (and the workers' changelogs) with its partitions and configs.",
            discussion: "Example: KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 cargowatch topics create")
        @Option(help: "Override the catalogue's partition count (all topics).") var partitions: Int32?

        func run() throws {
            let topics = try TopicProvisioner.allTopics(environment: ProcessInfo.processInfo.environment)
            let r = try TopicProvisioner.create(topics, properties: kafkaProperties(), partitions: partitions)
            print("created \(r.created.count), already present \(r.existing.count), of \(topics.count) topics")
            for p in r.problems { print("problem: \(p)") }
            if !r.problems.isEmpty { throw ExitCode.failure }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that every topic exists with the catalogue's partition count.",
            discussion: "Example: cargowatch topics check")
        @Option(help: "The partition count to expect instead of the catalogue's.") var partitions: Int32?

        func run() throws {
            let topics = try TopicProvisioner.allTopics(environment: ProcessInfo.processInfo.environment)
            let problems = try TopicProvisioner.check(topics, properties: kafkaProperties(), partitions: partitions)
            if problems.isEmpty { print("all \(topics.count) topics present") } else {
                for p in problems { print("problem: \(p)") }
                throw ExitCode.failure
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the topic catalogue.", discussion: "Example: cargowatch topics list")
        func run() throws {
            for t in try TopicProvisioner.allTopics(environment: ProcessInfo.processInfo.environment) {
                print("\(t.name)\t\(t.role.rawValue)\tkey=\(t.key)\tpartitions=\(t.partitions)\t\(t.config.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))")
            }
        }
    }

    struct AsyncAPI: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "asyncapi", abstract: "Render the catalogue as an AsyncAPI 3 document.",
            discussion: "Example: cargowatch topics asyncapi --output asyncapi.yaml")
        @Option(help: "Write to this file instead of stdout.") var output: String?
        func run() throws {
            let text = AsyncAPIDocument.render()
            if let output { try text.write(toFile: output, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
        }
    }
}

extension Topics {
    struct Docs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render the topic catalogue as a Markdown table (docs/topics.md).",
            discussion: "Example: cargowatch topics docs --output docs/topics.md")
        @Option(help: "Write to this file instead of stdout.") var output: String?
        func run() throws {
            let text = TopicsDocument.render()
            if let output { try text.write(toFile: output, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
        }
    }
}

struct ConfigDocsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-docs", abstract: "Render the configuration table of every worker (docs/configuration.md).",
        discussion: "Example: cargowatch config-docs --output docs/configuration.md")
    @Option(help: "Write to this file instead of stdout.") var output: String?
    func run() throws {
        let text = ConfigDocs.render(workers: Fleet.workers)
        if let output { try text.write(toFile: output, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
    }
}
