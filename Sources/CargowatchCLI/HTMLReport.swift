import Foundation

/// One self-contained HTML page (inline SVG, no script, no network): trade flows by lane over
/// time, the risk score distribution, the alerts timeline, and the report's tables.
enum HTMLReport {
    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    static let width = 860.0, height = 280.0, left = 60.0, right = 170.0, topPad = 20.0, bottom = 40.0

    static func axes(_ yMax: Double, xLabels: [(Double, String)], yLabel: String) -> String {
        var s = ""
        let plotH = height - topPad - bottom
        for i in 0...4 {
            let v = yMax * Double(i) / 4
            let y = topPad + plotH * (1 - Double(i) / 4)
            s += "<line x1='\(left)' y1='\(y)' x2='\(width - right)' y2='\(y)' stroke='#ddd'/>"
            s += "<text x='\(left - 6)' y='\(y + 4)' text-anchor='end' font-size='11'>\(v >= 10 ? String(Int(v.rounded())) : String(format: "%.2f", v))</text>"
        }
        for (x, label) in xLabels { s += "<text x='\(x)' y='\(height - bottom + 16)' text-anchor='middle' font-size='11'>\(esc(label))</text>" }
        s += "<text x='14' y='\(topPad + plotH / 2)' font-size='11' transform='rotate(-90 14 \(topPad + plotH / 2))' text-anchor='middle'>\(esc(yLabel))</text>"
        return s
    }

    static func flowsChart(_ d: ReportData) -> String {
        let lanes = d.busiestLanes.prefix(6).map(\.lane)
        let times = Set(d.flows.map(\.windowStart)).sorted()
        guard !lanes.isEmpty, let t0 = times.first, let t1 = times.last else { return "<p>No closed trade-flow windows yet.</p>" }
        var series: [ReportData.Lane: [Int64: Int]] = [:]
        for f in d.flows where lanes.contains(f.lane) { series[f.lane, default: [:]][f.windowStart, default: 0] += f.parcels }
        let yMax = Double(max(1, series.values.flatMap(\.values).max() ?? 1)) * 1.1
        let plotW = width - left - right, plotH = height - topPad - bottom
        func x(_ t: Int64) -> Double { left + (t1 == t0 ? plotW / 2 : plotW * Double(t - t0) / Double(t1 - t0)) }
        func y(_ v: Int) -> Double { topPad + plotH * (1 - Double(v) / yMax) }
        let ticks = stride(from: 0, to: times.count, by: max(1, times.count / 6)).map { (x(times[$0]), String(isoTime(times[$0]).dropFirst(5).prefix(11)).replacingOccurrences(of: "T", with: " ")) }
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' role='img' aria-label='Parcels per window by lane'>" + axes(yMax, xLabels: ticks, yLabel: "parcels per window")
        for (i, lane) in lanes.enumerated() {
            let points = times.map { "\(x($0)),\(y(series[lane]?[$0] ?? 0))" }.joined(separator: " ")
            svg += "<polyline fill='none' stroke='\(palette[i % palette.count])' stroke-width='2' points='\(points)'/>"
            svg += "<rect x='\(width - right + 12)' y='\(topPad + Double(i) * 18)' width='12' height='12' fill='\(palette[i % palette.count])'/>"
            svg += "<text x='\(width - right + 30)' y='\(topPad + Double(i) * 18 + 10)' font-size='12'>\(esc(lane.origin)) → \(esc(lane.destination))</text>"
        }
        return svg + "</svg>"
    }

    static func scoreHistogram(_ d: ReportData) -> String {
        guard !d.scores.isEmpty else { return "<p>No risk scores yet.</p>" }
        var bins = Array(repeating: 0, count: 20)
        for s in d.scores.values { bins[min(19, Int(s.score * 20))] += 1 }
        // Log scale: most declarations score 0, the interesting ones are few.
        let yMax = log10(Double(bins.max()! + 1)) * 1.1
        let plotW = width - left - right, plotH = height - topPad - bottom, bw = plotW / 20
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' role='img' aria-label='Risk score distribution'>"
            + axes(yMax, xLabels: (0...4).map { (left + plotW * Double($0) / 4, String(format: "%.2f", Double($0) / 4)) }, yLabel: "log10(declarations + 1)")
        for (i, n) in bins.enumerated() {
            let h = plotH * log10(Double(n + 1)) / yMax
            let color = Double(i) / 20 >= 0.7 ? "#d62728" : Double(i) / 20 >= 0.4 ? "#ff7f0e" : "#1f77b4"
            svg += "<rect x='\(left + Double(i) * bw + 1)' y='\(topPad + plotH - h)' width='\(bw - 2)' height='\(h)' fill='\(color)'><title>\(String(format: "%.2f–%.2f", Double(i) / 20, Double(i + 1) / 20)): \(n)</title></rect>"
        }
        for (i, label) in ["low", "medium", "high"].enumerated() {
            svg += "<rect x='\(width - right + 12)' y='\(topPad + Double(i) * 18)' width='12' height='12' fill='\(["#1f77b4", "#ff7f0e", "#d62728"][i])'/>"
            svg += "<text x='\(width - right + 30)' y='\(topPad + Double(i) * 18 + 10)' font-size='12'>\(label)</text>"
        }
        return svg + "</svg>"
    }

