import Foundation
import Testing
import TestSupport
import WorkerRuntime

/// The broker frozen (SIGSTOP) and resumed, with a broker of the test's own so that the other
/// suites keep theirs. A frozen broker keeps its TCP connections open: librdkafka notices only
/// when requests time out, so the worker's own metadata probe is what makes `/readyz` honest.
@Suite("Broker frozen and resumed", .serialized)
struct BrokerStallTests {
    @Test("Broker frozen for 30 s: the worker stays up, says not-ready, does not spin, recovers by itself; every record exactly once")
    func frozenBroker() throws {
        let broker = try PrivateBroker()
        defer { broker.stop() }
        let probe = try ProbeTopics("stall", on: broker)
        let (input, output) = (probe.input, probe.output)
        let keys = 10
        func records(_ range: Range<Int>) -> [(key: String, value: String)] { range.map { ("key\($0 % keys)", "v\($0 / keys)") } }
        try Broker.produce(input, records(0..<3000), properties: broker.properties)

        let worker = try WorkerProcess(executable: "probe-worker", environment: probe.environment)
        defer { worker.killHard() }
        try #require(worker.waitReady(), "\(worker.log.suffix(3000))")
        #expect(try Broker.read(output, count: 3000, properties: broker.properties).count == 3000)
        Thread.sleep(forTimeInterval: 1)  // the last transaction committed: nothing in flight when the broker stops

        let pid = try #require(broker.pid)
        kill(pid, SIGSTOP)
        let frozen = ContinuousClock.now, cpuBefore = worker.cpuSeconds
        var notReadyAfter: Duration?
        while ContinuousClock.now - frozen < .seconds(30) {
            if notReadyAfter == nil, let r = worker.get("/readyz"), r.status != 200 { notReadyAfter = ContinuousClock.now - frozen }
            Thread.sleep(forTimeInterval: 0.25)
        }
        let cpuFrozen = worker.cpuSeconds - cpuBefore
        let rssFrozen = worker.residentMiB
        kill(pid, SIGCONT)
        #expect(worker.process.isRunning, "the worker died while the broker was frozen: \(worker.log.suffix(3000))")
        #expect(notReadyAfter.map { $0 < .seconds(10) } == true, "not-ready after \(String(describing: notReadyAfter)) (should be within a few seconds)")
        #expect(cpuFrozen < 10, "\(cpuFrozen) CPU seconds in 30 s frozen: spinning")
        #expect(worker.waitReady(timeout: .seconds(90)), "not ready again after the broker resumed: \(worker.log.suffix(3000))")

        try Broker.produce(input, records(3000..<6000), properties: broker.properties)
        let out = try Broker.read(output, count: 6000, idle: .seconds(5), timeout: .seconds(120), properties: broker.properties)
        let expected = Set((0..<6000).map { i in "key\(i % keys):\(i / keys + 1):v\(i / keys)" })
        let values = out.compactMap(\.value)
        #expect(values.count == 6000 && Set(values) == expected,
                "\(values.count) records, \(expected.subtracting(values).count) missing, \(values.count - Set(values).count) duplicates")
        print("broker stall: not-ready after \(notReadyAfter.map { "\($0)" } ?? "-"), \(cpuFrozen) CPU s and \(rssFrozen) MiB RSS while frozen 30 s, 6000 of 6000 records exactly once")
    }
}

