import Codec
import Foundation
@testable import Fraud
import Testing
import TestSupport
import WorkerRuntime

@Suite("fraud-worker: signals, combination, learning")
struct ScoringTests {
    @Test("A clean declaration scores 0, band low, no reasons; the record is valid customs.risk/1 and carries what aggregation needs")
    func clean() throws {
        let h = Setup.scorer()
        let out = h.outputs(of: h.send(topic: "fraud.declarations-by-seller", key: "M-1", value: Declaration().json, partition: 0))
        try #require(out.count == 1)
        #expect(out[0].topic == "customs.risk" && out[0].key == "26BE000000000001H7")
        let r = json(out[0].value)
        #expect(score(r) == 0 && r["band"] as? String == "low" && codes(r).isEmpty)
        #expect(r["model_version"] as? String == Setup.policy.version)
        #expect(r["destination_country"] as? String == "BE" && r["hs_chapter"] as? String == "61" && r["total_intrinsic_value_eur"] as? Double == 6)
        #expect((r["source"] as? [String: Any])?["topic"] as? String == "fraud.declarations-by-seller")
        let v = try SchemaValidator.validate(["customs.risk": [Array(out[0].value!.utf8)]])
        #expect(v.status == 0, "\(v.output)")
    }

    @Test("REGIME_MISUSE: H7 above EUR 150 is high risk; H1 above 150 and H7 below are not")
    func regime() {
        let h = Setup.scorer()
        var d = Declaration()
        d.lines = [.init(hs: "847130", description: "Tablet computer", quantity: 2, netMassGrams: 1000, unitEUR: 95)]
        let r = risks(h, d)[0]
        #expect(codes(r) == ["REGIME_MISUSE"] && r["band"] as? String == "high", "\(r)")
        #expect(((r["reasons"] as? [[String: Any]])?[0]["detail"] as? String)?.contains("190.00 EUR") == true)
        d.id = "D2"; d.regime = "H1"
        #expect(codes(risks(h, d)[0]).isEmpty)
    }

    @Test("IOSS_INVALID: intermediary numbers, wrong length, non-member codes; a well-formed number passes")
    func iossInvalid() {
        let s = Scorer(policy: Setup.policy, iossCodes: Set(Setup.reference.countries.values.compactMap(\.iossCode)))
        #expect(s.iossIsWellFormed("IM3720000001") && s.iossIsWellFormed("IM2760001234") && s.iossIsWellFormed("IM9001234567"))
        for bad in ["IN3720000001", "IM37200001", "IM1560000001", "IMAB00000001", "XX3720000001", "IM37200000011"] {
            #expect(!s.iossIsWellFormed(bad), "\(bad)")
        }
        let h = Setup.scorer()
        var d = Declaration()
        d.ioss = "IN3720000001"
        let r = risks(h, d)[0]
        #expect(codes(r) == ["IOSS_INVALID"] && r["band"] as? String == "high", "\(r)")
    }

    @Test("WEIGHT_MISMATCH: declared gross mass far from the scanned weight; small differences pass")
    func weight() {
        let h = Setup.scorer()
        var d = Declaration()
        d.grossGrams = 300; d.scannedGrams = 1400
        #expect(codes(risks(h, d)[0]) == ["WEIGHT_MISMATCH"])
        d.id = "D2"; d.grossGrams = 260; d.scannedGrams = 280
        #expect(codes(risks(h, d)[0]).isEmpty)
        d.id = "D3"; d.scannedGrams = nil  // not observed at the hub: nothing to compare
        #expect(codes(risks(h, d)[0]).isEmpty)
    }

    @Test("ORIGIN_MISMATCH: a declared origin the flight's country does not explain; transit lanes pass")
    func origin() {
        let h = Setup.scorer()
        var d = Declaration()
        d.origin = "VN"
        #expect(codes(risks(h, d)[0]) == ["ORIGIN_MISMATCH"])
        d.id = "D2"; d.origin = "CN"; d.flightOrigin = "HK"
        #expect(codes(risks(h, d)[0]).isEmpty, "HK flights carry Chinese goods")
    }

