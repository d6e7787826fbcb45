import Codec
@testable import Enrichment
import Evaluation
import Foundation
@testable import Fraud
import Generator
import Testing
import WorkerRuntime

/// The scorer's ranking on a generated, labelled run, in process (enrichment join → scorer;
/// inspections fed back as they come). The published bar is measured by `cargowatch eval` on the
/// real fleet (README); this is the same arithmetic at a size a test can afford.
@Suite("fraud-worker: ranking quality on generated scenarios")
struct QualityTests {
    @Test("Top of the ranking: precision, recall and revenue recall on a labelled run")
    func ranking() throws {
        var options = TrafficGenerator.Options.labelled
        options.seed = UInt64(ProcessInfo.processInfo.environment["CARGOWATCH_QUALITY_SEED"] ?? "") ?? 2026
        options.start = Timestamp(rfc3339: "2026-11-27T06:00:00Z")!
        options.accessLogs = false
        options.hostileRate = 0
        let declarations = Int(ProcessInfo.processInfo.environment["CARGOWATCH_QUALITY_DECLARATIONS"] ?? "") ?? 30_000
        var generator = TrafficGenerator(options: options)
        let enrich = HandlerHarness(handler: EnrichmentJoin(parcelsIn: "parcels.events", declarationsIn: "by-parcel", parcelsOut: "parcels.enriched",
                                                            declarationsOut: "customs.enriched", window: .seconds(3600)),
                                    stores: [StoreDefinition(EnrichmentJoin.store)], reference: Setup.reference)
        // CARGOWATCH_QUALITY_PARTITIONS: the scorer's input partitions (the fleet has 3), each with its own state.
        let partitions = Int32(ProcessInfo.processInfo.environment["CARGOWATCH_QUALITY_PARTITIONS"] ?? "") ?? 1
        let score = Setup.scorer(partitions: partitions)
        let router = HandlerHarness(handler: FraudRouter(topics: Setup.topics), worker: "fraud-worker")
        let ioss = HandlerHarness(handler: SharedIOSSDetector(output: "fraud.declarations-by-seller", minSellers: Setup.policy.iossSharedMinSellers),
                                  stores: [StoreDefinition(SharedIOSSDetector.store)])
        for h in [router, ioss] { h.context.partitionCounts["fraud.declarations-by-seller"] = partitions }
        /// A keyed record's partition (any stable hash will do here).
        func partition(of key: String?) -> Int32 {
            Int32(truncatingIfNeeded: (key ?? "").utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 } % UInt32(partitions))
        }
        /// The fraud-worker's three tasks, wired as their topics wire them (one partition).
        func fraud(_ topic: String, _ key: String?, _ value: String?) {
            for routed in router.outputs(of: router.send(topic: topic, key: key, value: value)) {
                var inputs = [routed]
                if routed.topic == "fraud.ioss-usage" { inputs = ioss.outputs(of: ioss.send(topic: routed.topic, key: routed.key, value: routed.value)) }
                for i in inputs {
                    for out in deliver(score, key: i.key, value: i.value, headers: i.headers, partition: i.partition ?? partition(of: i.key))
                    where out.topic == "customs.risk" {
                        let o = (try? JSONSerialization.jsonObject(with: Data(out.value!.utf8))) as? [String: Any]
                        if let id = o?["declaration_id"] as? String, let s = o?["score"] as? Double {
                            scores[id] = s
                            reasons[id] = (o?["reasons"] as? [[String: Any]] ?? []).map { "\($0["code"]!) \($0["detail"]!)" }.joined(separator: "; ")
                            records[id] = out.value!
                        }
                    }
                }
            }
        }
        var truthLines: [String] = []
        var scores: [String: Double] = [:], reasons: [String: String] = [:], records: [String: String] = [:]
        var seen = 0
        while seen < declarations {
            let r = generator.next()
            truthLines += r.truth.map { String(decoding: $0.json, as: UTF8.self) }
            switch r.kind {
            case .parcelEvent, .declaration:
                seen += r.kind == .declaration ? 1 : 0
                let topic = r.kind == .declaration ? "by-parcel" : "parcels.events"
                for e in enrich.outputs(of: enrich.send(topic: topic, key: r.key, value: String(decoding: r.value, as: UTF8.self)))
                where e.topic == "customs.enriched" {
                    fraud("customs.enriched", e.key, e.value)
                }
            case .inspection:
                fraud("customs.inspections", r.key, String(decoding: r.value, as: UTF8.self))
            default: break
            }
        }
        var truth = try Truth.parse(lines: truthLines.map { Substring($0) })
        // Declarations still waiting in the join when the run stops are not ranked (the fleet
        // scores them once their window closes).
        truth.frauds = truth.frauds.filter { scores[$0.key] != nil }
        var evaded: [String: Double] = [:]
        for f in truth.frauds.values { evaded[f.pattern, default: 0] += f.evadedEUR }
        let report = Evaluation.fraud(scores: scores, truth: truth)
        let patterns = report.patterns.map { "\($0.pattern) \($0.declarations): r@1 \(Int($0.recallTop1 * 100))% r@10 \(Int($0.recallTop10 * 100))% rev@1 \(Int($0.revenueRecallTop1 * 100))%" }
        print("quality: \(report.declarations) declarations, \(report.frauds) frauds; p@0.1% \(report.precisionTop01) p@1% \(report.precisionTop1) r@10% \(report.recallTop10) rev@1% \(report.revenueRecallTop1)\n  " + patterns.joined(separator: "\n  ") + "\n  evaded EUR by pattern: \(evaded.mapValues { Int($0) })")
        #expect(report.frauds > 0)
        // CARGOWATCH_QUALITY_DUMP=file: each declaration's last risk record and its truth, one JSON per line, to study the ranking offline.
        if let dump = ProcessInfo.processInfo.environment["CARGOWATCH_QUALITY_DUMP"] {
            let lines = records.map { id, record in
                let f = truth.frauds[id]
                return #"{"risk":\#(record),"pattern":\#(f.map { "\"\($0.pattern)\"" } ?? "null"),"evaded_eur":\#(f?.evadedEUR ?? 0)}"#
            }
            try lines.joined(separator: "\n").write(toFile: dump, atomically: true, encoding: .utf8)
        }
        if ProcessInfo.processInfo.environment["CARGOWATCH_QUALITY_DEBUG"] != nil {
            for (id, s) in scores.sorted(by: { $0.value > $1.value }).prefix(report.declarations / 100) where truth.frauds[id] == nil {
                print("benign in top 1%: \(id) \(s): \(reasons[id] ?? "")")
            }
            let ranked = scores.sorted(by: { $0.value > $1.value })
            let top = Set(ranked.prefix(report.declarations / 100).map(\.key))
            let rank = Dictionary(uniqueKeysWithValues: ranked.enumerated().map { ($1.key, $0) })
            let totalEvaded = truth.frauds.values.reduce(0) { $0 + $1.evadedEUR }
            let oracle = truth.frauds.values.map(\.evadedEUR).sorted(by: >).prefix(report.declarations / 100).reduce(0, +)
            print("oracle revenue recall top 1%: \(oracle / totalEvaded)")
            var missedBy: [String: Double] = [:], missedUnflagged = 0.0
            for f in truth.frauds.values where !top.contains(f.declarationID) {
                missedBy[f.pattern, default: 0] += f.evadedEUR
                if (reasons[f.declarationID] ?? "").isEmpty { missedUnflagged += f.evadedEUR }
            }
            print("missed evaded share by pattern: \(missedBy.mapValues { Int($0 / totalEvaded * 1000) }) permille; unflagged \(Int(missedUnflagged / totalEvaded * 1000)) permille")
            for f in truth.frauds.values.filter({ !top.contains($0.declarationID) }).sorted(by: { $0.evadedEUR > $1.evadedEUR }).prefix(60) {
                print("missed: \(f.pattern) evaded \(Int(f.evadedEUR)) rank \(rank[f.declarationID] ?? -1) score \(scores[f.declarationID] ?? -1): \(reasons[f.declarationID] ?? "")")
            }
            let cut = ranked[report.declarations / 100].value
            print("score at the 1% cut: \(cut)")
        }
        #expect(report.precisionTop01 >= 0.98)
        #expect(report.precisionTop1 >= 0.95)
        #expect(report.recallTop10 >= 0.85)
        // Revenue recall is heavy-tailed at this size (a few large undervaluations carry much of
        // it; 0.60 and 0.61 for seeds 2026 and 7): a regression floor here; the 0.50 bar is
        // measured by `cargowatch eval` on the fleet with 200k declarations (README).
        #expect(report.revenueRecallTop1 >= 0.45)
    }
}
