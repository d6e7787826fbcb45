import Codec
import Foundation

/// The project's quality bars, measured from ground truth and the derived topics. Pure
/// functions over decoded records, so that `cargowatch eval` and the tests share them.
public enum Evaluation {}

// MARK: - Ground truth

public struct Truth: Sendable {
    public struct Fraud: Sendable {
        public var declarationID: String
        public var pattern: String
        public var evadedEUR: Double
    }

    public struct Exfiltration: Sendable {
        public var scenarioID: String
        public var pattern: String
        public var principalID: String
        public var startMs: Int64
        public var endMs: Int64
    }

    public var frauds: [String: Fraud] = [:]
    public var exfiltrations: [Exfiltration] = []
    public var benignPrincipalHours: Int = 0
    /// Counts of the generated run (the `run` line), as numbers.
    public var run: [String: Double] = [:]
    public var lines = 0

    public init() {}

    /// JSON lines as the generator writes them (`kind` selects the record).
    public static func parse(lines: some Sequence<Substring>) throws -> Truth {
        var t = Truth()
        for line in lines where !line.isEmpty {
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let kind = o["kind"] as? String else {
                throw EvaluationError("truth line \(t.lines + 1) is not a JSON object with a kind")
            }
            t.lines += 1
            switch kind {
            case "fraud":
                guard let id = o["declaration_id"] as? String, let pattern = o["pattern"] as? String else { throw EvaluationError("fraud truth without declaration_id/pattern") }
                t.frauds[id] = Fraud(declarationID: id, pattern: pattern, evadedEUR: (o["evaded_eur"] as? NSNumber)?.doubleValue ?? 0)
            case "exfiltration":
                guard let p = o["principal_id"] as? String, let pattern = o["pattern"] as? String,
                      let s = (o["start"] as? String).flatMap(parseTime), let e = (o["end"] as? String).flatMap(parseTime) else {
                    throw EvaluationError("exfiltration truth without principal_id/pattern/start/end")
                }
                t.exfiltrations.append(Exfiltration(scenarioID: o["scenario_id"] as? String ?? "", pattern: pattern, principalID: p, startMs: s, endMs: e))
            case "run":
                t.run = o.compactMapValues { ($0 as? NSNumber)?.doubleValue }
                t.benignPrincipalHours = (o["benign_principal_hours"] as? NSNumber)?.intValue ?? 0
            default: break
            }
        }
        return t
    }
}

public struct EvaluationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

func parseTime(_ s: String) -> Int64? { Timestamp(rfc3339: s)?.millis }

// MARK: - Fraud ranking

public struct FraudReport: Sendable, Codable {
    public struct Pattern: Sendable, Codable {
        public var pattern: String
        public var declarations: Int
        public var recallTop1: Double
        public var recallTop10: Double
        public var revenueRecallTop1: Double
    }

    public var declarations: Int
    public var frauds: Int
    public var unscoredFrauds: Int
    public var precisionTop01: Double
    public var precisionTop1: Double
    public var recallTop10: Double
    public var revenueRecallTop1: Double
    public var patterns: [Pattern]
}

extension Evaluation {
    /// Ranks declarations by score (ties: the fraudulent one last, so ties never flatter the
    /// scorer) and measures the top 0.1 %, 1 % and 10 %.
    public static func fraud(scores: [String: Double], truth: Truth) -> FraudReport {
        let ranked = scores.sorted { a, b in
            if a.value != b.value { return a.value > b.value }
            let fa = truth.frauds[a.key] != nil, fb = truth.frauds[b.key] != nil
            if fa != fb { return !fa }
            return a.key < b.key
        }.map(\.key)
        let n = ranked.count
        func top(_ share: Double) -> ArraySlice<String> { ranked.prefix(max(1, Int((Double(n) * share).rounded(.up)))) }
        let scoredFrauds = truth.frauds.values.filter { scores[$0.declarationID] != nil }
        func precision(_ s: ArraySlice<String>) -> Double { s.isEmpty ? 0 : Double(s.filter { truth.frauds[$0] != nil }.count) / Double(s.count) }
        func recall(_ s: ArraySlice<String>, pattern: String? = nil) -> Double {
            let all = truth.frauds.values.filter { pattern == nil || $0.pattern == pattern }
            guard !all.isEmpty else { return 0 }
            return Double(s.filter { id in truth.frauds[id].map { pattern == nil || $0.pattern == pattern } ?? false }.count) / Double(all.count)
        }
        func revenue(_ s: ArraySlice<String>, pattern: String? = nil) -> Double {
            let total = truth.frauds.values.filter { pattern == nil || $0.pattern == pattern }.reduce(0) { $0 + $1.evadedEUR }
            guard total > 0 else { return 0 }
            return s.compactMap { truth.frauds[$0] }.filter { pattern == nil || $0.pattern == pattern }.reduce(0) { $0 + $1.evadedEUR } / total
        }
        let t1 = top(0.01), t10 = top(0.10)
        let patterns = Set(truth.frauds.values.map(\.pattern)).sorted().map { p in
            FraudReport.Pattern(pattern: p, declarations: truth.frauds.values.filter { $0.pattern == p }.count,
                                recallTop1: recall(t1, pattern: p), recallTop10: recall(t10, pattern: p), revenueRecallTop1: revenue(t1, pattern: p))
        }
        return FraudReport(declarations: n, frauds: truth.frauds.count, unscoredFrauds: truth.frauds.count - scoredFrauds.count,
                           precisionTop01: precision(top(0.001)), precisionTop1: precision(t1), recallTop10: recall(t10),
                           revenueRecallTop1: revenue(t1), patterns: patterns)
    }
}