    @Test("DESCRIPTION_MISMATCH: vague descriptions and goods words that do not belong to the HS chapter")
    func description() {
        let h = Setup.scorer()
        var n = 0
        func check(_ text: String, _ hs: String, flagged: Bool) {
            var d = Declaration()
            n += 1
            d.id = "D\(n)"
            d.lines = [.init(hs: hs, description: text, quantity: 1, netMassGrams: 200, unitEUR: 6)]
            #expect(codes(risks(h, d)[0]).contains("DESCRIPTION_MISMATCH") == flagged, "\(text) under \(hs)")
        }
        for vague in ["Gift", "spare parts", "SAMPLE", "Accessories", "as ordered", "free gift for my friend"] { check(vague, "610910", flagged: true) }
        check("Phone case", "090111", flagged: true)
        check("Sports shoes", "851762", flagged: true)
        for fine in [("Cotton T-shirt", "610910"), ("Plastic phone holder", "392690"), ("Bluetooth earphones", "851762"),
                     ("Camera drone", "880240"), ("Quartz wristwatch", "910211"), ("Power bank 10000mAh", "850760"), ("Face cream", "330499")] {
            check(fine.0, fine.1, flagged: false)
        }
    }

    @Test("UNDERVALUATION: a value per kg far below the heading's learned median; usual values pass; a heading without prior learns first")
    func undervaluation() {
        let h = Setup.scorer()
        var rng = SystemRandomNumberGenerator()
        for i in 0..<80 {
            var d = Declaration()
            d.id = "T\(i)"
            d.consignee = "Consignee \(i)"
            d.lines[0].unitEUR = 6 * Double.random(in: 0.7...1.4, using: &rng)  // ≈ 30 EUR/kg
            _ = risks(h, d)
        }
        var cheap = Declaration()
        cheap.id = "CHEAP"
        cheap.consignee = "Someone Else"
        cheap.lines[0].unitEUR = 0.4  // 2 EUR/kg
        let r = risks(h, cheap)[0]
        #expect(codes(r) == ["UNDERVALUATION"], "\(r)")
        let detail = (r["reasons"] as? [[String: Any]])?[0]["detail"] as? String ?? ""
        #expect(detail.contains("HS 610910") && detail.contains("median"), "\(detail)")
        var usual = Declaration()
        usual.id = "USUAL"
        usual.consignee = "Another One"
        usual.lines[0].unitEUR = 4.5
        #expect(codes(risks(h, usual)[0]).isEmpty)
        // A heading with no prior in the policy: no verdict until it has min_observations.
        var rare = Declaration()
        rare.lines = [.init(hs: "970110", description: "Painting", quantity: 1, netMassGrams: 1000, unitEUR: 1)]
        rare.id = "R0"
        rare.consignee = "Art Lover"
        #expect(codes(risks(h, rare)[0]).isEmpty)
    }

    @Test("SPLIT_CONSIGNMENT: one seller's declarations to one consignee within the window, each under 150, together over; earlier parts re-scored")
    func split() {
        let h = Setup.scorer()
        func part(_ id: String, _ eur: Double, _ time: String, consignee: String = "Marie Dupont", seller: String = "M-1") -> Declaration {
            var d = Declaration()
            d.id = id; d.seller = seller; d.consignee = consignee; d.lodged = time
            d.lines = [.init(hs: "640411", description: "Sports shoes", quantity: 1, netMassGrams: 3000, unitEUR: eur)]
            d.grossGrams = 3100; d.scannedGrams = 3120
            return d
        }
        #expect(codes(risks(h, part("S1", 60, "2026-11-27T08:00:00Z"))[0]).isEmpty)
        #expect(codes(risks(h, part("OTHER", 120, "2026-11-27T08:30:00Z", consignee: "Jan Kowalski"))[0]).isEmpty)
        #expect(codes(risks(h, part("OTHERSELLER", 120, "2026-11-27T08:40:00Z", seller: "M-2"))[0]).isEmpty)
        // Same person written differently: the pseudonym is normalised.
        let out = risks(h, part("S2", 100, "2026-11-27T11:00:00Z", consignee: "MARIE  DUPONT"))
        #expect(out.count == 2, "S2 scored and S1 re-scored: \(out)")
        #expect(Set(out.compactMap { $0["declaration_id"] as? String }) == ["S1", "S2"])
        #expect(out.allSatisfy { codes($0) == ["SPLIT_CONSIGNMENT"] })
        let detail = ((out[0]["reasons"] as? [[String: Any]])?[0]["detail"] as? String) ?? ""
        #expect(detail.contains("160.00 EUR") && !detail.contains("Marie") && !detail.contains("DUPONT"), "no personal data: \(detail)")
        // Each part evades the duty relief on its own value, not the group's.
        let stakes = Dictionary(uniqueKeysWithValues: out.map { ($0["declaration_id"] as! String, (($0["reasons"] as? [[String: Any]])?[0]["tax_at_risk_eur"] as? Double) ?? -1) })
        #expect(abs(stakes["S1"]! - 60 * Setup.policy.duty("64")) < 0.01 && abs(stakes["S2"]! - 100 * Setup.policy.duty("64")) < 0.01, "\(stakes)")
        #expect(codes(risks(h, part("LATER", 100, "2026-12-02T11:00:00Z"))[0]).isEmpty, "outside the window")
    }

