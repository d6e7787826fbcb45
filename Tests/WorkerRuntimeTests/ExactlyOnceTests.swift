import Foundation
import Kafka
import Testing
import TestSupport
import WorkerRuntime

@Suite("Exactly-once and state under crashes and rebalances", .serialized)
struct ExactlyOnceTests {
    let tests = ProbeWorkerTests()

    /// Input: `keys` keys, each with values v0, v1, … in order. Expected output: per key the
    /// records "key:1:v0", "key:2:v1", … exactly once (the count comes from the state store).
    func input(records: Int, keys: Int) -> [(key: String, value: String)] {
        (0..<records).map { i in ("key\(i % keys)", "v\(i / keys)") }
    }

    func expected(records: Int, keys: Int) -> Set<String> {
        Set((0..<records).map { i in "key\(i % keys):\(i / keys + 1):v\(i / keys)" })
    }

    @Test("SIGKILL mid-stream, restart: every expected record exactly once, state as if no crash")
    func sigkillMidStream() throws {
        let s = try tests.setup("eos")
        let records = 30_000, keys = 40
        // In three parts, one before each run: a run can finish all the input there is within
        // the half-second before its kill, and then the next run had nothing to do.
        let all = input(records: records, keys: keys)
        var produced = 0
        func produceNextPart() throws {
            try Broker.produce(s.input, Array(all[produced..<produced + records / 3]))
            produced += records / 3
        }
        try produceNextPart()
        var env = s.environment
        env["CARGOWATCH_INSTANCE_ID"] = "eos-instance"  // stable: a restart fences its predecessor
        env["CARGOWATCH_BATCH_MAX_RECORDS"] = "100"      // slow it down so that kills land mid-stream
        env["CARGOWATCH_BATCH_SEND_KBYTES"] = "1"        // and send in the middle of every batch
        var runs: [String] = []                          // run ids in start order (from the logs)
        var kills = 0, stalls = 0
        func runID(_ w: WorkerProcess) -> String? {
            w.log.split(separator: "\n").first { $0.contains("\"msg\":\"task started\"") }
                .flatMap { line in line.components(separatedBy: "\"run\":\"").dropFirst().first?.split(separator: "\"").first.map(String.init) }
        }
        /// Starts workers until one processes, restarting a stalled one, within a time budget.
        func startProcessing() throws -> WorkerProcess? {
            let deadline = ContinuousClock.now + .seconds(150)
            while ContinuousClock.now < deadline {
                let w = try WorkerProcess(executable: "probe-worker", environment: env)
                let ok = w.waitProcessing(timeout: .seconds(30))
                if let id = runID(w) { runs.append(id) }
                if ok { return w }
                stalls += 1
                w.killHard()
            }
            return nil
        }
        /// The local broker (Tansu 0.6) sometimes keeps a SIGKILLed run's transaction open:
        /// then the input partitions' last stable offset stays at the offsets that transaction
        /// had sent, read_committed fetches return nothing, and no restart helps for minutes.
        /// This recognises that signature (read_committed ends at or before the group's committed
        /// offsets while records exist beyond them); anything else is a failure.
        func stalledByBrokerDefect() throws -> Bool {
            let probe = try KafkaConsumer(properties: ["bootstrap.servers": try Broker.require(), "group.id": s.group])
            let parts = (0..<4).map { TopicPartition(s.input, Int32($0)) }
            let committed = try probe.committed(parts)
            let visible = Dictionary(grouping: try Broker.read(s.input, count: nil, idle: .seconds(3), timeout: .seconds(60)), by: \.partition)
                .mapValues { Int64($0.count) }
            // The input is produced without transactions, so read_committed must see all of it;
            // seeing no further than the group's committed offsets (or less: one run pinned the
            // last stable offset at 0 on every partition) is the broker's open-transaction defect.
            let stuck = parts.allSatisfy { tp in (visible[tp.partition] ?? 0) <= (committed[tp] ?? -1) }
            let remaining = Int64(produced) - visible.values.reduce(0, +)
            print("stall check: committed \(committed.sorted { $0.key < $1.key }.map { "\($0.key.partition):\($0.value)" }), read_committed sees \(visible.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }), \(remaining) records hidden")
            return stuck && remaining > 0
        }
        for round in 0..<2 {
            guard let w = try startProcessing() else {
                if try stalledByBrokerDefect() {
                    withKnownIssue("Tansu 0.6 left a killed run's transaction open; its input stays hidden from read_committed (README: local-broker gaps)") {
                        Issue.record("round \(round): stalled by the local broker after \(kills) kills, \(stalls) restarts")
                    }
                } else {
                    Issue.record("round \(round): no run made progress, and not because of the known broker stall")
                }
                return
            }
            Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.5))
            if w.process.isRunning {
                w.signal(SIGKILL)
                _ = w.waitExit()
                kills += 1
            }
            try produceNextPart()
        }
        guard let last = try startProcessing() else {
            if try stalledByBrokerDefect() {
                withKnownIssue("Tansu 0.6 left a killed run's transaction open; its input stays hidden from read_committed (README: local-broker gaps)") {
                    Issue.record("final run stalled by the local broker after \(kills) kills, \(stalls) restarts")
                }
            } else {
                Issue.record("final run made no progress, and not because of the known broker stall")
            }
            return
        }
        defer { last.killHard() }
        let out = try Broker.read(s.output, count: nil, idle: .seconds(5), timeout: .seconds(240))
        let verdict = ExactlyOnceVerdict(out, expected: expected(records: records, keys: keys), finalRun: runs.last ?? "")
        #expect(kills == 2)
        #expect(verdict.runsWithOutput >= 3, "killed runs should have done real work before dying (runs with output: \(verdict.runsWithOutput))")
        #expect(verdict.missing.isEmpty, "lost \(verdict.missing.count), e.g. \(verdict.missing.prefix(5))")
        #expect(verdict.unexplainedDuplicates.isEmpty, "duplicates not explained by an aborted transaction: \(verdict.unexplainedDuplicates.prefix(5))")
        #expect(verdict.unexpected.isEmpty, "records that should not exist (state wrong after restart?): \(verdict.unexpected.prefix(5))")
        print("exactly-once check: \(out.count) records read, \(verdict.abortedTransactionCopies) copies from transactions aborted by SIGKILL (visible only because the local broker does not filter aborted records), \(kills) kills mid-stream, \(stalls) stalled restarts")
    }

    @Test("Two instances split the partitions; one stops; state and work move; totals exact")
    func twoInstancesHandOver() throws {
        let s = try tests.setup("pair")
        let records = 20_000, keys = 40
        try Broker.produce(s.input, input(records: records, keys: keys))
        var env = s.environment
        env["CARGOWATCH_BATCH_MAX_RECORDS"] = "100"
        env["CARGOWATCH_BATCH_SEND_KBYTES"] = "1"  // outputs sent in pieces within a batch and a commit
        let a = try WorkerProcess(executable: "probe-worker", environment: env.merging(["CARGOWATCH_INSTANCE_ID": "a"]) { $1 })
        let b = try WorkerProcess(executable: "probe-worker", environment: env.merging(["CARGOWATCH_INSTANCE_ID": "b"]) { $1 })
        defer { a.killHard(); b.killHard() }
        #expect(a.waitReady() && b.waitReady())
        // Both hold partitions at once.
        func assigned(_ w: WorkerProcess) -> Double {
            let line = w.get("/metrics")?.body.split(separator: "\n").first { $0.hasPrefix("cargowatch_assigned_partitions") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        var split = false
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if assigned(a) > 0 && assigned(b) > 0 && assigned(a) + assigned(b) == 4 { split = true; break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(split, "a: \(assigned(a)), b: \(assigned(b))")
        b.signal(SIGTERM)
        #expect(b.waitExit(timeout: .seconds(30)) == 0, "\(b.log.suffix(2000))")
        let out = try Broker.read(s.output, count: records, idle: .seconds(5), timeout: .seconds(180))
        let verdict = ExactlyOnceVerdict(out, expected: expected(records: records, keys: keys), finalRun: "")
        #expect(verdict.missing.isEmpty, "lost \(verdict.missing.count)")
        #expect(verdict.unexplainedDuplicates.isEmpty && verdict.abortedTransactionCopies == 0, "a clean hand-over duplicates nothing")
        #expect(verdict.unexpected.isEmpty, "state did not move with its partitions: \(verdict.unexpected.prefix(5))")
        // The output can be complete before the group has rebalanced (b may have finished its
        // partitions before it stopped), so wait for a to take them over rather than sample once.
        let handOver = ContinuousClock.now + .seconds(30)
        while assigned(a) != 4 && ContinuousClock.now < handOver { Thread.sleep(forTimeInterval: 0.2) }
        #expect(assigned(a) == 4)
    }
}

/// Compares a read_committed output with the expected set. Copies of a record are allowed only
/// when all but one come from the last transaction of a run that was killed: the local broker
/// (Tansu 0.6) shows records of aborted transactions to read_committed readers (see README);
/// Apache Kafka does not, and there this verdict finds no copies at all.
struct ExactlyOnceVerdict {
    var missing: [String] = []
    var unexpected: [String] = []
    var unexplainedDuplicates: [String] = []
    var abortedTransactionCopies = 0
    var runsWithOutput = 0

    /// finalRun: the run id of the last started worker (its last transaction committed normally).
    init(_ records: [Broker.Record], expected: Set<String>, finalRun: String) {
        // header cw.txn = "<transactional.id>/<run>/<n>"
        func txn(_ r: Broker.Record) -> (run: String, n: Int)? {
            guard let h = r.headers["cw.txn"] else { return nil }
            let parts = h.split(separator: "/")
            guard parts.count >= 3, let n = Int(parts[parts.count - 1]) else { return nil }
            return (String(parts[parts.count - 2]), n)
        }
        var lastTxn: [String: Int] = [:]
        for r in records {
            guard let t = txn(r) else { continue }
            lastTxn[t.run] = max(lastTxn[t.run] ?? 0, t.n)
        }
        runsWithOutput = lastTxn.count
        var copies: [String: [Broker.Record]] = [:]
        for r in records { copies[r.value ?? "", default: []].append(r) }
        for (value, rs) in copies {
            if !expected.contains(value) { unexpected.append(value); continue }
            if rs.count > 1 {
                // All copies but one must be from a killed run's last transaction.
                let aborted = rs.filter { r in
                    guard let t = txn(r) else { return false }
                    return t.run != finalRun && lastTxn[t.run] == t.n
                }
                if rs.count - aborted.count == 1 || (aborted.count == rs.count && rs.count >= 1) {
                    abortedTransactionCopies += rs.count - 1
                } else {
                    unexplainedDuplicates.append(value)
                }
            }
        }
        missing = expected.filter { copies[$0] == nil }.sorted()
    }
}