// MARK: - Access alerts

public struct AlertRecord: Sendable {
    public var alertID: String
    public var principalID: String
    public var rule: String
    public var windowStartMs: Int64
    public var windowEndMs: Int64
    /// Event time of the last access in the window that raised it: when the rule could know.
    public var detectedAtMs: Int64

    public init(alertID: String, principalID: String, rule: String, windowStartMs: Int64, windowEndMs: Int64, detectedAtMs: Int64) {
        self.alertID = alertID
        self.principalID = principalID
        self.rule = rule
        self.windowStartMs = windowStartMs
        self.windowEndMs = windowEndMs
        self.detectedAtMs = detectedAtMs
    }

    public init?(json: [String: Any]) {
        guard let id = json["alert_id"] as? String, let p = json["principal_id"] as? String, let rule = json["rule"] as? String,
              let window = json["window"] as? [String: Any], let s = (window["start"] as? String).flatMap(parseTime),
              let e = (window["end"] as? String).flatMap(parseTime) else { return nil }
        let last = ((json["evidence"] as? [String: Any])?["last_event_at"] as? String).flatMap(parseTime) ?? e
        self.init(alertID: id, principalID: p, rule: rule, windowStartMs: s, windowEndMs: e, detectedAtMs: last)
    }
}

public struct AlertReport: Sendable, Codable {
    public struct Scenario: Sendable, Codable {
        public var scenarioID: String
        public var pattern: String
        public var principalID: String
        public var detected: Bool
        public var ruleMatched: Bool
        public var delaySeconds: Double?
        public var withinBar: Bool
    }

    public var scenarios: [Scenario]
    public var detectedWithinBar: Int
    public var alerts: Int
    public var duplicateAlertIDs: Int
    public var falseAlerts: Int
    public var benignPrincipalHours: Int
    public var falseAlertsPer10kPrincipalHours: Double
}

extension Evaluation {
    /// Detection bar: 15 minutes of event time (SLOW_EXFILTRATION: 24 hours) from the
    /// scenario's first malicious event to the alert's detection time.
    static func detectionBarMs(_ x: Truth.Exfiltration) -> Int64 { x.pattern == "SLOW_EXFILTRATION" ? 86_400_000 : 900_000 }

    /// The alerts a scenario explains: on its principal while it runs (and up to the bar after it).
    public static func related(_ alerts: [AlertRecord], to x: Truth.Exfiltration) -> [AlertRecord] {
        alerts.filter { $0.principalID == x.principalID && $0.windowEndMs > x.startMs && $0.windowStartMs <= x.endMs + detectionBarMs(x) }
    }

    public static func alerts(_ alerts: [AlertRecord], truth: Truth) -> AlertReport {
        var scenarios: [AlertReport.Scenario] = []
        var explained = Set<String>()
        for x in truth.exfiltrations {
            let bar = detectionBarMs(x)
            let related = related(alerts, to: x)
            for a in related { explained.insert(a.alertID) }
            let first = related.min { $0.detectedAtMs < $1.detectedAtMs }
            let delay = first.map { Double(max(0, $0.detectedAtMs - x.startMs)) / 1000 }
            scenarios.append(.init(scenarioID: x.scenarioID, pattern: x.pattern, principalID: x.principalID, detected: first != nil,
                                   ruleMatched: related.contains { $0.rule == x.pattern }, delaySeconds: delay,
                                   withinBar: delay.map { $0 * 1000 <= Double(bar) } ?? false))
        }
        let unique = Set(alerts.map(\.alertID))
        let falseAlerts = unique.subtracting(explained).count
        let hours = truth.benignPrincipalHours
        return AlertReport(scenarios: scenarios, detectedWithinBar: scenarios.filter(\.withinBar).count, alerts: unique.count,
                           duplicateAlertIDs: alerts.count - unique.count, falseAlerts: falseAlerts, benignPrincipalHours: hours,
                           falseAlertsPer10kPrincipalHours: hours > 0 ? Double(falseAlerts) * 10_000 / Double(hours) : 0)
    }
}