    @Test("Learning: a confirmed fraud gives the seller a history; compliant inspections lower a signal's weight; each inspection counts once")
    func learning() throws {
        let h = Setup.scorer()
        var d = Declaration()
        d.id = "A"; d.grossGrams = 300; d.scannedGrams = 1400
        let before = score(risks(h, d)[0])
        inspect(h, "A", "fraud")
        inspect(h, "A", "fraud")  // a duplicate inspection record
        var next = Declaration()
        next.id = "B"
        let r = risks(h, next)[0]
        #expect(codes(r) == ["SELLER_HISTORY"], "\(r)")
        #expect(((r["reasons"] as? [[String: Any]])?[0]["detail"] as? String)?.contains("1 of 1") == true, "counted once: \(r)")
        // Twenty compliant outcomes on weight-flagged declarations of another seller.
        for i in 0..<20 {
            var w = Declaration()
            w.id = "W\(i)"; w.seller = "M-9"; w.grossGrams = 300; w.scannedGrams = 1400
            _ = risks(h, w)
            inspect(h, "W\(i)", "compliant")
        }
        var again = Declaration()
        again.id = "C"; again.seller = "M-7"; again.grossGrams = 300; again.scannedGrams = 1400
        let after = score(risks(h, again)[0])
        #expect(after < before * 0.7, "weight mismatch was \(before), after 20 compliant inspections \(after)")
    }

    @Test("Learning: an outcome is learned once stream time reaches its inspection time, also when it arrives before its declaration (a backlog)")
    func outcomeInEventTimeOrder() throws {
        let h = Setup.scorer()
        func declaration(_ id: String, at time: String) -> [String: Any] {
            var d = Declaration()
            d.id = id; d.seller = "M-5"; d.lodged = time
            return risks(h, d)[0]
        }
        func history(_ r: [String: Any]) -> String? {
            (r["reasons"] as? [[String: Any]])?.first { $0["code"] as? String == "SELLER_HISTORY" }?["detail"] as? String
        }
        inspect(h, "E", "fraud", at: "2026-11-27T10:00:00Z")  // delivered before E, inspected two hours after it was lodged
        #expect(history(declaration("E", at: "2026-11-27T08:00:00Z")) == nil, "a score never sees its own outcome")
        #expect(history(declaration("F", at: "2026-11-27T09:00:00Z")) == nil, "at 09:00 the 10:00 inspection has not happened")
        _ = declaration("G", at: "2026-11-27T10:06:00Z")  // stream time passes 10:00: the outcome is due
        #expect(history(declaration("H", at: "2026-11-27T10:07:00Z"))?.contains("1 of 1") == true)
        inspect(h, "E", "fraud", at: "2026-11-27T10:00:00Z")  // a second copy changes nothing
        #expect(history(declaration("I", at: "2026-11-27T10:20:00Z"))?.contains("1 of 1") == true)
        // Another partition's declaration: its outcome waits here two days of event time, then goes.
        inspect(h, "OTHER", "fraud", at: "2026-11-27T11:00:00Z")
        _ = declaration("J", at: "2026-11-28T11:00:00Z")
        #expect(h.store("pending-inspections")?.get("OTHER") != nil)
        _ = declaration("K", at: "2026-11-29T11:06:00Z")
        #expect(h.store("pending-inspections")?.get("OTHER") == nil)
    }

