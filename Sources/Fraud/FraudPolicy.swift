import Foundation
import Yams

/// The reason codes of customs.risk/1, one per signal.
public enum RiskCode: String, CaseIterable, Sendable {
    case undervaluation = "UNDERVALUATION"
    case splitConsignment = "SPLIT_CONSIGNMENT"
    case weightMismatch = "WEIGHT_MISMATCH"
    case originMismatch = "ORIGIN_MISMATCH"
    case descriptionMismatch = "DESCRIPTION_MISMATCH"
    case iossInvalid = "IOSS_INVALID"
    case iossShared = "IOSS_SHARED"
    case regimeMisuse = "REGIME_MISUSE"
    case sellerHistory = "SELLER_HISTORY"
}

/// policy/fraud.yaml: thresholds, weights and lexicons of the scorer, in a file rather than code
/// (see the file for what each one means).
public struct FraudPolicy: Sendable {
    public struct Prior: Sendable {
        public let log10Median: Double
        public let spread: Double
    }

    public let version: String
    public let highBand: Double
    public let mediumBand: Double
    public let stakeTilt: Double
    public let stakeSaturationEUR: Double
    /// How the tax at risk grows into the stake factor up to the saturation.
    public enum StakeCurve: String, Sendable { case log, linear }
    public let stakeCurve: StakeCurve
    public let priorStrength: Double
    public let sellerPriorFrauds: Double
    public let sellerPriorInspections: Double
    /// Signals whose tax at risk is recalibrated from the values officers correct on inspection.
    public let stakeLearnedSignals: Set<RiskCode>
    /// Pseudo-inspections behind the uncalibrated estimate (multiplier 1).
    public let stakePriorStrength: Double
    public let weights: [RiskCode: Double]
    public let regimeThresholdEUR: Double
    public let iossSharedMinSellers: Int
    public let weightMinDeviation: Double
    public let weightMinGrams: Int64
    public let underMinZ: Double
    public let underMaxRatio: Double
    public let underMinObservations: Double
    public let underPriorObservations: Double
    public let splitWindowMs: Int64
    public let splitThresholdEUR: Double
    public let transitLanes: [String: Set<String>]
    public let extraIOSSCodes: Set<String>
    public let vagueWords: Set<String>
    public let vaguePhrases: [String]
    public let fillerWords: Set<String>
    public let descriptionChapters: [String: Set<String>]
    public let valuePerKgPriors: [String: Prior]
    public let vatDefault: Double
    public let vatRates: [String: Double]
    public let dutyDefault: Double
    public let dutyByChapter: [String: Double]

