import ArgumentParser
import Catalogue
import Codec
import Evaluation
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure the quality bars: fraud ranking, alert detection, personal-data leaks, exact aggregates.",
        discussion: """
        Reads the generator's ground truth and the derived topics (read_committed) and prints a table, or JSON.
        Example: cargowatch eval --truth run/truth.jsonl
                 cargowatch eval --json eval.json          (ground truth from the truth.scenarios topic)
        """)

    @Option(help: "Ground truth JSON lines from `cargowatch generate --truth` (default: the truth.scenarios topic).") var truth: String?
    @Option(help: "Also write the report as JSON to this file ('-' for stdout, then no table).") var json: String?
    @Option(help: "Trade-flow window size the aggregation-worker uses (aggregation.flows.window).") var flowWindow: String = "1h"
    @Option(help: "Seconds without new records after which a topic counts as read to its end.") var idle: Int = 3

    struct Report: Codable {
        var fraud: FraudReport
        var alerts: AlertReport
        var flows: FlowReport
        var personalDataLeaks: Int
        var leakExamples: [String]
        var redactedRecordsChecked: Int
        var bars: [String: Bool]
    }

    func run() throws {
        guard let windowMs = parseDuration(flowWindow).map({ $0.components.seconds * 1000 }), windowMs > 0 else {
            throw ValidationError("--flow-window: expected e.g. 1h")
        }
        var topics = [Catalogue.customsRisk, Catalogue.accessAlerts, Catalogue.tradeFlows, Catalogue.parcelsRedacted, Catalogue.customsRedacted,
                      Catalogue.parcelsEvents, Catalogue.customsDeclarations, Catalogue.lateTopic(Catalogue.Worker.aggregation)]
        if truth == nil { topics.append(Catalogue.truthScenarios) }
        let data = try TopicReader.read(topics, idle: .seconds(Int64(idle)), progress: json == "-" ? nil : "eval: reading topics")
        let truthLines: [Substring]
        if let truth {
            truthLines = try String(contentsOfFile: truth, encoding: .utf8).split(separator: "\n")
        } else {
            truthLines = (data[Catalogue.truthScenarios] ?? []).map { Substring(String(decoding: $0.value, as: UTF8.self)) }
        }
        let groundTruth = try Truth.parse(lines: truthLines)
        let report = Self.evaluate(groundTruth, data, flowWindowMs: windowMs)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let bytes = try encoder.encode(report)
            if json == "-" { FileHandle.standardOutput.write(bytes); print(); return }
            try bytes.write(to: URL(fileURLWithPath: json))
        }
        print(Self.table(report))
    }

    static func object(_ bytes: [UInt8]) -> [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] }

    static func evaluate(_ truth: Truth, _ data: [String: [TopicReader.Record]], flowWindowMs: Int64) -> Report {
        // Latest score per declaration (a re-score replaces the first).
        var scores: [String: Double] = [:]
        for r in data[Catalogue.customsRisk] ?? [] {
            guard let o = object(r.value), let id = o["declaration_id"] as? String, let s = (o["score"] as? NSNumber)?.doubleValue else { continue }
            scores[id] = s
        }
        let fraud = Evaluation.fraud(scores: scores, truth: truth)
        let alerts = Evaluation.alerts((data[Catalogue.accessAlerts] ?? []).compactMap { object($0.value).flatMap(AlertRecord.init(json:)) }, truth: truth)

        // Trade flows: aggregates vs totals from the aggregation-worker's input (parcels.redacted).
        var aggregates: [String: Evaluation.FlowTotals] = [:]
        for r in data[Catalogue.tradeFlows] ?? [] {
            if let (key, totals) = flowAggregate(r.value) { aggregates[key] = totals }
        }
        var fromInput: [String: Evaluation.FlowTotals] = [:]
        // Parcels whose first ARRIVED came after its window's grace period went to the late topic
        // (as flow facts), by design not into a final aggregate: they are left out and counted.
        var late = Set<String>()
        for r in data[Catalogue.lateTopic(Catalogue.Worker.aggregation)] ?? [] {
            if let o = object(r.value), let id = o["parcel_id"] as? String, o["arrived_at"] != nil { late.insert(id) }
        }
        var counted = late
        for r in data[Catalogue.parcelsRedacted] ?? [] {
            guard let fact = arrival(r.value), !counted.contains(fact.parcel) else { continue }
            counted.insert(fact.parcel)
            let start = fact.at.floorDiv(flowWindowMs) * flowWindowMs
            let key = "\(start)|\(fact.group)"
            fromInput[key, default: .init()].parcels += 1
            fromInput[key, default: .init()].grams += fact.grams
            fromInput[key, default: .init()].valueMicros += fact.micros
        }
        var flows = Evaluation.flows(aggregates: aggregates, fromInput: fromInput)
        flows.lateParcels = late.count

        // Personal data: each consignee's own values, searched in the redacted copies of its records.
        var personal: [String: [String]] = [:]
        for (topic, idKey) in [(Catalogue.parcelsEvents, "parcel_id"), (Catalogue.customsDeclarations, "declaration_id")] {
            for r in data[topic] ?? [] {
                guard let o = object(r.value), let id = o[idKey] as? String, let c = o["consignee"] as? [String: Any] else { continue }
                personal[id, default: []] += ["name", "street", "email", "phone"].compactMap { c[$0] as? String }
            }
        }
        var redacted: [(id: String, text: String)] = []
        for topic in [Catalogue.parcelsRedacted, Catalogue.customsRedacted] {
            for r in data[topic] ?? [] { if let key = r.key { redacted.append((key, String(decoding: r.value, as: UTF8.self))) } }
        }
        let leaks = Evaluation.leaks(personalData: personal, redacted: redacted)
        let bars: [String: Bool] = [
            "fraud.precision_top_0.1%>=0.98": fraud.precisionTop01 >= 0.98,
            "fraud.precision_top_1%>=0.95": fraud.precisionTop1 >= 0.95,
            "fraud.revenue_recall_top_1%>=0.50": fraud.revenueRecallTop1 >= 0.50,
            "fraud.recall_top_10%>=0.85": fraud.recallTop10 >= 0.85,
            "alerts.every_scenario_within_bar": !alerts.scenarios.isEmpty && alerts.detectedWithinBar == alerts.scenarios.count,
            "alerts.false_per_10k_principal_hours<=1": alerts.falseAlertsPer10kPrincipalHours <= 1,
            "alerts.no_duplicate_ids": alerts.duplicateAlertIDs == 0,
            "pii.zero_leaks": leaks.isEmpty && !redacted.isEmpty,
            "flows.exact": flows.exact && flows.groupsCompared > 0,
        ]
        return Report(fraud: fraud, alerts: alerts, flows: flows, personalDataLeaks: leaks.count, leakExamples: Array(leaks.prefix(5)),
                      redactedRecordsChecked: redacted.count, bars: bars)
    }

    static func flowAggregate(_ bytes: [UInt8]) -> (String, Evaluation.FlowTotals)? {
        var start: Timestamp?, origin: String?, dest: String?, chapter: String?, totals = Evaluation.FlowTotals()
        let ok: Bool = bytes.withUnsafeBytes { raw in
            var r = JSONReader(raw)
            do {
                try r.readObject { r, key throws(DecodeError) in
                    if key == "window" {
                        try r.readObject { r, k throws(DecodeError) in if k == "start" { start = try r.readTimestamp() } else { try r.skipValue() } }
                    } else if key == "origin_country" { origin = try r.readOptionalString() }
                    else if key == "destination_country" { dest = try r.readString() }
                    else if key == "hs_chapter" { chapter = try r.readOptionalString() }
                    else if key == "parcels" { totals.parcels = try r.readInt() }
                    else if key == "gross_mass_kg" { totals.grams = try r.readMicros() / 1000 }
                    else if key == "declared_value_eur" { totals.valueMicros = try r.readMicros() }
                    else { try r.skipValue() }
                }
                return true
            } catch { return false }
        }
        guard ok, let start, let dest else { return nil }
        return ("\(start.millis)|\(origin ?? "")|\(dest)|\(chapter ?? "")", totals)
    }

    /// A parcel's first ARRIVED event as the aggregation-worker counts it.
    static func arrival(_ bytes: [UInt8]) -> (parcel: String, at: Int64, group: String, grams: Int64, micros: Int64)? {
        var id: String?, type: String?, at: Timestamp?, grams: Int64 = 0, micros: Int64 = 0, origin: String?, dest: String?, hs: String?
        let ok: Bool = bytes.withUnsafeBytes { raw in
            var r = JSONReader(raw)
            do {
                try r.readObject { r, key throws(DecodeError) in
                    if key == "parcel_id" { id = try r.readString() }
                    else if key == "event_type" { type = try r.readString() }
                    else if key == "occurred_at" { at = try r.readTimestamp() }
                    else if key == "weight_grams" { grams = try r.readInt() }
                    else if key == "items" {
                        try r.readArray { r, i throws(DecodeError) in
                            try r.readObject { r, k throws(DecodeError) in if i == 0 && k == "hs_code" { hs = try r.readOptionalString() } else { try r.skipValue() } }
                        }
                    } else if key == "enrichment" {
                        if r.readNull() { return }
                        try r.readObject { r, k throws(DecodeError) in
                            if k == "origin_country" { origin = try r.readOptionalString() }
                            else if k == "destination_country" { dest = try r.readOptionalString() }
                            else if k == "declared_value_eur" { micros = r.readNull() ? 0 : try r.readMicros() }
                            else { try r.skipValue() }
                        }
                    } else { try r.skipValue() }
                }
                return true
            } catch { return false }
        }
        guard ok, type == "ARRIVED", let id, let at, let dest else { return nil }
        let chapter = hs.flatMap { $0.utf8.count >= 2 ? String($0.prefix(2)) : nil } ?? ""
        return (id, at.millis, "\(origin ?? "")|\(dest)|\(chapter)", grams, micros)
    }

    static func pct(_ x: Double) -> String { String(format: "%.1f %%", x * 100) }

    static func table(_ r: Report) -> String {
        var lines: [String] = []
        func mark(_ bar: String) -> String { (r.bars[bar] ?? false) ? "ok  " : "FAIL" }
        lines.append("Fraud ranking (\(r.fraud.declarations) declarations scored, \(r.fraud.frauds) fraudulent in truth, \(r.fraud.unscoredFrauds) of them unscored)")
        lines.append("  \(mark("fraud.precision_top_0.1%>=0.98"))  precision in top 0.1 %      \(pct(r.fraud.precisionTop01))   (bar 98 %)")
        lines.append("  \(mark("fraud.precision_top_1%>=0.95"))  precision in top 1 %        \(pct(r.fraud.precisionTop1))   (bar 95 %)")
        lines.append("  \(mark("fraud.revenue_recall_top_1%>=0.50"))  revenue recall in top 1 %   \(pct(r.fraud.revenueRecallTop1))   (bar 50 %)")
        lines.append("  \(mark("fraud.recall_top_10%>=0.85"))  recall in top 10 %          \(pct(r.fraud.recallTop10))   (bar 85 %)")
        lines.append("  pattern                 frauds   recall@1%  recall@10%  revenue@1%")
        for p in r.fraud.patterns {
            lines.append("  " + p.pattern.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "%8d", p.declarations)
                         + "   " + pct(p.recallTop1).padding(toLength: 10, withPad: " ", startingAt: 0) + "  " + pct(p.recallTop10).padding(toLength: 10, withPad: " ", startingAt: 0)
                         + "  " + pct(p.revenueRecallTop1))
        }
        lines.append("")
        lines.append("Access alerts (\(r.alerts.alerts) alerts, \(r.alerts.scenarios.count) injected scenarios)")
        lines.append("  \(mark("alerts.every_scenario_within_bar"))  detected within the bar     \(r.alerts.detectedWithinBar) of \(r.alerts.scenarios.count)   (15 min; SLOW_EXFILTRATION 24 h)")
        lines.append("  \(mark("alerts.false_per_10k_principal_hours<=1"))  false alerts                \(r.alerts.falseAlerts) = \(String(format: "%.2f", r.alerts.falseAlertsPer10kPrincipalHours)) per 10k benign principal-hours (\(r.alerts.benignPrincipalHours) h; bar 1)")
        lines.append("  \(mark("alerts.no_duplicate_ids"))  duplicate alert ids         \(r.alerts.duplicateAlertIDs)")
        for s in r.alerts.scenarios {
            let delay = s.delaySeconds.map { String(format: "%.0f s", $0) } ?? "missed"
            lines.append("    " + s.pattern.padding(toLength: 22, withPad: " ", startingAt: 0) + s.principalID.padding(toLength: 20, withPad: " ", startingAt: 0)
                         + delay.padding(toLength: 10, withPad: " ", startingAt: 0) + (s.ruleMatched ? "same rule" : (s.detected ? "other rule" : "")))
        }
        lines.append("")
        lines.append("Personal data")
        lines.append("  \(mark("pii.zero_leaks"))  leaks in redacted records   \(r.personalDataLeaks) in \(r.redactedRecordsChecked) records" + (r.leakExamples.isEmpty ? "" : " e.g. \(r.leakExamples.joined(separator: ", "))"))
        lines.append("")
        lines.append("Trade flows")
        lines.append("  \(mark("flows.exact"))  aggregates equal input totals: \(r.flows.groupsCompared) groups in \(r.flows.windowsCompared) closed windows, \(r.flows.parcelsInClosedWindows) parcels, \(r.flows.mismatches.count) mismatches (\(r.flows.lateParcels) late parcels left out: in late.aggregation)")
        for m in r.flows.mismatches.prefix(5) { lines.append("    \(m)") }
        return lines.joined(separator: "\n")
    }
}
