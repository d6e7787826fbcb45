import Catalogue
import Codec
import FleetConfig
import Foundation
import ReferenceData
import Sensitivity
import WorkerRuntime

/// Header that tells the scorer what a record on `fraud.declarations-by-seller` is.
enum RecordKind {
    static let header = "cw.kind"
    static let declaration = Array("declaration".utf8)
    static let inspection = Array("inspection".utf8)
    static let sharedIOSS = Array("ioss-shared".utf8)
    /// An inspected declaration's signals and outcome, from the partition that scored it to all.
    static let signalOutcome = Array("signal-outcome".utf8)
}

/// Task `route`: re-keys enriched declarations by seller (seller history and split consignments
/// are both per seller, so one partition holds all the state a declaration's score needs),
/// reports IOSS usage keyed by IOSS number, and broadcasts inspection outcomes to every scorer
/// partition (an inspection names only its declaration; the partition that scored it applies it).
final class FraudRouter: StreamHandler {
    let topics: FraudWorker.Topics

    init(topics: FraudWorker.Topics) { self.topics = topics }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        let value = try record.requireValue()
        if record.topic == topics.inspectionsIn {
            let inspection = try CustomsInspection(json: value)
            context.broadcast(topic: topics.bySeller, key: Array(inspection.declarationID.utf8), value: Array(value),
                              headers: [(RecordKind.header, RecordKind.inspection)])
            return
        }
        let declaration = try CustomsDeclaration(json: value)
        context.emitRaw(topic: topics.bySeller, key: Array(declaration.seller.id.utf8), value: Array(value),
                        headers: OriginHeaders.headers(of: record) + [(RecordKind.header, RecordKind.declaration)])
        if let ioss = declaration.iossNumber, !ioss.isEmpty {
            context.emitRaw(topic: topics.iossUsage, key: Array(ioss.utf8), value: Array(declaration.seller.id.utf8))
        }
    }
}

/// Task `ioss`: sellers per IOSS number, with how often each quotes it. When a number reaches
/// `min_sellers` sellers it is announced to every scorer partition as shared, naming its likely
/// holder (the seller that quotes it most: the registered holder uses it on all its sales, a
/// borrower now and then); the announcement is repeated when the holder changes.
final class SharedIOSSDetector: StreamHandler {
    static let store = "ioss-sellers"
    /// Sellers tracked per number (the rare tail beyond adds nothing to the verdict).
    static let maxTracked = 64
    let output: String
    let minSellers: Int

    init(output: String, minSellers: Int) {
        self.output = output
        self.minSellers = minSellers
    }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        guard let ioss = record.keyString, !ioss.isEmpty, ioss.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw DecodeError("IOSS usage record without a printable IOSS number as its key")
        }
        // The seller id is stored in a line-based list: only printable, space-free ids fit.
        let raw = try record.requireValue()
        guard (1...64).contains(raw.count), raw.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw DecodeError("IOSS usage value must be a seller id of 1–64 printable ASCII characters without spaces (got \(raw.count) bytes)")
        }
        let seller = String(decoding: raw, as: UTF8.self)
        let store = context.store(Self.store)
        // "announced-holder\nseller count\nseller count…"
        var lines = store.get(ioss).map { String(decoding: $0, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init) } ?? [""]
        let announced = lines.removeFirst()
        var counts: [(String, Int)] = lines.compactMap { l in
            let p = l.split(separator: " ")
            return p.count == 2 ? (String(p[0]), Int(p[1]) ?? 0) : nil
        }
        if let i = counts.firstIndex(where: { $0.0 == seller }) { counts[i].1 += 1 }
        else if counts.count < Self.maxTracked { counts.append((seller, 1)) }
        let holder = counts.max { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 > $1.0) }?.0 ?? seller
        var newAnnounced = announced
        if counts.count >= minSellers && holder != announced {
            newAnnounced = holder
            context.count("ioss_shared")
            var w = JSONWriter(capacity: 128)
            w.beginObject(); w.key("ioss_number"); w.string(ioss); w.key("sellers"); w.int(counts.count); w.key("holder"); w.string(holder); w.endObject()
            context.broadcast(topic: output, key: Array(ioss.utf8), value: w.bytes, headers: [(RecordKind.header, RecordKind.sharedIOSS)])
        }
        store.put(ioss, Array(([newAnnounced] + counts.map { "\($0.0) \($0.1)" }).joined(separator: "\n").utf8))
    }
}

