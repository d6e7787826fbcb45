import Codec
import Foundation

/// The signals that need nothing but the declaration itself and the policy, and the combination
/// of findings into a score. Plain functions: the handler supplies the state-dependent signals
/// (undervaluation statistics, split windows, shared IOSS numbers, seller history).
struct Scorer: Sendable {
    let policy: FraudPolicy
    /// ISO numeric codes an IOSS number may carry (EU member states of identification).
    let iossCodes: Set<String>

    init(policy: FraudPolicy, iossCodes: Set<String>) {
        self.policy = policy
        self.iossCodes = iossCodes.union(policy.extraIOSSCodes)
    }

    static func eur(_ v: Double) -> String { String(format: "%.2f EUR", v) }

    // Tax at risk (policy `tax`): what a finding would evade if it is right.
    func vat(_ d: EnrichedDeclaration) -> Double { policy.vat(d.declaration.destinationCountry) }
    /// Duty on the declared lines at their chapters' rates.
    func duty(_ d: EnrichedDeclaration) -> Double {
        let lines = d.lines.compactMap { l in l.lineValueEUR.map { $0 * policy.duty(l.chapter) } }
        return lines.isEmpty ? (d.totalValueEUR ?? 0) * policy.dutyDefault : lines.reduce(0, +)
    }
    func dutyRate(_ d: EnrichedDeclaration) -> Double {
        guard let total = d.totalValueEUR, total > 0 else { return policy.dutyDefault }
        return duty(d) / total
    }

    // MARK: declaration-only signals

    func regimeMisuse(_ d: EnrichedDeclaration) -> Finding? {
        guard d.declaration.regime == "H7", let total = d.totalValueEUR, total > policy.regimeThresholdEUR else { return nil }
        return Finding(code: .regimeMisuse, strength: 1, taxAtRiskEUR: duty(d),
                       detail: "H7 low-value regime claimed for an intrinsic value of \(Self.eur(total)), above the \(Self.eur(policy.regimeThresholdEUR)) relief threshold")
    }

    /// `IM` + member-state code + 7 digits (domain brief 1.4); the check digit is not public.
    func iossIsWellFormed(_ number: String) -> Bool {
        let u = Array(number.utf8)
        guard u.count == 12, u[0] == UInt8(ascii: "I"), u[1] == UInt8(ascii: "M") else { return false }
        guard u[2...].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        return iossCodes.contains(String(decoding: u[2..<5], as: UTF8.self))
    }

    func iossInvalid(_ d: EnrichedDeclaration) -> Finding? {
        guard let ioss = d.declaration.iossNumber, !ioss.isEmpty, !iossIsWellFormed(ioss) else { return nil }
        let why: String
        if ioss.hasPrefix("IN") { why = "an intermediary number (IN…), not valid on a declaration" }
        else if ioss.utf8.count != 12 { why = "\(ioss.utf8.count) characters instead of 12" }
        else if !ioss.hasPrefix("IM") { why = "it does not start with IM" }
        else { why = "no EU member state has the code \(ioss.dropFirst(2).prefix(3))" }
        return Finding(code: .iossInvalid, strength: 1, taxAtRiskEUR: (d.totalValueEUR ?? 0) * vat(d), detail: "IOSS number \(ioss) is malformed: \(why)")
    }

    func weightMismatch(_ d: EnrichedDeclaration) -> Finding? {
        guard let scanned = d.scannedWeightGrams, scanned > 0 else { return nil }
        let declared = d.declaration.grossMassGrams
        let deviation = abs(Double(declared) / Double(scanned) - 1)
        guard deviation >= policy.weightMinDeviation, abs(declared - scanned) >= policy.weightMinGrams else { return nil }
        let strength = min(1, 0.6 + (deviation - policy.weightMinDeviation))
        // Hidden goods: the undeclared share of the scanned mass is priced like the declared goods.
        let hidden = declared < scanned ? (d.totalValueEUR ?? 0) * min(10, Double(scanned - declared) / Double(max(declared, 1))) : 0
        let stake = hidden * (vat(d) + dutyRate(d))
        return Finding(code: .weightMismatch, strength: strength, taxAtRiskEUR: stake,
                       detail: "declared gross mass \(declared) g vs \(scanned) g scanned at the hub (\(Int((deviation * 100).rounded())) % off)")
    }

    func originMismatch(_ d: EnrichedDeclaration) -> Finding? {
        guard let flight = d.flightOriginCountry, !flight.isEmpty else { return nil }
        let declared = d.declaration.originCountry
        guard declared != flight else { return nil }
        if let lane = policy.transitLanes[flight], lane.contains("*") || lane.contains(declared) { return nil }
        return Finding(code: .originMismatch, strength: 1, taxAtRiskEUR: duty(d),
                       detail: "declared origin \(declared) but the parcel came on a flight from \(flight), not a known transit lane for \(declared)")
    }

    /// Lower-case ASCII words of a description ("T-shirt" → "tshirt").
    static func words(_ text: String) -> [String] {
        var out: [String] = [], current: [UInt8] = []
        for b in text.utf8 {
            if (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) { current.append(b) }
            else if b >= 0x41 && b <= 0x5A { current.append(b + 32) }
            else if b == UInt8(ascii: "-") || b == UInt8(ascii: "'") || b >= 0x80 { continue }
            else if !current.isEmpty { out.append(String(decoding: current, as: UTF8.self)); current.removeAll() }
        }
        if !current.isEmpty { out.append(String(decoding: current, as: UTF8.self)) }
        return out
    }