    @Test("Learning is per strength band: compliant outcomes on weak findings of a signal leave its strong findings' evidence alone")
    func learningPerStrengthBand() throws {
        let h = Setup.scorer()
        func weight(_ id: String, declared: Int64, scanned: Int64) -> [String: Any] {
            var d = Declaration()
            d.id = id; d.seller = "M-\(id)"; d.grossGrams = declared; d.scannedGrams = scanned
            return risks(h, d)[0]
        }
        let strongBefore = score(weight("S0", declared: 300, scanned: 1400))
        let weakBefore = score(weight("W0", declared: 700, scanned: 1000))
        for i in 1...20 {
            _ = weight("W\(i)", declared: 700, scanned: 1000)
            inspect(h, "W\(i)", "compliant")
        }
        #expect(score(weight("W99", declared: 700, scanned: 1000)) < weakBefore * 0.7)
        #expect(score(weight("S1", declared: 300, scanned: 1400)) == strongBefore)
    }

    @Test("Learning reaches every partition: the one that scored an inspected declaration learns at once and broadcasts; another learns from the broadcast; none counts it twice")
    func learningBroadcast() throws {
        let a = Setup.scorer(), b = Setup.scorer()  // two scorer partitions
        func weak(_ h: HandlerHarness, _ id: String) -> Double {
            var d = Declaration()
            d.id = id; d.seller = "M-\(id)"; d.grossGrams = 700; d.scannedGrams = 1000
            return score(risks(h, d)[0])
        }
        let before = weak(b, "B0")
        var broadcasts: [HandlerHarness.Emitted] = []
        for i in 1...20 {
            _ = weak(a, "W\(i)")
            let out = a.outputs(of: a.send(topic: "fraud.declarations-by-seller", key: "W\(i)",
                                           value: #"{"schema":"customs.inspection/1","declaration_id":"W\#(i)","inspected_at":"2026-11-27T08:00:00Z","outcome":"compliant","findings":[],"corrected_value":null}"#,
                                           headers: [(name: "cw.kind", value: Array("inspection".utf8))]))
            broadcasts += out.filter { $0.topic == "fraud.declarations-by-seller" }
        }
        #expect(broadcasts.count == 20)
        let learned = weak(a, "A1")
        #expect(learned < before * 0.7, "the scoring partition learned at once")
        #expect(weak(b, "B1") == before, "the other has not seen the broadcast yet")
        for o in broadcasts { deliver(b, key: o.key, value: o.value, headers: o.headers) }
        #expect(weak(b, "B2") == learned)
        for o in broadcasts { deliver(a, key: o.key, value: o.value, headers: o.headers) }  // its own broadcasts come back
        #expect(weak(a, "A2") == learned, "counted once")
    }

