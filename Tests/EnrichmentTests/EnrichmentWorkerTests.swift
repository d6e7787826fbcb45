import Codec
import Foundation
import Kafka
import Testing
import TestSupport
import WorkerRuntime

/// enrichment-worker as a process, two instances, against the local broker.
@Suite("enrichment-worker end to end", .serialized)
struct EnrichmentWorkerTests {
    /// n parcels, each with ARRIVED/SORTED/DEPARTED events; its declaration is lodged before the
    /// first event for even parcels and after it for odd ones.
    func traffic(parcels n: Int) -> (events: [(String, String)], declarations: [(String, String)]) {
        let parcel = Files.parcel, declaration = Files.declaration
        var events: [(String, String)] = [], declarations: [(String, String)] = []
        let base = Timestamp(rfc3339: "2026-11-27T08:00:00.000Z")!.millis
        for i in 0..<n {
            let pid = String(format: "LGG-P-%010d", i), did = String(format: "26BE%014dH7", i)
            let t0 = base + Int64(i) * 60_000
            for (k, type) in ["ARRIVED", "SORTED", "DEPARTED"].enumerated() {
                let at = Timestamp(millis: t0 + Int64(k) * 3_600_000).rfc3339
                events.append((pid, parcel.replacingOccurrences(of: "LGG-P-0000481516", with: pid)
                    .replacingOccurrences(of: "6f1c2a7e-3b9d-4c1e-9a51-0d2f4b7c8e01", with: "\(pid)-e\(k)")
                    .replacingOccurrences(of: "\"SORTED\"", with: "\"\(type)\"")
                    .replacingOccurrences(of: "2026-11-27T22:14:03.512Z", with: at)
                    .replacingOccurrences(of: "26BE000000123456H7", with: did)))
            }
            let lodged = Timestamp(millis: t0 + (i % 2 == 0 ? -1_800_000 : 1_800_000)).rfc3339
            declarations.append((did, declaration.replacingOccurrences(of: "LGG-P-0000481516", with: pid)
                .replacingOccurrences(of: "26BE000000123456H7", with: did)
                .replacingOccurrences(of: "2026-11-27T21:58:40.101Z", with: lodged)))
        }
        return (events, declarations)
    }

    @Test("Two instances: every event enriched once, every declaration joined with the hub's observation")
    func twoInstances() throws {
        let tag = UInt32.random(in: 0...UInt32.max)
        let topics = ["parcels_in": "pe-\(tag)", "declarations_in": "cd-\(tag)", "declarations_by_parcel": "dbp-\(tag)",
                      "parcels_out": "pen-\(tag)", "declarations_out": "cen-\(tag)"]
        let group = "enr-\(tag)", dlq = "dlq-\(tag)"
        try Broker.createTopics(Array(topics.values) + [dlq], partitions: 4)
        let changelogs = [TaskDefinition.changelogTopic(group: group), TaskDefinition.changelogTopic(group: "\(group)-repartition")]
        try Broker.createTopics(changelogs, partitions: 4, compacted: Set(changelogs))

        let n = 300
        let (events, declarations) = traffic(parcels: n)
        try Broker.produce(topics["declarations_in"]!, declarations.map { ($0.0, $0.1) })
        try Broker.produce(topics["parcels_in"]!, events.map { ($0.0, $0.1) })
        try Broker.produce(topics["parcels_in"]!, Array(events.prefix(30)).map { ($0.0, $0.1) })  // upstream duplicates

        var env = ["CARGOWATCH_GROUP_ID": group, "CARGOWATCH_TOPICS_DLQ": dlq, "CARGOWATCH_REFERENCE_DIR": "\(Files.root)/reference"]
        for (k, v) in topics { env["CARGOWATCH_ENRICHMENT_TOPICS_\(k.uppercased())"] = v }
        let a = try WorkerProcess(executable: "enrichment-worker", environment: env.merging(["CARGOWATCH_INSTANCE_ID": "a"]) { $1 })
        let b = try WorkerProcess(executable: "enrichment-worker", environment: env.merging(["CARGOWATCH_INSTANCE_ID": "b"]) { $1 })
        defer { a.killHard(); b.killHard() }
        #expect(a.waitReady(timeout: .seconds(90)), "\(a.log.suffix(3000))")
        #expect(b.waitReady(timeout: .seconds(90)), "\(b.log.suffix(3000))")

        let parcels = try Broker.read(topics["parcels_out"]!, count: 3 * n, idle: .seconds(5), timeout: .seconds(120))
        let decls = try Broker.read(topics["declarations_out"]!, count: n, idle: .seconds(5), timeout: .seconds(120))
        #expect(parcels.count == 3 * n, "each event enriched exactly once (duplicates dropped): got \(parcels.count)")
        #expect(Set(parcels.compactMap { object($0.value)["event_id"] as? String }).count == 3 * n)
        #expect(decls.count == n, "got \(decls.count)")
        let joined = decls.filter { object($0.value)["hub_observation"] is [String: Any] }
        #expect(joined.count == n, "every declaration found its parcel: \(joined.count) of \(n)")
        // The runtime's coordinates name the record consumed when the output was made: the
        // re-keyed declaration when its parcel was already there, the parcel event when the
        // declaration had been waiting for it (arrival order varies from run to run).
        let triggers = Set([topics["declarations_by_parcel"], topics["parcels_in"]])
        #expect(decls.allSatisfy { triggers.contains($0.headers["cw.source.topic"]) },
                "\(Set(decls.map { $0.headers["cw.source.topic"] ?? "none" }))")
        #expect(decls.allSatisfy { (object($0.value)["source"] as? [String: Any])?["topic"] as? String == topics["declarations_in"] },
                "source names the upstream topic, not the internal one")
        let dead = try Broker.read(dlq, count: nil, idle: .seconds(2), timeout: .seconds(10))
        #expect(dead.isEmpty)
    }
}