    func descriptionMismatch(_ d: EnrichedDeclaration) -> Finding? {
        var best: Finding?
        for line in d.lines {
            let text = line.description.lowercased()
            let words = Self.words(line.description)
            let meaningful = words.filter { !policy.fillerWords.contains($0) }
            // Vague: nothing but stop-list and filler words ("gift", "spare parts", "sample for my friend").
            let vague = meaningful.isEmpty || meaningful.allSatisfy { policy.vagueWords.contains($0) } || policy.vaguePhrases.contains { text == $0 }
            if vague {
                let f = Finding(code: .descriptionMismatch, strength: 0.9, taxAtRiskEUR: (line.lineValueEUR ?? 0) * policy.duty(line.chapter),
                                detail: "vague goods description \"\(line.description.prefix(40))\" under HS \(line.hsCode)")
                if best == nil || best!.strength < f.strength { best = f }
                continue
            }
            var chapters = Set<String>(), known: [String] = []
            for w in words {
                // Plural and singular forms share an entry.
                if let c = policy.descriptionChapters[w] ?? (w.hasSuffix("s") ? policy.descriptionChapters[String(w.dropLast())] : nil) {
                    chapters.formUnion(c)
                    known.append(w)
                }
            }
            if !known.isEmpty && !chapters.contains(line.chapter) {
                let f = Finding(code: .descriptionMismatch, strength: 0.8, taxAtRiskEUR: (line.lineValueEUR ?? 0) * policy.duty(line.chapter),
                                detail: "description names \(known.prefix(3).joined(separator: ", ")) (HS chapters \(chapters.sorted().joined(separator: "/"))) but is declared under HS \(line.hsCode), chapter \(line.chapter)")
                if best == nil { best = f }
            }
        }
        return best
    }

    // MARK: state-dependent signals (the state is passed in)

    /// Robust z of each line's log10(EUR/kg) against its heading's distribution.
    func undervaluation(_ line: EnrichedDeclaration.Line, _ stats: ValueHistogram, vat: Double) -> Finding? {
        guard let perKg = line.valuePerKgEUR, perKg > 0, stats.total >= policy.underMinObservations,
              let (median, mad) = stats.medianAndMAD() else { return nil }
        let x = log10(perKg)
        let scale = max(1.4826 * mad, ValueHistogram.width)
        let z = (median - x) / scale
        let ratio = pow(10, x - median)
        guard z >= policy.underMinZ, ratio <= policy.underMaxRatio else { return nil }
        let typical = pow(10, median)
        let lineValue = line.lineValueEUR ?? 0
        return Finding(code: .undervaluation, strength: min(1, 0.6 + 0.1 * (z - policy.underMinZ)), taxAtRiskEUR: lineValue * (1 / ratio - 1) * (vat + policy.duty(line.chapter)),
                       detail: String(format: "%.2f EUR/kg declared for HS %@, where the median is %.2f EUR/kg (%.0f %% of it, robust z %.1f)",
                                      perKg, line.hsCode, typical, ratio * 100, z))
    }

    func sellerHistory(_ seller: SellerState, taxAtRisk: Double) -> Finding? {
        guard seller.frauds > 0 else { return nil }
        let rate = (Double(seller.frauds) + policy.sellerPriorFrauds) / (Double(seller.inspections) + policy.sellerPriorInspections + policy.sellerPriorFrauds)
        return Finding(code: .sellerHistory, strength: min(1, rate), taxAtRiskEUR: taxAtRisk,
                       detail: "seller had \(seller.frauds) of \(seller.inspections) inspected declarations confirmed fraudulent")
    }

    // MARK: combination

    struct Scored {
        var score: Double
        var band: String
        /// Contribution of each finding, in the order given; they sum to the score.
        var contributions: [Double]
    }

    func combine(_ findings: [Finding], evidence probability: (Finding) -> Double) -> Scored {
        guard !findings.isEmpty else { return Scored(score: 0, band: "low", contributions: []) }
        let evidence = findings.map { min(0.999, probability($0)) }
        let p = 1 - evidence.reduce(1) { $0 * (1 - $1) }
        // What is at stake is what the declaration's own findings say it evades; a seller's history
        // makes fraud likelier but says nothing of how much, so its estimate (all the VAT) counts
        // only when nothing else fired. (QualityTests, 100k declarations: with it in the max, frauds
        // of bad sellers with EUR 18 at stake were ranked as if EUR 60 were.)
        let own = findings.filter { $0.code != .sellerHistory }
        let stake = (own.isEmpty ? findings : own).map(\.taxAtRiskEUR).max() ?? 0
        let stakeFactor = switch policy.stakeCurve {
        case .linear: min(1, max(0, stake) / policy.stakeSaturationEUR)
        case .log: min(1, log1p(max(0, stake)) / log1p(policy.stakeSaturationEUR))
        }
        let score = min(1, max(0, p * ((1 - policy.stakeTilt) + policy.stakeTilt * stakeFactor)))
        let sum = evidence.reduce(0, +)
        let contributions = evidence.map { sum > 0 ? score * $0 / sum : 0 }
        // The band says how likely fraud is (p); the score also weighs what is at stake, for ranking.
        let band = p >= policy.highBand ? "high" : p >= policy.mediumBand ? "medium" : "low"
        return Scored(score: score, band: band, contributions: contributions)
    }
}