// MARK: - Trade flows

public struct FlowReport: Sendable, Codable {
    public var windowsCompared: Int
    public var groupsCompared: Int
    public var mismatches: [String]
    public var parcelsInClosedWindows: Int
    /// Parcels the worker routed to its late topic (after the grace period), left out of the comparison.
    public var lateParcels = 0
    public var exact: Bool { mismatches.isEmpty }
}

extension Evaluation {
    public struct FlowTotals: Hashable, Sendable {
        public var parcels: Int64 = 0
        public var grams: Int64 = 0
        public var valueMicros: Int64 = 0
        public init(parcels: Int64 = 0, grams: Int64 = 0, valueMicros: Int64 = 0) {
            self.parcels = parcels
            self.grams = grams
            self.valueMicros = valueMicros
        }
    }

    /// Compares every emitted aggregate (key: window start ms|origin|destination|chapter) with
    /// the totals computed from the input, and checks no group of an emitted window is missing.
    public static func flows(aggregates: [String: FlowTotals], fromInput: [String: FlowTotals]) -> FlowReport {
        let windows = Set(aggregates.keys.map { $0.prefix { $0 != "|" } })
        var mismatches: [String] = []
        var parcels = 0
        for (key, expected) in fromInput where windows.contains(key.prefix { $0 != "|" }) {
            parcels += Int(expected.parcels)
            if aggregates[key] != expected { mismatches.append("\(key): input \(expected), aggregate \(aggregates[key].map { "\($0)" } ?? "missing")") }
        }
        for key in aggregates.keys where fromInput[key] == nil { mismatches.append("\(key): aggregate without input") }
        return FlowReport(windowsCompared: windows.count, groupsCompared: aggregates.count, mismatches: mismatches.sorted(), parcelsInClosedWindows: parcels)
    }
}

// MARK: - Personal data in redacted topics

extension Evaluation {
    /// Case-, accent- and space-insensitive form used for leak search (bytes; ASCII without
    /// Foundation, which is most records — the Character-level version took minutes on 850k).
    public static func fold(_ s: String) -> [UInt8] {
        let ascii = s.utf8.allSatisfy { $0 < 0x80 }
        let source = ascii ? Array(s.utf8) : Array(s.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).utf8)
        var out: [UInt8] = []
        out.reserveCapacity(source.count)
        var space = false
        for b in source {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                space = !out.isEmpty
                continue
            }
            if space { out.append(0x20); space = false }
            out.append(b >= 0x41 && b <= 0x5A ? b + 32 : b)
        }
        return out
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= haystack.count else { return needle.isEmpty }
        let first = needle[0]
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    /// The digits of each stretch of text a phone number could be written in (digits, spaces and
    /// + ( ) - . /), one array per stretch. Joining the digits of a whole record would find a
    /// phone number's digits across unrelated fields (ids, timestamps, weights) by chance.
    static func phoneLikeRuns(_ text: String) -> [[UInt8]] {
        var runs: [[UInt8]] = [], current: [UInt8] = []
        for b in text.utf8 {
            if b >= 0x30 && b <= 0x39 { current.append(b) }
            else if b == 0x20 || b == 0x2B || b == 0x28 || b == 0x29 || b == 0x2D || b == 0x2E || b == 0x2F { continue }
            else if !current.isEmpty { runs.append(current); current.removeAll() }
        }
        if !current.isEmpty { runs.append(current) }
        return runs.filter { $0.count >= 7 }
    }

    /// Occurrences of a consignee's own name, street, e-mail or phone in the redacted records of
    /// its parcel or declaration (matched by id).
    public static func leaks(personalData: [String: [String]], redacted: [(id: String, text: String)]) -> [String] {
        var found: [String] = []
        var folded: [String: [[UInt8]]] = [:]
        for r in redacted {
            guard let values = personalData[r.id] else { continue }
            let t = fold(r.text)
            let numbers = phoneLikeRuns(r.text)
            let needles = folded[r.id] ?? values.map(fold)
            folded[r.id] = needles
            for (v, needle) in zip(values, needles) where v.count >= 4 {
                if contains(t, needle) { found.append("\(r.id): \(v.prefix(3))…"); continue }
                let vd = v.utf8.filter { $0 >= 0x30 && $0 <= 0x39 }
                if v.hasPrefix("+") && vd.count >= 9, numbers.contains(where: { contains($0, Array(vd.dropFirst(2))) }) { found.append("\(r.id): phone") }
            }
        }
        return found
    }
}