/// Task `score`: scores every declaration of the sellers of its partitions and learns from
/// inspection outcomes. Stores: `declarations` (memo of each scored declaration, for re-scoring
/// and learning), `sellers` (inspection history), `recent` (declarations per seller and
/// consignee within the split window), `headings` (value-per-kg histograms), `learning`
/// (observed precision of each signal and strength band), `ioss` (shared numbers), `pending-inspections`
/// (outcomes not yet due: inspected later in event time than this partition has reached, or
/// whose declaration has not arrived; a backlog delivers inspections ahead of declarations).
final class RiskScorer: StreamHandler {
    static let stores = ["declarations", "sellers", "recent", "headings", "learning", "ioss", "pending-inspections"]
    /// How often (event time) pending outcomes are checked for being due.
    static let pendingSweepMs: Int64 = 300_000
    var scorer: Scorer
    var referenceVersion = ""
    let pseudonymizer: Pseudonymizer
    let output: String
    /// Where signal outcomes are broadcast: this task's own input, so every partition learns from
    /// every inspection, not only from those of its own sellers.
    let learningOut: String
    let memoRetentionMs: Int64
    var lastPrune: [Int32: Int64] = [:]
    var lastSweep: [Int32: Int64] = [:]

    init(scorer: Scorer, pseudonymizer: Pseudonymizer, output: String, learningOut: String, memoRetention: Duration) {
        self.scorer = scorer
        self.pseudonymizer = pseudonymizer
        self.output = output
        self.learningOut = learningOut
        memoRetentionMs = memoRetention.wholeMilliseconds
    }

