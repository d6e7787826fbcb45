@testable import Aggregation
import Codec
import Foundation
import Testing
import TestSupport
import WorkerRuntime

func json(_ text: String?) -> [String: Any] {
    (text.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]) ?? [:]
}

/// Feeds a routed fact (the output of a first-stage task) into a second-stage harness.
func forward(_ outputs: [HandlerHarness.Emitted], to h: HandlerHarness, topic: String) -> [HandlerHarness.Emitted] {
    outputs.filter { $0.topic == topic }.flatMap { h.outputs(of: h.send(topic: topic, key: $0.key, value: $0.value)) }
}

func parcel(_ id: String, _ type: String, _ at: String, origin: String? = "CN", dest: String = "BE", hs: String? = "610910", grams: Int = 250, eur: String = "12.34") -> String {
    let items = hs.map { #"[{"description":"x","hs_code":"\#($0)","quantity":1}]"# } ?? "[]"
    return #"{"schema":"parcel.event/1","parcel_id":"\#(id)","event_type":"\#(type)","occurred_at":"\#(at)","weight_grams":\#(grams),"items":\#(items),"enrichment":{"origin_country":\#(origin.map { "\"\($0)\"" } ?? "null"),"destination_country":"\#(dest)","declared_value_eur":\#(eur)}}"#
}

@Suite("aggregation-worker: trade flows and customs-risk aggregates")
struct FlowTests {
    let spec = WindowSpec(size: .seconds(3600), grace: .seconds(600))

    @Test("Trade flows: a parcel counts once (first ARRIVED), per window and lane; exact totals; emitted once when final; late records routed")
    func flows() throws {
        let router = HandlerHarness(handler: ParcelFlowRouter(output: "aggregation.flow-facts", retention: .seconds(86_400 * 7)),
                                    stores: [StoreDefinition(ParcelFlowRouter.store)])
        let flows = HandlerHarness(handler: TradeFlowAggregator(spec: spec, output: "agg.trade-flows"), stores: [StoreDefinition("flows")])
        var emitted: [HandlerHarness.Emitted] = []
        func send(_ value: String) {
            emitted += forward(router.outputs(of: router.send(topic: "parcels.redacted", key: "k", value: value)), to: flows, topic: "aggregation.flow-facts")
        }
        send(parcel("P1", "ARRIVED", "2026-11-27T10:05:00Z", grams: 250, eur: "12.34"))
        send(parcel("P1", "ARRIVED", "2026-11-27T10:05:00Z", grams: 250, eur: "12.34"))  // upstream duplicate
        send(parcel("P1", "SORTED", "2026-11-27T10:50:00Z"))
        send(parcel("P2", "ARRIVED", "2026-11-27T10:59:59.999Z", grams: 1001, eur: "0.01"))
        send(parcel("P3", "ARRIVED", "2026-11-27T10:30:00Z", dest: "DE"))
        send(parcel("P4", "ARRIVED", "2026-11-27T10:31:00Z", origin: nil, hs: nil))
        send(parcel("P5", "ARRIVED", "2026-11-27T11:00:00Z"))  // next window
        #expect(emitted.isEmpty, "nothing is final yet")
        send(parcel("P6", "ARRIVED", "2026-11-27T11:10:00Z"))  // stream time reaches 11:00 + grace
        let finals = emitted.map { json($0.value) }
        #expect(finals.count == 3, "\(emitted)")
        let be = try #require(finals.first { $0["destination_country"] as? String == "BE" && $0["origin_country"] as? String == "CN" })
        #expect(be["parcels"] as? Int == 2 && be["hs_chapter"] as? String == "61")
        // Exact decimals in the record's text (a JSON parser's doubles would blur them).
        let text = try #require(emitted.first { json($0.value)["destination_country"] as? String == "BE" && json($0.value)["origin_country"] as? String == "CN" }?.value)
        #expect(text.contains("\"gross_mass_kg\":1.251,") && text.contains("\"declared_value_eur\":12.35}"), "\(text)")
        #expect((be["window"] as? [String: Any])?["start"] as? String == "2026-11-27T10:00:00.000Z")
        #expect(finals.contains { $0["origin_country"] is NSNull && $0["hs_chapter"] is NSNull && $0["parcels"] as? Int == 1 })
        let late = router.outputs(of: router.send(topic: "parcels.redacted", key: "k", value: parcel("P7", "ARRIVED", "2026-11-27T10:20:00Z")))
        let result = flows.send(topic: "aggregation.flow-facts", key: late[0].key, value: late[0].value)
        guard case .late = result.first else { Issue.record("expected late, got \(result)"); return }
        let v = try SchemaValidator.validate(["agg.trade-flow": emitted.map { Array($0.value!.utf8) }])
        #expect(v.status == 0, "\(v.output)")
    }

    @Test("Customs risk: a re-scored declaration counts once with its latest band; mean score and value exact")
    func risk() throws {
        let router = HandlerHarness(handler: RiskFactRouter(output: "aggregation.risk-facts", retention: .seconds(86_400 * 7)),
                                    stores: [StoreDefinition(RiskFactRouter.store)])
        let agg = HandlerHarness(handler: CustomsRiskAggregator(spec: spec, output: "agg.customs-risk"), stores: [StoreDefinition("risk")])
        var emitted: [HandlerHarness.Emitted] = []
        func score(_ id: String, _ s: Double, _ band: String, _ at: String, value: String = "10.5") {
            let v = #"{"schema":"customs.risk/1","declaration_id":"\#(id)","parcel_id":"p","seller_id":"s","score":\#(s),"band":"\#(band)","reasons":[],"model_version":"m","scored_at":"2026-11-28T00:00:00Z","source":{"topic":"t","partition":0,"offset":0},"lodged_at":"\#(at)","destination_country":"FR","hs_chapter":"85","total_intrinsic_value_eur":\#(value)}"#
            emitted += forward(router.outputs(of: router.send(topic: "customs.risk", key: id, value: v)), to: agg, topic: "aggregation.risk-facts")
        }
        score("D1", 0.2, "low", "2026-11-27T10:01:00Z")
        score("D2", 0.5, "medium", "2026-11-27T10:02:00Z")
        score("D2", 0.5, "medium", "2026-11-27T10:02:00Z")  // duplicate
        score("D1", 0.9, "high", "2026-11-27T10:01:00Z")    // re-scored (split found later)
        score("D3", 0, "low", "2026-11-27T11:30:00Z", value: "1")
        let r = emitted.map { json($0.value) }
        try #require(r.count == 1, "\(emitted)")
        #expect(r[0]["declarations"] as? Int == 2 && r[0]["high"] as? Int == 1 && r[0]["medium"] as? Int == 1)
        #expect(emitted[0].value!.contains("\"intrinsic_value_eur\":21,"), "\(emitted[0].value!)")
        #expect(r[0]["mean_score"] as? Double == 0.7)
        let v = try SchemaValidator.validate(["agg.customs-risk": emitted.map { Array($0.value!.utf8) }])
        #expect(v.status == 0, "\(v.output)")
    }

    @Test("Scored declarations are remembered for the retention of event time, then forgotten (the store stays bounded)")
    func riskDedupRetention() throws {
        let router = HandlerHarness(handler: RiskFactRouter(output: "aggregation.risk-facts", retention: .seconds(3600)),
                                    stores: [StoreDefinition(RiskFactRouter.store)])
        func score(_ id: String, _ at: String) {
            let v = #"{"schema":"customs.risk/1","declaration_id":"\#(id)","parcel_id":"p","seller_id":"s","score":0.2,"band":"low","reasons":[],"model_version":"m","scored_at":"2026-11-28T00:00:00Z","source":{"topic":"t","partition":0,"offset":0},"lodged_at":"\#(at)","destination_country":"FR","hs_chapter":"85","total_intrinsic_value_eur":1}"#
            _ = router.send(topic: "customs.risk", key: id, value: v)
        }
        let store = try #require(router.store(RiskFactRouter.store))
        score("D1", "2026-11-27T10:00:00Z")
        score("D2", "2026-11-27T10:30:00Z")
        score("D3", "2026-11-27T10:50:00Z")
        #expect(store.count == 3, "within the hour: all remembered")
        score("D4", "2026-11-27T11:40:00Z")
        #expect(store.get("D1") == nil && store.get("D2") == nil, "older than an hour at 11:40: forgotten")
        #expect(store.get("D3") != nil && store.get("D4") != nil)
    }
}