    @Test("Learning the stake: corrected values of confirmed frauds recalibrate a value signal's tax at risk, on every partition; compliant outcomes and other signals leave it alone")
    func stakeFromCorrectedValues() throws {
        let a = Setup.scorer(), b = Setup.scorer()
        /// Hidden goods: 6 EUR declared for 300 g, 1,400 g scanned.
        func hidden(_ h: HandlerHarness, _ id: String) -> (tax: Double, score: Double) {
            var d = Declaration()
            d.id = id; d.seller = "M-\(id)"; d.grossGrams = 300; d.scannedGrams = 1400
            let risk = risks(h, d)[0]
            let reason = (risk["reasons"] as? [[String: Any]] ?? []).first { $0["code"] as? String == "WEIGHT_MISMATCH" }
            return (reason?["tax_at_risk_eur"] as? Double ?? -1, score(risk))
        }
        let before = hidden(a, "H0")
        #expect(before.tax > 5 && before.tax < 10, "the rule's estimate: the hidden 1,100 g priced like the declared 300 g")
        _ = hidden(a, "C1")
        inspect(a, "C1", "compliant", correctedEUR: 100)
        #expect(hidden(a, "H1").tax == before.tax, "a compliant outcome says nothing about what a fraud evades")
        var broadcasts: [HandlerHarness.Emitted] = []
        for i in 1...10 {
            _ = hidden(a, "F\(i)")
            // The officer found goods worth 100 EUR in all: 94 EUR kept out of the VAT and duty base.
            broadcasts += inspect(a, "F\(i)", "fraud", correctedEUR: 100).filter { $0.topic == "fraud.declarations-by-seller" }
        }
        let realised = 94 * (Setup.policy.vat("BE") + Setup.policy.duty("61"))
        let after = hidden(a, "H2")
        // Geometric mean of realised / estimated, shrunk by 5 pseudo-inspections: 10 of 15 of the way in log space.
        let expected = before.tax * exp(log(realised / before.tax) * 10 / 15)
        #expect(abs(after.tax - expected) < 0.05, "tax at risk \(after.tax), expected \(expected)")
        #expect(after.score > before.score)
        #expect(hidden(b, "B1").tax == before.tax, "the other partition has not seen the broadcasts yet")
        for o in broadcasts { deliver(b, key: o.key, value: o.value, headers: o.headers) }
        #expect(abs(hidden(b, "B2").tax - after.tax) < 0.01)
        for o in broadcasts { deliver(a, key: o.key, value: o.value, headers: o.headers) }  // its own broadcasts come back
        #expect(abs(hidden(a, "H3").tax - after.tax) < 0.01, "counted once")
        // A signal not in learning.stake_from_corrected_value keeps the rule's estimate.
        var regime = Declaration()
        regime.id = "R1"; regime.seller = "M-R1"; regime.lines[0].unitEUR = 200
        let regimeTax = { (risks(a, regime)[0]["reasons"] as? [[String: Any]] ?? []).first { $0["code"] as? String == "REGIME_MISUSE" }?["tax_at_risk_eur"] as? Double }
        let regimeBefore = regimeTax()
        inspect(a, "R1", "fraud", correctedEUR: 2000)
        regime.id = "R2"
        #expect(regimeTax() == regimeBefore)
    }

    @Test("Combination: more independent evidence and more value at risk rank higher; contributions add up to the score")
    func combination() {
        let s = Scorer(policy: Setup.policy, iossCodes: [])
        let one = [Finding(code: .weightMismatch, strength: 1, taxAtRiskEUR: 20, detail: "")]
        let two = one + [Finding(code: .originMismatch, strength: 1, taxAtRiskEUR: 20, detail: "")]
        let rich = [Finding(code: .weightMismatch, strength: 1, taxAtRiskEUR: 900, detail: "")]
        let w: (Finding) -> Double = { Setup.policy.weights[$0.code]! * $0.strength }
        let a = s.combine(one, evidence: w), b = s.combine(two, evidence: w), c = s.combine(rich, evidence: w)
        #expect(b.score > a.score && c.score > a.score && b.score <= 1)
        #expect(abs(b.contributions.reduce(0, +) - b.score) < 1e-9)
        #expect(s.combine([], evidence: w).score == 0)
        // A seller's history makes fraud likelier, not larger: its (all-the-VAT) estimate counts
        // only when nothing else fired.
        let history = Finding(code: .sellerHistory, strength: 0.5, taxAtRiskEUR: 150, detail: "")
        var quiet = history
        quiet.taxAtRiskEUR = 0
        #expect(s.combine(one + [history], evidence: w).score == s.combine(one + [quiet], evidence: w).score)
        #expect(s.combine(one + [history], evidence: w).score > a.score)
        #expect(s.combine([history], evidence: w).score > s.combine([quiet], evidence: w).score)
    }

