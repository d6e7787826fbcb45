import Codec
import Foundation
import Kafka
import Testing
import TestSupport
import WorkerRuntime

/// The runtime, end to end: the probe worker run as a real process against the local broker.
@Suite("Worker runtime against the real broker", .serialized)
struct ProbeWorkerTests {
    struct Setup {
        let input: String
        let output: String
        let dlq: String
        let group: String
        var environment: [String: String] {
            ["CARGOWATCH_PROBE_INPUT": input, "CARGOWATCH_PROBE_OUTPUT": output, "CARGOWATCH_TOPICS_DLQ": dlq,
             "CARGOWATCH_GROUP_ID": group, "CARGOWATCH_COMMIT_INTERVAL": "100ms", "CARGOWATCH_SHUTDOWN_DEADLINE": "20s"]
        }
    }

    func setup(_ name: String, partitions: Int32 = 4) throws -> Setup {
        let s = Setup(input: Broker.unique("\(name)-in"), output: Broker.unique("\(name)-out"), dlq: Broker.unique("\(name)-dlq"),
                      group: Broker.unique("\(name)-g"))
        try Broker.createTopics([s.input, s.output, s.dlq], partitions: partitions)
        let changelogs = [TaskDefinition.changelogTopic(group: s.group)]
        try Broker.createTopics(changelogs, partitions: partitions, compacted: Set(changelogs))
        return s
    }

    @Test("A poison record goes to the DLQ with its reason and coordinates; the next records are still processed; SIGTERM drains and exits 0")
    func poisonToDeadLetterAndCleanStop() throws {
        let s = try setup("poison", partitions: 1)
        let values = (0..<10).map { $0 == 5 ? "poison" : "v\($0)" }
        try Broker.produce(s.input, values.map { ("k", $0) })
        let worker = try WorkerProcess(executable: "probe-worker", environment: s.environment)
        defer { worker.killHard() }
        #expect(worker.waitReady(), "worker never became ready: \(worker.log)")

        let out = try Broker.read(s.output, count: 9)
        // The poison record's state change was rolled back: counts stay consecutive.
        #expect(out.map { $0.value ?? "" } == ["k:1:v0", "k:2:v1", "k:3:v2", "k:4:v3", "k:5:v4", "k:6:v6", "k:7:v7", "k:8:v8", "k:9:v9"])
        #expect(out.allSatisfy { $0.headers["cw.source.topic"] == s.input })
        #expect(out.map { $0.headers["cw.source.offset"] } == ["0", "1", "2", "3", "4", "6", "7", "8", "9"])

        let dead = try Broker.read(s.dlq, count: 1)
        try #require(dead.count == 1)
        #expect(dead[0].value == "poison")
        #expect(dead[0].key == "k")
        #expect(dead[0].headers["cw.dlq.reason"] == "poison record refused by the probe")
        #expect(dead[0].headers["cw.dlq.kind"] == "handler")
        #expect(dead[0].headers["cw.source.topic"] == s.input)
        #expect(dead[0].headers["cw.source.partition"] == "0")
        #expect(dead[0].headers["cw.source.offset"] == "5")
        #expect(dead[0].headers["cw.dlq.worker"] == "probe-worker")
        #expect(dead[0].headers["cw.dlq.time"].flatMap { Timestamp(rfc3339: $0) } != nil)

        let metrics = worker.get("/metrics")?.body ?? ""
        #expect(metrics.contains("cargowatch_dead_letters_total"), "\(metrics.prefix(2000))")
        #expect(metrics.contains("cargowatch_transactions_total"))

        worker.signal(SIGTERM)
        #expect(worker.waitExit(timeout: .seconds(30)) == 0, "\(worker.log.suffix(3000))")
        #expect(worker.log.contains("task stopped cleanly"))
    }

    @Test("/readyz names missing topics; a config error exits 78 naming the key")
    func readinessAndConfigErrors() throws {
        let missing = Broker.unique("missing-in")
        let worker = try WorkerProcess(executable: "probe-worker", environment: [
            "CARGOWATCH_PROBE_INPUT": missing, "CARGOWATCH_GROUP_ID": Broker.unique("g"), "CARGOWATCH_TOPICS_WAIT_INTERVAL": "1s"])
        defer { worker.killHard() }
        var answer: (status: Int, body: String)?
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            answer = worker.get("/readyz")
            if answer?.body.contains(missing) == true { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(answer?.status == 503)
        #expect(answer?.body.contains("missing topics: \(missing)") == true, "\(String(describing: answer))")
        #expect(worker.get("/healthz")?.status == 200)
        #expect(worker.get("/nope")?.status == 404)

        let bad = try WorkerProcess(executable: "probe-worker", environment: ["CARGOWATCH_BATCH_MAX_RECORDS": "zero"])
        #expect(bad.waitExit() == 78)
        #expect(bad.log.contains("batch.max_records (env CARGOWATCH_BATCH_MAX_RECORDS): expected an integer"), "\(bad.log)")
        let badKafka = try WorkerProcess(executable: "probe-worker", environment: ["KAFKA_NO_SUCH_PROPERTY": "1"])
        #expect(badKafka.waitExit() == 78)
        #expect(badKafka.log.contains("kafka.no.such.property (env KAFKA_NO_SUCH_PROPERTY)"), "\(badKafka.log)")
    }

    @Test("A 10 MB record goes to the DLQ unread (its first 64 KiB kept, its size in a header); the worker goes on; memory stays bounded")
    func hugeRecord() throws {
        let s = try setup("huge", partitions: 1)
        let huge = String(repeating: "A", count: 10 << 20)
        try Broker.produce(s.input, [("k", "v0"), ("k", huge), ("k", "v2")], properties: ["message.max.bytes": String(20 << 20)])
        let worker = try WorkerProcess(executable: "probe-worker", environment: s.environment)
        defer { worker.killHard() }
        #expect(worker.waitReady(), "\(worker.log.suffix(2000))")
        let out = try Broker.read(s.output, count: 2)
        #expect(out.map { $0.value ?? "" } == ["k:1:v0", "k:2:v2"], "\(worker.log.suffix(3000))")
        let dead = try Broker.read(s.dlq, count: 1)
        try #require(dead.count == 1)
        #expect(dead[0].headers["cw.dlq.kind"] == "too_large")
        #expect(dead[0].headers["cw.dlq.reason"]?.contains("10485760 bytes") == true, "\(dead[0].headers)")
        #expect(dead[0].headers["cw.dlq.original-bytes"] == "10485760")
        #expect(dead[0].value?.utf8.count == 64 << 10)
        #expect(worker.residentMiB < 300, "RSS \(worker.residentMiB) MiB after a 10 MB record")
    }
}
