import Foundation
import Kafka
import Testing

/// The local broker the tests run against. `ops/test` starts it and exports
/// KAFKA_BOOTSTRAP_SERVERS; a developer may also have started it with `ops/broker start`.
/// No broker is a test failure, never a skip.
enum TestBroker {
    static let bootstrap: String = {
        if let env = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"], !env.isEmpty { return env }
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.cache/broker.env")
        if let text = try? String(contentsOf: file, encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("KAFKA_BOOTSTRAP_SERVERS=") }) {
            return String(line.dropFirst("KAFKA_BOOTSTRAP_SERVERS=".count))
        }
        return ""
    }()

    static func requireBroker() throws -> String {
        guard !bootstrap.isEmpty else {
            Issue.record("no broker: run the tests with ops/test (it starts one), or `ops/broker start` first")
            throw CancellationError()
        }
        return bootstrap
    }

    /// Client properties tuned for tests: fast group joins (the broker's defaults take ~23 s).
    static func properties(_ extra: [String: String] = [:]) throws -> [String: String] {
        var p = ["bootstrap.servers": try requireBroker(), "session.timeout.ms": "6000",
                 "heartbeat.interval.ms": "500", "auto.offset.reset": "earliest"]
        p.merge(extra) { $1 }
        return p.filter { !$0.value.isEmpty }
    }

    static func producerProperties(_ extra: [String: String] = [:]) throws -> [String: String] {
        var p = ["bootstrap.servers": try requireBroker(), "linger.ms": "5"]
        p.merge(extra) { $1 }
        return p
    }

    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
    }

    @discardableResult
    static func createTopic(_ prefix: String, partitions: Int32 = 4, config: [String: String] = [:]) throws -> String {
        let name = uniqueName(prefix)
        let admin = try KafkaAdmin(properties: ["bootstrap.servers": try requireBroker()])
        let result = try admin.createTopics([TopicSpec(name: name, partitions: partitions, config: config)])
        #expect(result[name] == .created)
        return name
    }
}

extension KafkaConsumer {
    /// Polls until `predicate` holds or `timeout` passes, handing each batch to `handle`.
    func pollUntil(timeout: Duration = .seconds(60), batch: MessageBatch = MessageBatch(capacity: 2000),
                   _ handle: (MessageBatch, PollResult) throws -> Void, until predicate: () -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while !predicate() && ContinuousClock.now < deadline {
            let r = try poll(into: batch, timeout: .milliseconds(100))
            try handle(batch, r)
        }
    }
}
