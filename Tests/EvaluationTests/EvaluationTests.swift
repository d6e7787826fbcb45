@testable import Evaluation
import Testing

@Suite("eval: the quality-bar arithmetic")
struct EvaluationTests {
    func truth(_ lines: [String]) throws -> Truth { try Truth.parse(lines: lines.map { Substring($0) }) }

    @Test("Fraud ranking: precision at the top, recall, revenue recall, per pattern; ties never flatter the scorer")
    func fraud() throws {
        let t = try truth([
            #"{"kind":"fraud","scenario_id":"F1","pattern":"UNDERVALUATION","declaration_id":"d0","evaded_eur":90}"#,
            #"{"kind":"fraud","scenario_id":"F2","pattern":"REGIME_MISUSE","declaration_id":"d1","evaded_eur":10}"#,
            #"{"kind":"fraud","scenario_id":"F3","pattern":"REGIME_MISUSE","declaration_id":"d500","evaded_eur":0}"#,
            #"{"kind":"run","scenario_id":"run","benign_principal_hours":20000}"#,
        ])
        var scores: [String: Double] = [:]
        for i in 0..<1000 { scores["d\(i)"] = 0 }
        scores["d0"] = 0.99; scores["d1"] = 0.9; scores["d2"] = 0.95  // d2 is benign
        let r = Evaluation.fraud(scores: scores, truth: t)
        #expect(r.declarations == 1000 && r.frauds == 3)
        #expect(r.precisionTop01 == 1)           // top 1: d0
        #expect(r.precisionTop1 == 0.2)          // top 10: d0, d2, d1 and seven benign zeros
        #expect(abs(r.recallTop10 - 2.0 / 3) < 1e-9, "d500 scored 0 ties with benign ones and ranks after them")
        #expect(r.revenueRecallTop1 == 1)
        #expect(r.patterns.first { $0.pattern == "REGIME_MISUSE" }?.recallTop1 == 0.5)
        #expect(t.benignPrincipalHours == 20000)
    }

    @Test("Alerts: detection delay per scenario against its bar, false alerts per 10k benign principal-hours, duplicates")
    func alerts() throws {
        let t = try truth([
            #"{"kind":"exfiltration","scenario_id":"X1","pattern":"BULK_EXPORT","principal_id":"u1","start":"2026-11-27T10:00:00Z","end":"2026-11-27T10:20:00Z"}"#,
            #"{"kind":"exfiltration","scenario_id":"X2","pattern":"PII_HARVEST","principal_id":"u2","start":"2026-11-27T10:00:00Z","end":"2026-11-27T10:20:00Z"}"#,
            #"{"kind":"run","scenario_id":"run","benign_principal_hours":10000}"#,
        ])
        let h: Int64 = 1_795_773_600_000  // 2026-11-27T10:00:00Z
        let alerts = [
            AlertRecord(alertID: "a1", principalID: "u1", rule: "BULK_EXPORT", windowStartMs: h, windowEndMs: h + 300_000, detectedAtMs: h + 240_000),
            AlertRecord(alertID: "a1", principalID: "u1", rule: "BULK_EXPORT", windowStartMs: h, windowEndMs: h + 300_000, detectedAtMs: h + 240_000),
            AlertRecord(alertID: "a2", principalID: "u2", rule: "DENIED_BURST", windowStartMs: h + 1_800_000, windowEndMs: h + 2_100_000, detectedAtMs: h + 2_000_000),
            AlertRecord(alertID: "a3", principalID: "u9", rule: "OFF_HOURS", windowStartMs: h, windowEndMs: h + 300_000, detectedAtMs: h),
        ]
        let r = Evaluation.alerts(alerts, truth: t)
        #expect(r.scenarios.count == 2 && r.detectedWithinBar == 1)
        #expect(r.scenarios[0].delaySeconds == 240 && r.scenarios[0].ruleMatched)
        #expect(r.scenarios[1].detected && !r.scenarios[1].withinBar && !r.scenarios[1].ruleMatched)
        #expect(r.falseAlerts == 1 && r.falseAlertsPer10kPrincipalHours == 1 && r.duplicateAlertIDs == 1)
    }

    @Test("Flows: equal totals pass; a missing group, a wrong count or an unexplained aggregate fail; open windows are not compared")
    func flows() {
        let input: [String: Evaluation.FlowTotals] = ["0|CN|BE|61": .init(parcels: 2, grams: 500, valueMicros: 1), "0|CN|DE|85": .init(parcels: 1),
                                                      "3600000|CN|BE|61": .init(parcels: 9)]
        #expect(Evaluation.flows(aggregates: ["0|CN|BE|61": .init(parcels: 2, grams: 500, valueMicros: 1), "0|CN|DE|85": .init(parcels: 1)], fromInput: input).exact)
        #expect(!Evaluation.flows(aggregates: ["0|CN|BE|61": .init(parcels: 2, grams: 500, valueMicros: 1)], fromInput: input).exact)
        #expect(!Evaluation.flows(aggregates: ["0|CN|BE|61": .init(parcels: 3, grams: 500, valueMicros: 1), "0|CN|DE|85": .init(parcels: 1)], fromInput: input).exact)
        #expect(!Evaluation.flows(aggregates: ["0|CN|BE|61": .init(parcels: 2, grams: 500, valueMicros: 1), "0|CN|DE|85": .init(parcels: 1),
                                               "0|CN|FR|61": .init(parcels: 1)], fromInput: input).exact)
    }

    @Test("Leaks: a consignee's own values in its redacted records, folded; other records and pseudonyms are not leaks")
    func leaks() {
        let pd = ["P1": ["Marie Dupont", "Rue de la Loi 16", "marie@example.be", "+32470123456"]]
        #expect(Evaluation.leaks(personalData: pd, redacted: [("P1", #"{"name":"ps_abc","d":"gift"}"#)]).isEmpty)
        #expect(Evaluation.leaks(personalData: pd, redacted: [("P1", #"{"d":"for MARIE  DUPONT"}"#)]).count == 1)
        #expect(Evaluation.leaks(personalData: pd, redacted: [("P1", #"{"d":"call 0470 12 34 56"}"#)]).count == 1)
        #expect(Evaluation.leaks(personalData: pd, redacted: [("P2", #"{"d":"Marie Dupont"}"#)]).isEmpty)
        #expect(Evaluation.leaks(personalData: pd, redacted: [("P1", #"{"d":"tel. (0470) 12-34-56"}"#)]).count == 1)
        // The phone's digits spread over unrelated fields are not a phone.
        #expect(Evaluation.leaks(personalData: pd, redacted: [("P1", #"{"id":"LGG-P-00470","g":1234,"w":"56"}"#)]).isEmpty)
    }
}
