import ArgumentParser
import Catalogue
import Codec
import Foundation

/// What the report shows, gathered from the derived topics.
struct ReportData {
    struct Lane: Hashable { let origin: String, destination: String }
    var flows: [(windowStart: Int64, lane: Lane, parcels: Int, valueEUR: Double)] = []
    var scores: [String: (score: Double, band: String, seller: String, reasons: [String])] = [:]
    var alerts: [(at: Int64, principal: String, rule: String, severity: String)] = []

    static func gather(from: Int64?, to: Int64?, idle: Int, progress: Bool) throws -> ReportData {
        let data = try TopicReader.read([Catalogue.tradeFlows, Catalogue.customsRisk, Catalogue.accessAlerts], idle: .seconds(Int64(idle)),
                                        progress: progress ? "report: reading topics" : nil)
        func inRange(_ t: Int64) -> Bool { (from.map { t >= $0 } ?? true) && (to.map { t < $0 } ?? true) }
        var d = ReportData()
        for r in data[Catalogue.tradeFlows] ?? [] {
            guard let o = EvalCommand.object(r.value), let w = o["window"] as? [String: Any], let s = (w["start"] as? String).flatMap(millis), inRange(s) else { continue }
            d.flows.append((s, Lane(origin: o["origin_country"] as? String ?? "?", destination: o["destination_country"] as? String ?? "?"),
                            (o["parcels"] as? NSNumber)?.intValue ?? 0, (o["declared_value_eur"] as? NSNumber)?.doubleValue ?? 0))
        }
        for r in data[Catalogue.customsRisk] ?? [] {
            guard let o = EvalCommand.object(r.value), let id = o["declaration_id"] as? String else { continue }
            if let t = (o["lodged_at"] as? String).flatMap(millis), !inRange(t) { continue }
            let reasons = (o["reasons"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            d.scores[id] = ((o["score"] as? NSNumber)?.doubleValue ?? 0, o["band"] as? String ?? "low", o["seller_id"] as? String ?? "?", reasons)
        }
        for r in data[Catalogue.accessAlerts] ?? [] {
            guard let o = EvalCommand.object(r.value), let w = o["window"] as? [String: Any], let s = (w["start"] as? String).flatMap(millis), inRange(s) else { continue }
            d.alerts.append((s, o["principal_id"] as? String ?? "?", o["rule"] as? String ?? "?", o["severity"] as? String ?? "?"))
        }
        d.alerts.sort { $0.at < $1.at }
        return d
    }

    var topSellers: [(seller: String, high: Int, declarations: Int, meanScore: Double)] {
        var by: [String: (high: Int, n: Int, sum: Double)] = [:]
        for s in scores.values {
            by[s.seller, default: (0, 0, 0)].n += 1
            by[s.seller, default: (0, 0, 0)].sum += s.score
            if s.band == "high" { by[s.seller, default: (0, 0, 0)].high += 1 }
        }
        return by.map { ($0.key, $0.value.high, $0.value.n, $0.value.sum / Double(max(1, $0.value.n))) }
            .sorted { ($0.high, $0.meanScore) > ($1.high, $1.meanScore) }
    }

    var reasonCounts: [(code: String, count: Int)] {
        var c: [String: Int] = [:]
        for s in scores.values { for r in Set(s.reasons) { c[r, default: 0] += 1 } }
        return c.sorted { $0.value > $1.value }.map { ($0.key, $0.value) }
    }

    var busiestLanes: [(lane: Lane, parcels: Int, valueEUR: Double)] {
        var c: [Lane: (Int, Double)] = [:]
        for f in flows { c[f.lane, default: (0, 0)].0 += f.parcels; c[f.lane, default: (0, 0)].1 += f.valueEUR }
        return c.map { ($0.key, $0.value.0, $0.value.1) }.sorted { $0.parcels > $1.parcels }
    }
}

func millis(_ s: String) -> Int64? { Timestamp(rfc3339: s)?.millis }

func isoTime(_ ms: Int64) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Summarise the derived topics: top-risk sellers and reasons, busiest lanes, alerts; optionally as one HTML page.",
        discussion: "Example: cargowatch report\n         cargowatch report --from 2026-11-27T00:00:00Z --to 2026-11-28T00:00:00Z --html report.html")

    @Option(help: "Start of the time range (RFC 3339; event time).") var from: String?
    @Option(help: "End of the time range (RFC 3339, exclusive).") var to: String?
    @Option(help: "Also write a self-contained HTML page with charts to this file.") var html: String?
    @Option(help: "Rows per table.") var top: Int = 10
    @Option(help: "Seconds without new records after which a topic counts as read to its end.") var idle: Int = 3

    func run() throws {
        let f = try from.map { s -> Int64 in guard let t = millis(s) else { throw ValidationError("--from: not RFC 3339") }; return t }
        let t = try to.map { s -> Int64 in guard let t = millis(s) else { throw ValidationError("--to: not RFC 3339") }; return t }
        let data = try ReportData.gather(from: f, to: t, idle: idle, progress: true)
        print(Self.text(data, top: top))
        if let html {
            try Data(HTMLReport.render(data, title: "Cargowatch report" + (from.map { " from \($0)" } ?? "") + (to.map { " to \($0)" } ?? "")).utf8)
                .write(to: URL(fileURLWithPath: html))
            print("\nHTML report: \(html)")
        }
    }

    static func text(_ d: ReportData, top: Int) -> String {
        func row(_ cells: [String], _ widths: [Int]) -> String {
            zip(cells, widths).map { c, w in w < 0 ? String(repeating: " ", count: max(0, -w - c.count)) + c : c.padding(toLength: w, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        var out: [String] = []
        let bands = Dictionary(grouping: d.scores.values, by: \.band).mapValues(\.count)
        out.append("Customs risk: \(d.scores.count) declarations scored — high \(bands["high"] ?? 0), medium \(bands["medium"] ?? 0), low \(bands["low"] ?? 0)")
        out.append(row(["seller", "high", "scored", "mean score"], [14, -6, -8, -10]))
        for s in d.topSellers.prefix(top) { out.append(row([s.seller, "\(s.high)", "\(s.declarations)", String(format: "%.3f", s.meanScore)], [14, -6, -8, -10])) }
        out.append("")
        out.append(row(["reason", "declarations"], [22, -12]))
        for r in d.reasonCounts.prefix(top) { out.append(row([r.code, "\(r.count)"], [22, -12])) }
        out.append("")
        out.append("Busiest lanes (closed trade-flow windows: \(Set(d.flows.map(\.windowStart)).count))")
        out.append(row(["origin → destination", "parcels", "declared EUR"], [22, -8, -14]))
        for l in d.busiestLanes.prefix(top) { out.append(row(["\(l.lane.origin) → \(l.lane.destination)", "\(l.parcels)", String(format: "%.2f", l.valueEUR)], [22, -8, -14])) }
        out.append("")
        let perRule = Dictionary(grouping: d.alerts, by: \.rule).mapValues(\.count).sorted { $0.key < $1.key }
        out.append("Access alerts: \(d.alerts.count)" + (perRule.isEmpty ? "" : " — " + perRule.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        for a in d.alerts.suffix(top) { out.append(row([isoTime(a.at), a.rule, a.principal, a.severity], [20, 22, 20, 8])) }
        return out.joined(separator: "\n")
    }
}