    @Test("IOSS_SHARED: the fourth seller quoting one number announces it to every scorer partition with its likely holder; later declarations of others carry the reason")
    func iossShared() throws {
        let detector = HandlerHarness(handler: SharedIOSSDetector(output: "fraud.declarations-by-seller", minSellers: 4),
                                      stores: [StoreDefinition(SharedIOSSDetector.store)])
        detector.context.partitionCounts["fraud.declarations-by-seller"] = 3
        var announced: [HandlerHarness.Emitted] = []
        for seller in ["M-1", "M-1", "M-2", "M-1", "M-3", "M-4", "M-5", "M-1"] {
            announced += detector.outputs(of: detector.send(topic: "fraud.ioss-usage", key: "IM3720000777", value: seller))
        }
        #expect(announced.count == 3 && Set(announced.compactMap(\.partition)) == [0, 1, 2], "once, to each partition: \(announced)")
        #expect(json(announced[0].value)["holder"] as? String == "M-1" && json(announced[0].value)["sellers"] as? Int == 4)
        // The holder changes: announced again.
        var again: [HandlerHarness.Emitted] = []
        for _ in 0..<6 { again += detector.outputs(of: detector.send(topic: "fraud.ioss-usage", key: "IM3720000777", value: "M-5")) }
        #expect(again.count == 3 && json(again[0].value)["holder"] as? String == "M-5")
        let h = Setup.scorer()
        _ = h.send(topic: "fraud.declarations-by-seller", key: "IM3720000777", value: announced[0].value, headers: announced[0].headers)
        var d = Declaration()
        d.ioss = "IM3720000777"
        d.seller = "M-4"
        #expect(codes(risks(h, d)[0]) == ["IOSS_SHARED"])
        d.id = "HOLDER"; d.seller = "M-1"
        #expect(codes(risks(h, d)[0]).isEmpty, "the seller that quotes the number most is taken as its holder")
    }

    @Test("Routing: declarations keyed by seller with their origin, IOSS usage keyed by number, inspections to every partition, bad input to the DLQ")
    func routing() {
        let h = HandlerHarness(handler: FraudRouter(topics: Setup.topics), worker: "fraud-worker")
        h.context.partitionCounts["fraud.declarations-by-seller"] = 4
        let out = h.outputs(of: h.send(topic: "customs.enriched", key: "26BE000000000001H7", value: Declaration().json, partition: 2))
        #expect(out.count == 2)
        #expect(out[0].topic == "fraud.declarations-by-seller" && out[0].key == "M-1" && out[0].value == Declaration().json)
        #expect(out[0].headers.contains { $0.name == "cw.origin.partition" && $0.value == Array("2".utf8) })
        #expect(out[1].topic == "fraud.ioss-usage" && out[1].key == "IM3720000001" && out[1].value == "M-1")
        let insp = h.outputs(of: h.send(topic: "customs.inspections", key: "X",
                                        value: #"{"schema":"customs.inspection/1","declaration_id":"X","inspected_at":"2026-11-28T10:00:00Z","outcome":"fraud","findings":["UNDERVALUATION"],"corrected_value":{"amount":80,"currency":"EUR"}}"#))
        #expect(insp.count == 4 && Set(insp.compactMap(\.partition)) == [0, 1, 2, 3])
        let bad = h.send(topic: "customs.inspections", key: "X", value: #"{"schema":"customs.inspection/1","declaration_id":"X","inspected_at":"2026-11-28T10:00:00Z","outcome":"maybe","findings":[]}"#)
        guard case .deadLetter(_, let reason) = bad.first else { Issue.record("expected a dead letter, got \(bad)"); return }
        #expect(reason.contains("outcome"), "\(reason)")
        let truncated = h.send(topic: "customs.enriched", key: "K", value: String(Declaration().json.prefix(100)))
        guard case .deadLetter = truncated.first else { Issue.record("expected a dead letter, got \(truncated)"); return }
    }

    @Test("Policy errors name the key")
    func policyErrors() throws {
        let text = try String(contentsOfFile: "\(Setup.root)/policy/fraud.yaml", encoding: .utf8)
        #expect(throws: FraudPolicy.Failure.self) { try FraudPolicy.parse(text.replacingOccurrences(of: "weight: 0.95", with: "weight: 1.5"), source: "p") }
        for (from, to, key) in [("window: 48h", "window: soon", "SPLIT_CONSIGNMENT.window"), ("curve: linear", "curve: cubic", "stake.curve"),
                                  ("[UNDERVALUATION, WEIGHT_MISMATCH]", "[UNDERVALUATION, HEAVINESS]", "learning.stake_from_corrected_value")] {
            #expect(text.contains(from))
            let error = #expect(throws: FraudPolicy.Failure.self) { try FraudPolicy.parse(text.replacingOccurrences(of: from, with: to), source: "p") }
            #expect("\(String(describing: error))".contains(key))
        }
    }
}