    var policy: FraudPolicy { scorer.policy }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        let value = try record.requireValue()
        let kind = record.header(RecordKind.header) ?? RecordKind.declaration
        if kind == RecordKind.inspection {
            try receive(CustomsInspection(json: value), context)
        } else if kind == RecordKind.signalOutcome {
            receiveSignalOutcome(declarationID: record.keyString, value, context)
        } else if kind == RecordKind.sharedIOSS {
            var ioss: String?, sellers: Int64 = 0, first = ""
            try JSONReader.readRecord(value, schema: nil) { r, key throws(DecodeError) in
                if key == "ioss_number" { ioss = try r.readString() }
                else if key == "sellers" { sellers = try r.readInt() }
                else if key == "holder" { first = try r.readString() }
                else { try r.skipValue() }
            }
            context.store("ioss").put(try required(ioss, "ioss_number"), Array("\(sellers)|\(first)".utf8))
        } else {
            try score(EnrichedDeclaration(json: value, source: OriginHeaders.provenance(of: record)), context)
        }
    }

    // MARK: scoring

    /// Evidence of one finding: the probability that a declaration with it is fraudulent, learned
    /// per signal and strength band from inspections, starting from weight × strength.
    func evidence(_ context: HandlerContext, among findings: [Finding]) -> (Finding) -> Double {
        let learning = context.store("learning")
        let k = policy.priorStrength
        return { f in
            let prior = (self.policy.weights[f.code] ?? 0.5) * f.strength
            guard let bytes = learning.get(Self.learningKey(f, among: findings)), let seen = try? SignalRecord.decode(bytes) else { return prior }
            return (prior * k + seen.frauds) / (k + seen.inspected)
        }
    }

    /// Tax at risk of one finding as inspections have shown it to be: for the signals in
    /// `learning.stake_from_corrected_value`, the rule's estimate times what officers' corrected
    /// values showed its estimates to be worth (the revenue side of learning, as in DATE).
    func taxAtRisk(_ context: HandlerContext) -> (Finding) -> Double {
        let learning = context.store("learning")
        return { f in
            guard self.policy.stakeLearnedSignals.contains(f.code), let bytes = learning.get(Self.stakeKey(f.code)),
                  let seen = try? StakeRecord.decode(bytes) else { return f.taxAtRiskEUR }
            return f.taxAtRiskEUR * seen.multiplier(priorStrength: self.policy.stakePriorStrength)
        }
    }

    static func stakeKey(_ code: RiskCode) -> String { "stake:" + code.rawValue }

    /// Signal and strength band (tenths): a strong finding's record is not diluted by weak ones.
    /// SELLER_HISTORY is about the trader, not the declaration: a bad seller's declaration that
    /// shows nothing else is much less often fraud than one that does (the other findings explain
    /// its frauds away), so its record is kept apart when it is the only finding.
    static func learningKey(_ f: Finding, among findings: [Finding]) -> String {
        let key = f.code.rawValue + "/" + String(min(10, Int((f.strength * 10).rounded(.down))))
        return f.code == .sellerHistory && findings.count == 1 ? key + "/alone" : key
    }

    func score(_ d: EnrichedDeclaration, _ context: HandlerContext) throws {
        if context.reference.version != referenceVersion {  // the member-state codes come from reference data (reloadable)
            referenceVersion = context.reference.version
            scorer = Scorer(policy: policy, iossCodes: Set(context.reference.countries.values.compactMap(\.iossCode)))
        }
        let decl = d.declaration
        context.observe(eventTime: decl.lodgedAt)
        let total = d.totalValueEUR ?? 0
        var findings = [scorer.regimeMisuse(d), scorer.iossInvalid(d), scorer.weightMismatch(d), scorer.originMismatch(d),
                        scorer.descriptionMismatch(d)].compactMap { $0 }
        if let ioss = decl.iossNumber, let shared = context.store("ioss").get(ioss) {
            let parts = String(decoding: shared, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
            if parts.count < 2 || parts[1] != decl.seller.id {
                findings.append(Finding(code: .iossShared, strength: 1, taxAtRiskEUR: total * scorer.vat(d),
                                        detail: "IOSS number \(ioss) is quoted by \(parts[0]) or more different sellers; its likely holder (most frequent) is \(parts.count > 1 ? String(parts[1]) : "?")"))
            }
        }
        findings += undervaluation(d, context)

        let seller = try context.store("sellers").get(decl.seller.id).map(SellerState.decode) ?? SellerState()
        if let f = scorer.sellerHistory(seller, taxAtRisk: total * scorer.vat(d)) { findings.append(f) }

        // Split consignments: this seller's declarations to the same consignee within the window.
        let consignee = pseudonymizer.pseudonym([decl.consignee.name, decl.consignee.street, decl.consignee.postalCode, decl.consignee.country]
            .joined(separator: "|"), kind: "consignee")
        let t = decl.lodgedAt.millis
        let recentStore = context.store("recent")
        let pairKey = RecentDeclarations.key(seller: decl.seller.id, consignee: consignee)
        var recent = try recentStore.get(pairKey).map(RecentDeclarations.decode) ?? RecentDeclarations()
        recent.entries.removeAll { abs($0.lodgedAt - t) > policy.splitWindowMs || $0.declarationID == decl.declarationID }
        let group = recent.entries
        let limit = policy.splitThresholdEUR
        let groupTotal = group.reduce(total) { $0 + $1.valueEUR }
        var rescore: [String] = []
        if !group.isEmpty, total > 0, total <= limit, group.allSatisfy({ $0.valueEUR <= limit }), groupTotal > limit {
            let n = group.count + 1
            let hours = Double(group.map { abs($0.lodgedAt - t) }.max() ?? 0) / 3_600_000
            // Each part wrongly claims the duty relief on its own value: that duty is what it evades
            // (the group's total only shows the relief was not due).
            let split = Finding(code: .splitConsignment, strength: min(1, 0.6 + 0.15 * Double(n - 1)), taxAtRiskEUR: total * scorer.dutyRate(d),
                                detail: String(format: "%d declarations of this seller to one consignee within %.1f h, each at most %@, together %@",
                                               n, hours, Scorer.eur(limit), Scorer.eur(groupTotal)))
            findings.append(split)
            rescore = group.map(\.declarationID)
        }
        recent.entries.append(.init(lodgedAt: t, valueEUR: total, declarationID: decl.declarationID))
        recentStore.put(pairKey, recent.encode())

        let memo = DeclarationMemo(parcelID: decl.parcelID, sellerID: decl.seller.id, lodgedAt: t, destination: decl.destinationCountry,
                                   hsChapter: d.lines.first?.chapter ?? "", totalValueEUR: total, source: d.source, findings: findings, inspected: false)
        emit(decl.declarationID, memo, context)
        context.store("declarations").put(decl.declarationID, memo.encode())

        // The earlier parts of a split were scored before the split was visible: score them again.
        for id in rescore {
            guard let bytes = context.store("declarations").get(id), var earlier = try? DeclarationMemo.decode(bytes),
                  !earlier.findings.contains(where: { $0.code == .splitConsignment }) else { continue }
            var split = findings.last!
            split.taxAtRiskEUR *= earlier.totalValueEUR / total  // its own value, at this part's duty rate
            earlier.findings.append(split)
            emit(id, earlier, context)
            context.store("declarations").put(id, earlier.encode())
            context.count("rescored_split")
        }
    }

    /// Undervaluation per line against the distribution of its HS-6 subheading (goods under one
    /// heading differ too much in value per kg), or of its heading while the subheading has too
    /// few observations; the line then joins both (after scoring: a value is never compared
    /// with itself).
    func undervaluation(_ d: EnrichedDeclaration, _ context: HandlerContext) -> [Finding] {
        let histograms = context.store("headings")
        func load(_ key: String, prior: FraudPolicy.Prior?) -> ValueHistogram {
            if let bytes = histograms.get(key), let h = try? ValueHistogram.decode(bytes) { return h }
            return prior.map { ValueHistogram(prior: $0, weight: policy.underPriorObservations) } ?? ValueHistogram()
        }
        var worst: Finding?
        for line in d.lines {
            guard let perKg = line.valuePerKgEUR, perKg > 0, !line.heading.isEmpty else { continue }
            let subKey = "6:" + line.hsCode.prefix(6), headKey = "4:" + line.heading
            var sub = load(subKey, prior: nil), head = load(headKey, prior: policy.valuePerKgPriors[line.heading])
            let stats = sub.total >= policy.underMinObservations ? sub : head
            if let f = scorer.undervaluation(line, stats, vat: scorer.vat(d)), worst == nil || f.taxAtRiskEUR > worst!.taxAtRiskEUR { worst = f }
            sub.add(log10(perKg))
            head.add(log10(perKg))
            histograms.put(subKey, sub.encode())
            histograms.put(headKey, head.encode())
        }
        return worst.map { [$0] } ?? []
    }

    func emit(_ declarationID: String, _ memo: DeclarationMemo, _ context: HandlerContext) {
        // The findings with their tax at risk as inspections have calibrated it, looked up once for the score and the reasons.
        let tax = taxAtRisk(context)
        let findings = memo.findings.map { f in
            var believed = f
            believed.taxAtRiskEUR = tax(f)
            return believed
        }
        let scored = scorer.combine(findings, evidence: evidence(context, among: findings))
        context.count("band_" + scored.band)
        let now = Timestamp(millis: Int64(Date().timeIntervalSince1970 * 1000))
        context.emit(topic: output, key: declarationID) { w in
            w.beginObject()
            w.key("schema"); w.string(SchemaVersion.customsRisk.description)
            w.key("declaration_id"); w.string(declarationID)
            w.key("parcel_id"); w.string(memo.parcelID)
            w.key("seller_id"); w.string(memo.sellerID)
            w.key("score"); w.double((scored.score * 10_000).rounded() / 10_000)
            w.key("band"); w.string(scored.band)
            w.key("reasons"); w.beginArray()
            for (f, c) in zip(findings, scored.contributions).sorted(by: { $0.1 > $1.1 }) {
                w.beginObject()
                w.key("code"); w.string(f.code.rawValue)
                w.key("detail"); w.string(f.detail)
                w.key("contribution"); w.double((c * 10_000).rounded() / 10_000)
                w.key("strength"); w.double((f.strength * 1000).rounded() / 1000)
                w.key("tax_at_risk_eur"); w.double((f.taxAtRiskEUR * 100).rounded() / 100)
                w.endObject()
            }
            w.endArray()
            w.key("model_version"); w.string(policy.version)
            w.key("scored_at"); w.timestamp(now)
            w.key("source"); memo.source.encode(to: &w)
            w.key("lodged_at"); w.timestamp(Timestamp(millis: memo.lodgedAt))
            w.key("destination_country"); w.string(memo.destination)
            w.key("hs_chapter"); if memo.hsChapter.isEmpty { w.null() } else { w.string(memo.hsChapter) }
            w.key("total_intrinsic_value_eur"); w.double((memo.totalValueEUR * 100).rounded() / 100)
            w.endObject()
        }
    }

    // MARK: learning

    /// An outcome is known from its inspection time on. It is learned when this partition's stream
    /// time has reached that time and the declaration's memo is here; until then it waits, so a
    /// backlog (all inspections delivered before the declarations) learns in the order things
    /// happened and no score uses an outcome from its own future. Inspections are broadcast to
    /// every partition: only the one that scored the declaration has its memo; the others keep
    /// the outcome for two days of event time.
    func receive(_ inspection: CustomsInspection, _ context: HandlerContext) throws {
        if let now = context.streamTime, inspection.inspectedAt.millis <= now.millis, context.store("declarations").get(inspection.declarationID) != nil {
            try learn(from: inspection, context)
        } else {
            context.store("pending-inspections").put(inspection.declarationID, inspection.jsonBytes)
        }
    }

    func learn(from inspection: CustomsInspection, _ context: HandlerContext) throws {
        let memos = context.store("declarations")
        guard let bytes = memos.get(inspection.declarationID) else { return }
        var memo = try DeclarationMemo.decode(bytes)
        guard !memo.inspected else { return }  // an inspection counts once
        memo.inspected = true
        memos.put(inspection.declarationID, memo.encode())
        let fraud = inspection.outcome == .fraud
        context.count(fraud ? "inspection_fraud" : "inspection_compliant")
        let sellers = context.store("sellers")
        var seller = try sellers.get(memo.sellerID).map(SellerState.decode) ?? SellerState()
        seller.inspections += 1
        if fraud { seller.frauds += 1 }
        sellers.put(memo.sellerID, seller.encode())
        // The signals' record is the same on every partition: learn here at once, and broadcast
        // "fraud|compliant" and the learning keys to the others (which, in a backlog, read it late).
        let keys = Set(memo.findings.map { Self.learningKey($0, among: memo.findings) }).sorted()
        learnSignals(fraud: fraud, keys: keys[...], context)
        let stakes = fraud ? stakeObservations(memo, inspection, context) : []
        for (code, ratio) in stakes { learnStake(code, logRatio: ratio, context) }
        let lines = [fraud ? "fraud" : "compliant"] + keys + stakes.map { "\(Self.stakeLine) \($0.code.rawValue) \($0.logRatio)" }
        context.broadcast(topic: learningOut, key: Array(inspection.declarationID.utf8), value: Array(lines.joined(separator: "\n").utf8),
                          headers: [(RecordKind.header, RecordKind.signalOutcome)])
    }

    /// Prefix of a signal-outcome line that carries a stake observation: "stake CODE log-ratio".
    static let stakeLine = "stake"

    /// For a confirmed fraud whose value the officer corrected: for each value-based finding, the
    /// log of the tax the correction shows was at risk over the finding's estimate of it.
    func stakeObservations(_ memo: DeclarationMemo, _ inspection: CustomsInspection, _ context: HandlerContext) -> [(code: RiskCode, logRatio: Double)] {
        guard let corrected = inspection.correctedValue,
              let rate = context.reference.fxRate(currency: corrected.currency, date: inspection.inspectedAt.dateString) else { return [] }
        let keptOut = corrected.amount.multiplied(by: rate.eurPerUnit).doubleValue - memo.totalValueEUR
        guard keptOut > 0 else { return [] }
        let realised = keptOut * (policy.vat(memo.destination) + policy.duty(memo.hsChapter))
        return memo.findings.compactMap { f in
            guard policy.stakeLearnedSignals.contains(f.code), f.taxAtRiskEUR > 0 else { return nil }
            // Clamped: one mistyped correction must not move the multiplier by orders of magnitude.
            return (f.code, min(3, max(-3, log(realised / f.taxAtRiskEUR))))
        }
    }

    /// A learned record to update. One that cannot be read (a store written by a different
    /// version) starts over, and is counted (`learning_record_unreadable`) rather than dropped unseen.
    static func record<R>(_ bytes: [UInt8]?, _ decode: ([UInt8]) throws -> R, empty: R, _ context: HandlerContext) -> R {
        guard let bytes else { return empty }
        do { return try decode(bytes) } catch {
            context.count("learning_record_unreadable")
            return empty
        }
    }

    func learnStake(_ code: RiskCode, logRatio: Double, _ context: HandlerContext) {
        let learning = context.store("learning")
        var seen = Self.record(learning.get(Self.stakeKey(code)), StakeRecord.decode, empty: StakeRecord(), context)
        seen.count += 1
        seen.sumLogRatio += logRatio
        learning.put(Self.stakeKey(code), seen.encode())
    }

    /// A signal outcome from the partition that scored the declaration; that partition, which has
    /// the memo, learned it already.
    func receiveSignalOutcome(declarationID: String?, _ value: UnsafeRawBufferPointer, _ context: HandlerContext) {
        if let id = declarationID, context.store("declarations").get(id) != nil { return }
        let lines = String(decoding: value, as: UTF8.self).split(separator: "\n").map(String.init)
        guard let first = lines.first else { return }
        var keys: [String] = []
        for line in lines.dropFirst() {
            let parts = line.split(separator: " ")
            if parts.count == 3, parts[0] == Self.stakeLine {
                if let code = RiskCode(rawValue: String(parts[1])), let ratio = Double(parts[2]), ratio.isFinite { learnStake(code, logRatio: ratio, context) }
            } else {
                keys.append(line)
            }
        }
        learnSignals(fraud: first == "fraud", keys: keys[...], context)
    }

    func learnSignals(fraud: Bool, keys: ArraySlice<String>, _ context: HandlerContext) {
        let learning = context.store("learning")
        for key in keys {
            var seen = Self.record(learning.get(key), SignalRecord.decode, empty: SignalRecord(), context)
            seen.inspected += 1
            if fraud { seen.frauds += 1 }
            learning.put(key, seen.encode())
        }
    }

    /// Pending outcomes that became due are learned (every `pendingSweepMs` of stream time, in
    /// inspection order); memos older than the retention (event time) are dropped, at most once
    /// an hour of stream time.
    func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws {
        if lastSweep[partition].map({ time.millis - $0 >= Self.pendingSweepMs }) ?? true {
            lastSweep[partition] = time.millis
            try learnDue(at: time, context)
        }
        guard time.millis - (lastPrune[partition] ?? 0) >= 3_600_000 else { return }
        lastPrune[partition] = time.millis
        let memos = context.store("declarations")
        var old: [String] = []
        memos.forEach { key, value in
            if let m = try? DeclarationMemo.decode(value), time.millis - m.lodgedAt > memoRetentionMs { old.append(key) }
        }
        for key in old { memos.delete(key) }
        let recent = context.store("recent")
        var stale: [String] = []
        recent.forEach { key, value in
            if let r = try? RecentDeclarations.decode(value), time.millis - r.newest > policy.splitWindowMs { stale.append(key) }
        }
        for key in stale { recent.delete(key) }
    }

    func learnDue(at time: Timestamp, _ context: HandlerContext) throws {
        let pending = context.store("pending-inspections"), memos = context.store("declarations")
        var due: [CustomsInspection] = [], expired: [String] = []
        pending.forEach { key, value in
            guard let i = try? value.withUnsafeBytes({ b throws(DecodeError) in try CustomsInspection(json: b) }) else { return expired.append(key) }
            guard i.inspectedAt.millis <= time.millis else { return }
            // Not ours, or its declaration never came: a declaration is lodged before its inspection,
            // so two days of event time past the inspection without its memo means it will not come.
            if memos.get(key) != nil { due.append(i) } else if time.millis - i.inspectedAt.millis > min(memoRetentionMs, 2 * 86_400_000) { expired.append(key) }
        }
        for i in due.sorted(by: { ($0.inspectedAt.millis, $0.declarationID) < ($1.inspectedAt.millis, $1.declarationID) }) {
            pending.delete(i.declarationID)
            try learn(from: i, context)
        }
        for key in expired { pending.delete(key) }
    }
}

