@testable import CargowatchCLI
import Catalogue
import Evaluation
import FleetConfig
import Foundation
import Testing
import TestSupport
import WorkerRuntime

/// The four workers on the real broker, fed by the generator with its labelled scenarios:
/// what an analyst reads at the end must be complete, exact and free of personal data.
@Suite("The fleet end to end on the local broker", .serialized)
struct FleetTests {
    func cargowatch(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(Repo.root)/.build/debug/cargowatch")
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["KAFKA_BOOTSTRAP_SERVERS"] = try Broker.require()
        p.environment = env
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("cargowatch-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let h = try FileHandle(forWritingTo: out)
        p.standardOutput = h
        p.standardError = h
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "")
    }

    @Test("Generated traffic with scenarios through enrichment, sensitivity, fraud and aggregation: every valid declaration scored, exact flows and risk aggregates, no personal data, bad records in the DLQs")
    func fleet() throws {
        setenv("KAFKA_BOOTSTRAP_SERVERS", try Broker.require(), 1)
        let created = try cargowatch(["topics", "create"])
        try #require(created.status == 0, "\(created.output)")
        let run = Broker.unique("fleet")
        let key = "fleet-test-key-\(UUID().uuidString)"
        // This run's own consumer groups, so a second run on the same broker starts clean: their
        // changelog topics are named after them (`topics create` makes the default groups' ones).
        var changelogs: [String] = []
        for worker in Fleet.workers {
            let env = ["CARGOWATCH_GROUP_ID": "\(run)-\(worker.name)", "CARGOWATCH_PSEUDONYM_KEY": key]
            let config = try ConfigLoader.load(worker.spec, configFile: nil, environment: env)
            let options = RuntimeOptions(worker: worker.name, config: config)
            for task in try worker.tasks(config, options) { changelogs += task.changelogTopics(baseGroup: options.groupID) }
        }
        try Broker.createTopics(changelogs, partitions: Catalogue.defaultPartitions, compacted: Set(changelogs))
        let workers = try [("enrichment-worker", [:]), ("sensitivity-worker", ["CARGOWATCH_PSEUDONYM_KEY": key]),
                           ("fraud-worker", ["CARGOWATCH_PSEUDONYM_KEY": key]), ("aggregation-worker", [:])].map { name, extra in
            try WorkerProcess(executable: name, environment: extra.merging([
                "CARGOWATCH_GROUP_ID": "\(run)-\(name)", "CARGOWATCH_REFERENCE_DIR": "\(Repo.root)/reference",
            ]) { a, _ in a })
        }
        defer { for w in workers { w.signal(SIGTERM); if w.waitExit(timeout: .seconds(40)) == nil { w.killHard() } } }
        for w in workers { #expect(w.waitReady(timeout: .seconds(120)), "\(w.log.suffix(2000))") }

        let truthFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(run)-truth.jsonl").path
        let generated = try cargowatch(["generate", "--count", "12000", "--seed", "5", "--parcels-per-hour", "900", "--start", "2026-11-27T00:00:00Z",
                                        "--truth", truthFile, "--no-truth-topic"])
        try #require(generated.status == 0, "\(generated.output)")
        let truth = try Truth.parse(lines: try String(contentsOfFile: truthFile, encoding: .utf8).split(separator: "\n"))
        let declarations = Int(truth.run["declarations"] ?? 0)
        try #require(declarations > 1000)

        // Wait until the last stage has seen (nearly) every score: aggregation-worker's input count stops moving.
        var last = -1.0, stable = 0
        for _ in 0..<240 where stable < 8 {
            var n = 0.0
            for w in workers {
                let lines = (w.get("/metrics")?.body ?? "").split(separator: "\n").filter { $0.hasPrefix("cargowatch_records_in_total") }
                for line in lines { n += Double(line.split(separator: " ").last ?? "") ?? 0 }
            }
            stable = n == last && n > 0 ? stable + 1 : 0
            last = n
            Thread.sleep(forTimeInterval: 1)
        }

        let topics = [Catalogue.customsRisk, Catalogue.tradeFlows, Catalogue.customsRiskAggregates, Catalogue.accessActivity, Catalogue.accessAlerts,
                      Catalogue.parcelsRedacted, Catalogue.customsRedacted, Catalogue.parcelsEvents, Catalogue.customsDeclarations,
                      Catalogue.lateTopic(Catalogue.Worker.aggregation), Catalogue.deadLetterTopic(Catalogue.Worker.enrichment),
                      Catalogue.aggregationPeerObservations]
        let data = try TopicReader.read(topics, idle: .seconds(4))
        let report = EvalCommand.evaluate(truth, data, flowWindowMs: 3_600_000)

        // Scores: every declaration at most twice (a split found later re-scores the earlier parts),
        // nearly all scored (the last ones may still wait in the enrichment join for their parcel).
        var perDeclaration: [String: Int] = [:]
        var bands: [String: String] = [:]
        for r in data[Catalogue.customsRisk] ?? [] {
            let o = EvalCommand.object(r.value) ?? [:]
            let id = o["declaration_id"] as? String ?? "?"
            perDeclaration[id, default: 0] += 1
            bands[id] = o["band"] as? String
        }
        #expect(perDeclaration.count >= declarations * 97 / 100 && perDeclaration.count <= declarations, "\(perDeclaration.count) scored of \(declarations)")
        #expect(perDeclaration.values.allSatisfy { $0 <= 2 })
        let regime = truth.frauds.values.filter { $0.pattern == "REGIME_MISUSE" && bands[$0.declarationID] != nil }
        #expect(!regime.isEmpty && regime.allSatisfy { bands[$0.declarationID] == "high" }, "H7 above the threshold is always high risk")

        // Aggregates: exact against the input, and risk aggregates count each scored declaration once.
        #expect(report.flows.exact && report.flows.groupsCompared > 20, "\(report.flows.mismatches.prefix(5))")
        let riskAggregated = (data[Catalogue.customsRiskAggregates] ?? []).compactMap { EvalCommand.object($0.value)?["declarations"] as? Int }.reduce(0, +)
        #expect(riskAggregated > 0 && riskAggregated <= perDeclaration.count)
        #expect(!(data[Catalogue.accessActivity] ?? []).isEmpty)

        // Peer baselines: every observation a partition of the access task broadcast reached every
        // partition (the topic is shared with earlier runs on this broker, which broadcast alike).
        let observations = data[Catalogue.aggregationPeerObservations] ?? []
        var copies: [String: Set<Int32>] = [:]
        for r in observations { copies[String(decoding: r.value, as: UTF8.self), default: []].insert(r.partition) }
        #expect(copies.count > 10 && copies.values.allSatisfy { $0.count == Int(Catalogue.defaultPartitions) },
                "\(copies.count) observations, copies per observation: \(Set(copies.values.map(\.count)))")
        #expect(Set(observations.compactMap { (EvalCommand.object($0.value)?["from_partition"] as? Int) }).count > 1)
        let aggregationMetrics = workers[3].get("/metrics")?.body ?? ""
        let peerReads = aggregationMetrics.split(separator: "\n").first { $0.hasPrefix("cargowatch_records_in_total{") && $0.contains("topic=\"\(Catalogue.aggregationPeerObservations)\"") }
        #expect((peerReads?.split(separator: " ").last).flatMap { Double($0) } ?? 0 > 0, "the access task reads the peer observations: \(peerReads ?? "no metric")")

        // No personal data in what analysts read; hostile records in the dead-letter topic with a reason.
        #expect(report.personalDataLeaks == 0 && report.redactedRecordsChecked > declarations * 2, "\(report.leakExamples)")
        #expect(!(data[Catalogue.deadLetterTopic(Catalogue.Worker.enrichment)] ?? []).isEmpty)
        for w in workers { #expect(w.process.isRunning, "\(w.log.suffix(2000))") }

        // The pseudonymisation key appears in no log line, metric or dead letter.
        let dead = (data[Catalogue.deadLetterTopic(Catalogue.Worker.enrichment)] ?? []).map { String(decoding: $0.value, as: UTF8.self) }
        for w in workers {
            #expect(!w.log.contains(key) && !(w.get("/metrics")?.body ?? "").contains(key), "\(w.process.executableURL?.lastPathComponent ?? "")")
        }
        #expect(!dead.contains { $0.contains(key) })
    }
}