    static func alertsTimeline(_ d: ReportData) -> String {
        guard let t0 = d.alerts.first?.at, let t1 = d.alerts.last?.at else { return "<p>No access alerts.</p>" }
        let rules = Array(Set(d.alerts.map(\.rule))).sorted()
        let h = topPad + bottom + Double(rules.count) * 28
        let plotW = width - left - right - 110
        func x(_ t: Int64) -> Double { left + 110 + (t1 == t0 ? plotW / 2 : plotW * Double(t - t0) / Double(t1 - t0)) }
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(h))' role='img' aria-label='Alerts timeline'>"
        for (i, rule) in rules.enumerated() {
            let y = topPad + Double(i) * 28 + 14
            svg += "<line x1='\(left + 110)' y1='\(y)' x2='\(width - right)' y2='\(y)' stroke='#eee'/>"
            svg += "<text x='\(left + 100)' y='\(y + 4)' text-anchor='end' font-size='11'>\(esc(rule))</text>"
        }
        for a in d.alerts {
            let y = topPad + Double(rules.firstIndex(of: a.rule)!) * 28 + 14
            let color = a.severity == "high" || a.severity == "critical" ? "#d62728" : "#ff7f0e"
            svg += "<circle cx='\(x(a.at))' cy='\(y)' r='5' fill='\(color)' fill-opacity='0.8'><title>\(esc(isoTime(a.at))) \(esc(a.principal))</title></circle>"
        }
        svg += "<text x='\(left + 110)' y='\(h - 12)' font-size='11'>\(esc(isoTime(t0)))</text><text x='\(width - right)' y='\(h - 12)' font-size='11' text-anchor='end'>\(esc(isoTime(t1)))</text>"
        return svg + "</svg>"
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        "<table><tr>" + header.map { "<th>\(esc($0))</th>" }.joined() + "</tr>"
            + rows.map { "<tr>" + $0.map { "<td>\(esc($0))</td>" }.joined() + "</tr>" }.joined() + "</table>"
    }

    static func render(_ d: ReportData, title: String) -> String {
        let bands = Dictionary(grouping: d.scores.values, by: \.band).mapValues(\.count)
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:900px;color:#222}
        h1{font-size:22px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc;padding-bottom:4px}
        table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
        .cards{display:flex;gap:12px} .card{background:#f5f5f7;border-radius:6px;padding:10px 16px} .card b{display:block;font-size:20px}
        .cols{display:flex;gap:32px}
        </style></head><body>
        <h1>\(esc(title))</h1>
        <div class="cards">
        <div class="card"><b>\(d.scores.count)</b>declarations scored</div>
        <div class="card"><b>\(bands["high"] ?? 0)</b>high risk</div>
        <div class="card"><b>\(d.flows.reduce(0) { $0 + $1.parcels })</b>parcels in closed windows</div>
        <div class="card"><b>\(d.alerts.count)</b>access alerts</div>
        </div>
        <h2>Trade flows by lane over time</h2>
        \(flowsChart(d))
        <h2>Risk score distribution</h2>
        \(scoreHistogram(d))
        <div class="cols"><div><h2>Top-risk sellers</h2>
        \(table(["seller", "high", "scored", "mean score"], d.topSellers.prefix(10).map { [$0.seller, "\($0.high)", "\($0.declarations)", String(format: "%.3f", $0.meanScore)] }))
        </div><div><h2>Reasons</h2>
        \(table(["reason", "declarations"], d.reasonCounts.prefix(10).map { [$0.code, "\($0.count)"] }))
        </div></div>
        <h2>Access alerts timeline</h2>
        \(alertsTimeline(d))
        \(table(["window start", "rule", "principal", "severity"], d.alerts.suffix(15).map { [isoTime($0.at), $0.rule, $0.principal, $0.severity] }))
        <h2>Busiest lanes</h2>
        \(table(["origin → destination", "parcels", "declared EUR"], d.busiestLanes.prefix(10).map { ["\($0.lane.origin) → \($0.lane.destination)", "\($0.parcels)", String(format: "%.2f", $0.valueEUR)] }))
        <p style="font-size:11px;color:#777">Generated by cargowatch report from agg.trade-flows, customs.risk and alerts.access (read_committed). No personal data: these topics carry none.</p>
        </body></html>
        """
    }
}