public enum FraudWorker {
    public static let name = Catalogue.Worker.fraud

    public struct Topics: Sendable {
        let declarationsIn: String, inspectionsIn: String, riskOut: String
        let bySeller = Catalogue.fraudDeclarationsBySeller
        let iossUsage = Catalogue.fraudIOSSUsage
    }

    public static let definition = WorkerDefinition(
        name: name, defaultHTTPPort: 8083,
        settings: PseudonymKey.settings + [
            Setting("fraud.policy", .string, default: "", "Scoring policy file (default: policy/fraud.yaml next to the reference data)."),
            Setting("fraud.memo_retention", .duration(.seconds(3600)...(.seconds(400 * 86_400))), default: "30d",
                    "How long (event time) a scored declaration is remembered for its inspection outcome and for split re-scoring."),
            Setting("fraud.topics.declarations_in", .name, default: Catalogue.customsEnriched, "Enriched declarations to score."),
            Setting("fraud.topics.inspections_in", .name, default: Catalogue.customsInspections, "Inspection outcomes to learn from."),
            Setting("fraud.topics.risk_out", .name, default: Catalogue.customsRisk, "Risk scores."),
        ]
    ) { config, options in
        let key = try PseudonymKey.load(config)
        let path = try PolicyFile.locate("fraud.yaml", configured: config.string("fraud.policy"), key: "fraud.policy", referenceDir: options.referenceDirectory)
        let policy: FraudPolicy
        do { policy = try FraudPolicy.load(path: path) } catch {
            throw ConfigError(key: "fraud.policy", source: config.values["fraud.policy"]?.source, message: "\(error)")
        }
        let topics = Topics(declarationsIn: config.string("fraud.topics.declarations_in"), inspectionsIn: config.string("fraud.topics.inspections_in"),
                            riskOut: config.string("fraud.topics.risk_out"))
        let scorer = Scorer(policy: policy, iossCodes: [])
        let pseudonymizer = Pseudonymizer(key: key, keyID: "fraud")
        let retention = config.duration("fraud.memo_retention")
        return [
            TaskDefinition(name: "route", inputs: [topics.declarationsIn, topics.inspectionsIn], outputs: [topics.bySeller, topics.iossUsage]) {
                FraudRouter(topics: topics)
            },
            TaskDefinition(name: "ioss", inputs: [topics.iossUsage], outputs: [topics.bySeller],
                           stores: [StoreDefinition(SharedIOSSDetector.store)]) {
                SharedIOSSDetector(output: topics.bySeller, minSellers: policy.iossSharedMinSellers)
            },
            TaskDefinition(name: "score", inputs: [topics.bySeller], outputs: [topics.riskOut, topics.bySeller],
                           stores: RiskScorer.stores.map(StoreDefinition.init)) {
                RiskScorer(scorer: scorer, pseudonymizer: pseudonymizer, output: topics.riskOut, learningOut: topics.bySeller, memoRetention: retention)
            },
        ]
    }
}
