import Foundation
import Kafka
import Testing
import TestSupport
import WorkerRuntime

@Suite("Readiness and the at-least-once mode", .serialized)
struct ReadinessTests {
    let tests = ProbeWorkerTests()

    @Test("/readyz stays not-ready while state is restored; processing resumes from the restored state")
    func notReadyUntilRestored() throws {
        let s = try tests.setup("restore", partitions: 1)
        let keys = 60_000
        try Broker.produce(s.input, (0..<keys).map { ("k\($0)", "a") })
        let first = try WorkerProcess(executable: "probe-worker", environment: s.environment)
        #expect(first.waitReady())
        _ = try Broker.read(s.output, count: keys, idle: .seconds(5), timeout: .seconds(120))
        first.signal(SIGTERM)
        #expect(first.waitExit() == 0)

        let second = try WorkerProcess(executable: "probe-worker", environment: s.environment)
        defer { second.killHard() }
        var answers: [String] = []
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            guard let a = second.get("/readyz") else { Thread.sleep(forTimeInterval: 0.01); continue }
            if answers.last != a.body { answers.append(a.body) }
            if a.status == 200 { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(answers.last == "ready\n", "\(answers)")
        #expect(answers.contains { $0.contains("restoring state") }, "never saw the restore phase: \(answers)")
        #expect(!answers.dropLast().contains("ready\n"))
        #expect(second.log.contains("\"records\":\"\(keys)\""), "all \(keys) keys restored: \(second.log.suffix(1500))")
        // The restored count continues.
        try Broker.produce(s.input, [("k7", "b")])
        let out = try Broker.read(s.output, count: keys + 1, idle: .seconds(5), timeout: .seconds(120))
        #expect(out.last?.value == "k7:2:b")
    }

    @Test("A new group.id: the worker creates its changelogs (partitioned as its input) and its state survives a restart")
    func createsItsChangelogs() throws {
        let s = ProbeWorkerTests.Setup(input: Broker.unique("own-cl-in"), output: Broker.unique("own-cl-out"), dlq: Broker.unique("own-cl-dlq"),
                                       group: Broker.unique("own-cl-g"))
        try Broker.createTopics([s.input, s.output, s.dlq], partitions: 3)  // no changelogs
        try Broker.produce(s.input, (0..<300).map { ("k\($0 % 30)", "a") })
        let first = try WorkerProcess(executable: "probe-worker", environment: s.environment)
        #expect(first.waitReady(), "\(first.log.suffix(1500))")
        _ = try Broker.read(s.output, count: 300, idle: .seconds(3), timeout: .seconds(120))
        first.signal(SIGTERM)
        #expect(first.waitExit() == 0)
        #expect(first.log.contains("created changelog topic"))
        let admin = try KafkaAdmin(properties: ["bootstrap.servers": try Broker.require()])
        let topics = Dictionary(uniqueKeysWithValues: try admin.listTopics().map { ($0.name, $0.partitions.count) })
        #expect(topics[TaskDefinition.changelogTopic(group: s.group)] == 3)
        // The next instance restores the counts from the changelog it created.
        let second = try WorkerProcess(executable: "probe-worker", environment: s.environment)
        defer { second.killHard() }
        #expect(second.waitReady())
        try Broker.produce(s.input, [("k7", "b")])
        let out = try Broker.read(s.output, count: 301, idle: .seconds(3), timeout: .seconds(120))
        #expect(out.count == 301 && out.contains { $0.value == "k7:11:b" }, "\(out.suffix(3))")
    }

    @Test("State in the per-store changelogs of earlier versions is restored, under what the task's changelog holds")
    func restoresLegacyChangelogs() throws {
        let s = ProbeWorkerTests.Setup(input: Broker.unique("legacy-cl-in"), output: Broker.unique("legacy-cl-out"), dlq: Broker.unique("legacy-cl-dlq"),
                                       group: Broker.unique("legacy-cl-g"))
        let legacy = TaskDefinition.legacyChangelogTopic(group: s.group, store: "counts"), current = TaskDefinition.changelogTopic(group: s.group)
        try Broker.createTopics([s.input, s.output, s.dlq], partitions: 1)
        try Broker.createTopics([legacy, current], partitions: 1, compacted: [legacy, current])
        // As an earlier version left them: k7 and k8 counted in the store's own changelog; k8
        // counted again since the upgrade, in the task's changelog (store name, separator, key).
        try Broker.produce(legacy, [("k7", "10"), ("k8", "5")])
        try Broker.produce(current, [("counts" + TaskDefinition.changelogSeparator + "k8", "20")])
        let worker = try WorkerProcess(executable: "probe-worker", environment: s.environment)
        defer { worker.killHard() }
        #expect(worker.waitReady(), "\(worker.log.suffix(1500))")
        try Broker.produce(s.input, [("k7", "a"), ("k8", "b"), ("k9", "c")])
        let out = try Broker.read(s.output, count: 3, idle: .seconds(3), timeout: .seconds(120)).map(\.value)
        #expect(out.compactMap { $0 }.sorted() == ["k7:11:a", "k8:21:b", "k9:1:c"], "\(out)")
    }

    @Test("at_least_once: idempotent producer, offsets committed after delivery; nothing lost")
    func atLeastOnce() throws {
        let s = try tests.setup("alos")
        try Broker.produce(s.input, (0..<5000).map { ("key\($0 % 50)", "v\($0 / 50)") })
        var env = s.environment
        env["CARGOWATCH_PROCESSING_GUARANTEE"] = "at_least_once"
        let w = try WorkerProcess(executable: "probe-worker", environment: env)
        defer { w.killHard() }
        #expect(w.waitReady())
        let out = try Broker.read(s.output, count: 5000, idle: .seconds(5), timeout: .seconds(120))
        #expect(Set(out.compactMap(\.value)) == Set((0..<5000).map { "key\($0 % 50):\($0 / 50 + 1):v\($0 / 50)" }))
        #expect(out.allSatisfy { $0.headers["cw.txn"] == nil }, "no transactions in this mode")
        w.signal(SIGTERM)
        #expect(w.waitExit() == 0)
        // The stop waited for the last acknowledgements and committed to the end of the input.
        let probe = try KafkaConsumer(properties: ["bootstrap.servers": try Broker.require(), "group.id": s.group])
        let parts = (0..<4).map { TopicPartition(s.input, Int32($0)) }
        let perPartition = Dictionary(grouping: try Broker.read(s.input, count: 5000), by: \.partition).mapValues { Int64($0.count) }
        #expect(try probe.committed(parts) == Dictionary(uniqueKeysWithValues: parts.map { ($0, perPartition[$0.partition] ?? 0) }))
    }

    @Test("at_least_once, SIGKILL mid-stream, restart: every record's output at least once, none lost")
    func atLeastOnceSurvivesKill() throws {
        let s = try tests.setup("alos-kill")
        let records = 30_000
        let input = (0..<records).map { (key: "key\($0 % 50)", value: "v\($0 / 50)") }
        var env = s.environment
        env["CARGOWATCH_PROCESSING_GUARANTEE"] = "at_least_once"
        env["CARGOWATCH_BATCH_MAX_RECORDS"] = "200"  // many commit points before the kill
        // Output lingers a second in the producer: commit points pass meanwhile, so committing
        // offsets before their output is acknowledged would lose what the kill catches in flight.
        env["KAFKA_LINGER_MS"] = "1000"
        let first = try WorkerProcess(executable: "probe-worker", environment: env)
        #expect(first.waitReady())
        // The kill lands while input still arrives and output is in flight.
        let chunks = stride(from: 0, to: records, by: 3000).map { Array(input[$0..<min($0 + 3000, records)]) }
        for chunk in chunks.prefix(5) {
            try Broker.produce(s.input, chunk)
            Thread.sleep(forTimeInterval: 0.3)
        }
        first.killHard()
        for chunk in chunks.dropFirst(5) { try Broker.produce(s.input, chunk) }
        let second = try WorkerProcess(executable: "probe-worker", environment: env)
        defer { second.killHard() }
        #expect(second.waitReady())
        // Offsets are committed only after delivery, so a replay may repeat records but never
        // skip one: every input value appears in the output (counts restart where the
        // changelog left them, so compare the values, not the counts).
        let expected = Set((0..<records).map { "key\($0 % 50)|v\($0 / 50)" })
        var seen = Set<String>()
        let deadline = ContinuousClock.now + .seconds(120)
        while seen.count < expected.count && ContinuousClock.now < deadline {
            let out = try Broker.read(s.output, count: nil, idle: .seconds(3), timeout: .seconds(60))
            seen = Set(out.compactMap { r in
                let parts = r.value?.split(separator: ":") ?? []  // key:count:value
                return parts.count == 3 ? "\(parts[0])|\(parts[2])" : nil
            })
        }
        let missing = expected.subtracting(seen)
        #expect(missing.isEmpty, "\(missing.count) of \(records) records never produced, e.g. \(missing.sorted().prefix(5)); log: \(second.log.suffix(2000))")
    }
}