    public func vat(_ country: String) -> Double { vatRates[country] ?? vatDefault }
    public func duty(_ chapter: String) -> Double { dutyByChapter[chapter] ?? dutyDefault }

    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func load(path: String) throws -> FraudPolicy {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Failure(message: "cannot read \(path)") }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String) throws -> FraudPolicy {
        func fail(_ m: String) -> Failure { Failure(message: "\(source): \(m)") }
        guard let root = try Yams.load(yaml: text) as? [String: Any] else { throw fail("expected a mapping") }
        func map(_ v: Any?, _ path: String) throws -> [String: Any] {
            guard let m = v as? [String: Any] else { throw fail("\(path): expected a mapping") }
            return m
        }
        func number(_ m: [String: Any], _ key: String, _ path: String) throws -> Double {
            if let d = m[key] as? Double { return d }
            if let i = m[key] as? Int { return Double(i) }
            throw fail("\(path).\(key): expected a number")
        }
        func strings(_ v: Any?, _ path: String) throws -> [String] {
            guard let list = v as? [Any] else { throw fail("\(path): expected a list") }
            return try list.map { item in
                if let s = item as? String { return s }
                if let i = item as? Int { return String(i) }
                throw fail("\(path): expected strings")
            }
        }
        guard let version = root["version"] as? String, !version.isEmpty else { throw fail("version: required") }
        let bands = try map(root["bands"], "bands"), stake = try map(root["stake"], "stake"), learning = try map(root["learning"], "learning")
        let signals = try map(root["signals"], "signals")
        var weights: [RiskCode: Double] = [:]
        var signal: [RiskCode: [String: Any]] = [:]
        for code in RiskCode.allCases {
            let m = try map(signals[code.rawValue], "signals.\(code.rawValue)")
            let w = try number(m, "weight", "signals.\(code.rawValue)")
            guard w > 0 && w < 1 else { throw fail("signals.\(code.rawValue).weight: must be in (0, 1)") }
            weights[code] = w
            signal[code] = m
        }
        for key in signals.keys where RiskCode(rawValue: key) == nil { throw fail("signals.\(key): unknown signal") }
        func sig(_ c: RiskCode, _ key: String) throws -> Double { try number(signal[c]!, key, "signals.\(c.rawValue)") }
        guard let windowText = signal[.splitConsignment]!["window"] as? String, let windowMs = parseHours(windowText) else {
            throw fail("signals.SPLIT_CONSIGNMENT.window: expected e.g. 48h")
        }
        var lanes: [String: Set<String>] = [:]
        for (from, to) in try map(root["transit_lanes"] ?? [String: Any](), "transit_lanes") { lanes[from] = Set(try strings(to, "transit_lanes.\(from)")) }
        var chapters: [String: Set<String>] = [:]
        for (word, list) in try map(root["description_chapters"], "description_chapters") {
            chapters[word.lowercased()] = Set(try strings(list, "description_chapters.\(word)"))
        }
        var priors: [String: Prior] = [:]
        for (heading, v) in try map(root["value_per_kg_priors"], "value_per_kg_priors") {
            let m = try map(v, "value_per_kg_priors.\(heading)")
            let median = try number(m, "median", "value_per_kg_priors.\(heading)"), spread = try number(m, "spread", "value_per_kg_priors.\(heading)")
            guard median > 0, spread > 0 else { throw fail("value_per_kg_priors.\(heading): median and spread must be positive") }
            priors[heading] = Prior(log10Median: log10(median), spread: spread)
        }
        let vague = try strings(root["vague_words"], "vague_words").map { $0.lowercased() }
        let tax = try map(root["tax"], "tax")
        func rates(_ key: String) throws -> [String: Double] {
            var out: [String: Double] = [:]
            for (k, _) in try map(tax[key], "tax.\(key)") { out[k] = try number(try map(tax[key], "tax.\(key)"), k, "tax.\(key)") }
            return out
        }
        return FraudPolicy(
            version: version, highBand: try number(bands, "high", "bands"), mediumBand: try number(bands, "medium", "bands"),
            stakeTilt: try number(stake, "tilt", "stake"), stakeSaturationEUR: try number(stake, "saturation_eur", "stake"),
            stakeCurve: try { () throws -> StakeCurve in
                guard let curve = StakeCurve(rawValue: stake["curve"] as? String ?? "log") else { throw fail("stake.curve: expected log or linear") }
                return curve
            }(),
            priorStrength: try number(learning, "prior_strength", "learning"),
            sellerPriorFrauds: try number(learning, "seller_prior_frauds", "learning"),
            sellerPriorInspections: try number(learning, "seller_prior_inspections", "learning"),
            stakeLearnedSignals: Set(try strings(learning["stake_from_corrected_value"] ?? [Any](), "learning.stake_from_corrected_value").map { code in
                guard let c = RiskCode(rawValue: code) else { throw fail("learning.stake_from_corrected_value: unknown signal \(code)") }
                return c
            }),
            stakePriorStrength: learning["stake_prior_strength"] == nil ? 5 : try number(learning, "stake_prior_strength", "learning"),
            weights: weights, regimeThresholdEUR: try sig(.regimeMisuse, "threshold_eur"),
            iossSharedMinSellers: Int(try sig(.iossShared, "min_sellers")),
            weightMinDeviation: try sig(.weightMismatch, "min_deviation"), weightMinGrams: Int64(try sig(.weightMismatch, "min_grams")),
            underMinZ: try sig(.undervaluation, "min_z"), underMaxRatio: try sig(.undervaluation, "max_ratio"),
            underMinObservations: try sig(.undervaluation, "min_observations"), underPriorObservations: try sig(.undervaluation, "prior_observations"),
            splitWindowMs: windowMs, splitThresholdEUR: try sig(.splitConsignment, "threshold_eur"),
            transitLanes: lanes, extraIOSSCodes: Set(try strings(root["extra_ioss_codes"] ?? [Any](), "extra_ioss_codes")),
            vagueWords: Set(vague.filter { !$0.contains(" ") }), vaguePhrases: vague.filter { $0.contains(" ") },
            fillerWords: Set(try strings(root["filler_words"] ?? [Any](), "filler_words").map { $0.lowercased() }),
            descriptionChapters: chapters, valuePerKgPriors: priors,
            vatDefault: try number(tax, "vat_default", "tax"), vatRates: try rates("vat_standard_rates"),
            dutyDefault: try number(tax, "duty_default", "tax"), dutyByChapter: try rates("duty_by_chapter"))
    }

    static func parseHours(_ text: String) -> Int64? {
        if text.hasSuffix("h"), let h = Int64(text.dropLast()) { return h * 3_600_000 }
        if text.hasSuffix("d"), let d = Int64(text.dropLast()) { return d * 86_400_000 }
        return nil
    }
}