extension BrokerStallTests {
    @Test("Broker replaced by a new, empty one at the same address: the worker says why it is not ready or exits non-zero, without spinning or growing")
    func emptyBrokerAtSameAddress() throws {
        let broker = try PrivateBroker()
        defer { broker.stop() }
        let probe = try ProbeTopics("swap", on: broker)
        try Broker.produce(probe.input, (0..<1000).map { ("k\($0 % 5)", "v\($0)") }, properties: broker.properties)
        let worker = try WorkerProcess(executable: "probe-worker", environment: probe.environment)
        defer { worker.killHard() }
        try #require(worker.waitReady(), "\(worker.log.suffix(3000))")
        #expect(try Broker.read(probe.output, count: 1000, properties: broker.properties).count == 1000)

        try broker.replaceWithEmpty()
        let swapped = ContinuousClock.now, cpuBefore = worker.cpuSeconds, rssBefore = worker.residentMiB
        var peakRSS = rssBefore, answer: (status: Int, body: String)?
        while ContinuousClock.now - swapped < .seconds(60) && worker.process.isRunning {
            answer = worker.get("/readyz") ?? answer
            peakRSS = max(peakRSS, worker.residentMiB)
            Thread.sleep(forTimeInterval: 0.5)
        }
        let elapsed = Double((ContinuousClock.now - swapped).components.seconds)
        let cpu = worker.cpuSeconds - cpuBefore
        if worker.process.isRunning {
            #expect(answer?.status != 200, "ready against a broker that lost its topics")
            #expect(answer?.body.contains("missing topics") == true, "\(answer?.body ?? "-")")
            #expect(cpu < elapsed * 0.25, "\(cpu) CPU seconds in \(elapsed) s: spinning")
            #expect(peakRSS < rssBefore + 64, "RSS grew from \(rssBefore) to \(peakRSS) MiB")
        } else if worker.process.terminationReason == .uncaughtSignal && worker.process.terminationStatus == SIGSEGV {
            // librdkafka 2.8.0 sometimes crashes in its own main thread here (SIGSEGV in
            // rd_kafka_metadata_update_op → rd_kafka_metadata_cache_find, the stack of the open
            // librdkafka issue #5280): recorded visibly; what counts then is the restart below.
            withKnownIssue("librdkafka 2.8.0 crashes on metadata of a replaced cluster (librdkafka #5280; README: local-broker gaps)") {
                Issue.record("the worker died of SIGSEGV inside librdkafka after the cluster was replaced")
            }
        } else {
            #expect(worker.process.terminationStatus != 0)
        }
        // What an orchestrator does next: start it again. Against the empty cluster it must wait,
        // not-ready, naming what is missing, without spinning.
        if !worker.process.isRunning {
            let again = try WorkerProcess(executable: "probe-worker", environment: probe.environment)
            defer { again.killHard() }
            Thread.sleep(forTimeInterval: 10)
            let cpuAgain = again.cpuSeconds
            Thread.sleep(forTimeInterval: 10)
            #expect(again.process.isRunning, "\(again.log.suffix(2000))")
            let r = again.get("/readyz")
            #expect(r?.status == 503 && r?.body.contains("missing topics") == true, "\(r?.body ?? "-")")
            #expect(again.cpuSeconds - cpuAgain < 2.5, "restarted worker used \(again.cpuSeconds - cpuAgain) CPU s in 10 s while waiting")
        }
        print("empty broker at the same address: \(worker.process.isRunning ? "still running, /readyz \(answer?.status ?? 0): \(answer?.body.prefix(300) ?? "")" : "exited \(worker.process.terminationStatus) (\(worker.process.terminationReason == .uncaughtSignal ? "signal" : "exit code"))"); \(cpu) CPU s in \(elapsed) s, RSS \(rssBefore) → \(peakRSS) MiB")
    }
}

/// A probe worker's topics on a private broker, and the environment that points it at them
/// (fast broker probe, so that a stall shows within seconds).
struct ProbeTopics {
    let input: String, output: String, dlq: String, group: String
    let broker: PrivateBroker

    init(_ name: String, on broker: PrivateBroker) throws {
        (input, output, dlq, group) = (Broker.unique("\(name)-in"), Broker.unique("\(name)-out"), Broker.unique("\(name)-dlq"), Broker.unique("\(name)-g"))
        self.broker = broker
        let changelogs = [TaskDefinition.changelogTopic(group: group)]
        try Broker.createTopics([input, output, dlq] + changelogs, partitions: 2, compacted: Set(changelogs), properties: broker.properties)
    }

    var environment: [String: String] {
        broker.settings.merging([
            "CARGOWATCH_PROBE_INPUT": input, "CARGOWATCH_PROBE_OUTPUT": output, "CARGOWATCH_TOPICS_DLQ": dlq, "CARGOWATCH_GROUP_ID": group,
            "CARGOWATCH_COMMIT_INTERVAL": "100ms", "CARGOWATCH_BROKER_PROBE_INTERVAL": "1s", "CARGOWATCH_BROKER_PROBE_TIMEOUT": "2s",
        ]) { $1 }
    }
}
