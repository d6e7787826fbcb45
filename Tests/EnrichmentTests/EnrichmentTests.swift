import Codec
@testable import Enrichment
import Foundation
@testable import ReferenceData
import Testing
import TestSupport
import WorkerRuntime

enum Files {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let reference = try! ReferenceLoader.load(directory: "\(root)/reference")
    static func contract(_ name: String) -> String {
        try! String(contentsOfFile: "\(root)/Tests/CodecTests/Fixtures/\(name).json", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    static var parcel: String { contract("parcel.event") }
    static var declaration: String { contract("customs.declaration") }
}

func object(_ text: String?) -> [String: Any] {
    guard let text, let data = text.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
    return o
}

@Suite("Enrichment rules and the parcel–declaration join")
struct EnrichmentTests {
    let byParcel = "enrichment.declarations-by-parcel"

    func harness(window: Duration = .seconds(48 * 3600)) -> HandlerHarness {
        HandlerHarness(handler: EnrichmentJoin(parcelsIn: "parcels.events", declarationsIn: byParcel, parcelsOut: "parcels.enriched",
                                               declarationsOut: "customs.enriched", window: window),
                       stores: [StoreDefinition(EnrichmentJoin.store)], worker: "enrichment-worker", reference: Files.reference)
    }

    @Test("The contract's parcel event: origin country, route, EUR value at the customs rate, HS names, region, strategic flag; upstream bytes kept")
    func parcelEnrichment() throws {
        let h = harness()
        let out = h.outputs(of: h.send(topic: "parcels.events", key: "LGG-P-0000481516", value: Files.parcel))
        try #require(out.count == 1)
        #expect(out[0].topic == "parcels.enriched" && out[0].key == "LGG-P-0000481516")
        let text = out[0].value!
        #expect(text.hasPrefix(String(Files.parcel.dropLast())), "upstream fields are kept as they were")
        let e = object(text)["enrichment"] as! [String: Any]
        #expect(e["origin_airport"] as? String == "HGH")
        #expect(e["origin_country"] as? String == "CN")
        #expect(e["route"] as? String == "HGH-LGG")
        #expect(e["destination_region"] as? String == "eu")
        let fx = e["fx"] as! [String: Any]
        // November 2026: the customs rate is the ECB rate of the penultimate Wednesday of October.
        #expect(fx["rate_date"] as? String == "2026-10-21" && fx["rule"] as? String == "customs_monthly" && fx["currency"] as? String == "USD")
        let rate = Files.reference.fxRate(currency: "USD", date: "2026-11-27")!.eurPerUnit
        let eur = Amount("23.4")!.multiplied(by: rate)
        #expect((e["declared_value_eur"] as? NSNumber)?.stringValue == eur.description)
        let items = e["items"] as! [[String: Any]]
        #expect(items[0]["hs_chapter"] as? String == "85" && items[0]["hs_heading"] as? String == "8517")
        #expect((items[0]["hs_chapter_name"] as? String)?.isEmpty == false)
        #expect((items[0]["strategic"] as? [String: Any])?["category"] != nil, "851762 is a CHPL item")
        #expect(e["strategic_goods"] as? Bool == true)
        #expect((e["unknown"] as? [Any])?.isEmpty == true)
        let source = object(text)["source"] as! [String: Any]
        #expect(source["topic"] as? String == "parcels.events" && source["offset"] as? Int == 0)
    }

    @Test("Declaration first, parcel later: the declaration waits, then carries the hub's observation")
    func declarationFirst() throws {
        let h = harness()
        #expect(h.outputs(of: h.send(topic: byParcel, key: "LGG-P-0000481516", value: Files.declaration)).isEmpty)
        let out = h.outputs(of: h.send(topic: "parcels.events", key: "LGG-P-0000481516", value: Files.parcel))
        #expect(out.map(\.topic) == ["parcels.enriched", "customs.enriched"])
        let d = object(out[1].value)
        let obs = d["hub_observation"] as! [String: Any]
        #expect(obs["weight_grams"] as? Int == 412 && obs["origin_airport"] as? String == "HGH" && obs["origin_country"] as? String == "CN")
        #expect(obs["merchant_id"] as? String == "M-88231")
        let v = d["valuation"] as! [String: Any]
        #expect((v["total_intrinsic_value_eur"] as? NSNumber)?.doubleValue == 21.5)
        #expect(v["over_low_value_threshold"] as? Bool == false)
        #expect(out[1].value!.hasPrefix(String(Files.declaration.dropLast())))
        // The parcel event carries the join state.
        let decl = (object(out[0].value)["enrichment"] as! [String: Any])["declaration"] as! [String: Any]
        #expect(decl["declaration_id"] as? String == "26BE000000123456H7")
    }

    @Test("Parcel first: the declaration is emitted at once; later events carry the join state; duplicates are emitted once")
    func parcelFirstAndDuplicates() throws {
        let h = harness()
        _ = h.send(topic: "parcels.events", key: "P", value: Files.parcel)
        #expect(h.outputs(of: h.send(topic: "parcels.events", key: "P", value: Files.parcel)).isEmpty, "same event_id")
        let d = h.outputs(of: h.send(topic: byParcel, key: "P", value: Files.declaration))
        #expect(d.count == 1 && object(d[0].value)["hub_observation"] is [String: Any])
        #expect(h.outputs(of: h.send(topic: byParcel, key: "P", value: Files.declaration)).isEmpty, "same declaration content")
        let later = Files.parcel.replacingOccurrences(of: "6f1c2a7e-3b9d-4c1e-9a51-0d2f4b7c8e01", with: "evt-2")
            .replacingOccurrences(of: "\"SORTED\"", with: "\"DEPARTED\"").replacingOccurrences(of: "22:14:03.512Z", with: "23:40:00.000Z")
        let next = h.outputs(of: h.send(topic: "parcels.events", key: "P", value: later))
        #expect(next.count == 1)
        let e = object(next[0].value)["enrichment"] as! [String: Any]
        #expect((e["declaration"] as? [String: Any])?["declaration_id"] as? String == "26BE000000123456H7")
        #expect(h.context.counters["duplicate_parcel_event"] == 1)
        #expect(h.context.counters["duplicate_declaration"] == 1)
    }

    @Test("No parcel within the window: emitted with hub_observation null and the reason, not held forever")
    func windowCloses() throws {
        let h = harness(window: .seconds(3600))
        #expect(h.outputs(of: h.send(topic: byParcel, key: "P", value: Files.declaration)).isEmpty)
        // Stream time moves past lodged_at + 1h with another parcel's event.
        let other = Files.parcel.replacingOccurrences(of: "LGG-P-0000481516", with: "LGG-P-9").replacingOccurrences(of: "2026-11-27T22:14:03.512Z", with: "2026-11-27T23:00:00.000Z")
        let out = h.outputs(of: h.send(topic: "parcels.events", key: "LGG-P-9", value: other))
        let declarations = out.filter { $0.topic == "customs.enriched" }
        try #require(declarations.count == 1)
        let d = object(declarations[0].value)
        #expect(d["hub_observation"] is NSNull)
        #expect(d["hub_observation_reason"] as? String == "no parcel event for this parcel within the 1h join window")
    }

    @Test("A parcel's join state expires a window after its last event, even when a transaction that expired it aborted")
    func joinStateExpiry() throws {
        let h = harness(window: .seconds(3600))
        func event(_ parcel: String, _ id: String, at time: String) -> String {
            Files.parcel.replacingOccurrences(of: "LGG-P-0000481516", with: parcel).replacingOccurrences(of: "6f1c2a7e-3b9d-4c1e-9a51-0d2f4b7c8e01", with: id)
                .replacingOccurrences(of: "2026-11-27T22:14:03.512Z", with: time)
        }
        let store = try #require(h.store(EnrichmentJoin.store))
        _ = h.send(topic: "parcels.events", key: "P", value: event("P", "p1", at: "2026-11-27T22:14:03.512Z"))
        _ = h.send(topic: "parcels.events", key: "X", value: event("X", "x1", at: "2026-11-27T22:50:00.000Z"))
        _ = h.send(topic: "parcels.events", key: "P", value: event("P", "p2", at: "2026-11-27T23:10:00.000Z"))
        _ = h.send(topic: "parcels.events", key: "X", value: event("X", "x2", at: "2026-11-27T23:30:00.000Z"))
        #expect(store.get("P") != nil, "P's later event moved its expiry from 23:14 to 00:10")
        // This transaction expires P, then aborts: P is back, and must still expire later.
        _ = h.send(topic: "parcels.events", key: "X", value: event("X", "x3", at: "2026-11-28T00:20:00.000Z"), aborted: true)
        #expect(store.get("P") != nil, "the expiry was rolled back with its transaction")
        _ = h.send(topic: "parcels.events", key: "X", value: event("X", "x4", at: "2026-11-28T00:25:00.000Z"))
        #expect(store.get("P") == nil, "expired a window after its last event")
        #expect(store.get("X") != nil)
    }

    @Test("Join state: the binary format round-trips every field; state written as JSON before still decodes; a cut value is an error, not a default")
    func joinStateFormat() throws {
        let legacy = #"{"obs":{"weight_grams":1200,"origin_airport":"PVG","origin_country":null,"merchant_id":"M-10001","parcel_event_id":"evt-1","observed_at":"2026-11-27T10:00:00.000Z"},"decl":{"declaration_id":"26BE000000000001H7","lodged_at":"2026-11-27T09:00:00.000Z","regime":"H7","total_intrinsic_value_eur":23.4,"over_low_value_threshold":false},"events":["evt-1","evt-2"],"decls":{"26BE000000000001H7":"abc123"},"pending":[{"source":{"topic":"customs.declarations","partition":3,"offset":42},"lodged_at":"2026-11-27T09:00:00.000Z","record":{"a":[1,"x"]}}],"last":1764237600000}"#
        let old = try JoinState.decode(Array(legacy.utf8))
        #expect(old.observation == HubObservation(weightGrams: 1200, originAirport: "PVG", originCountry: nil, merchantID: "M-10001",
                                                  parcelEventID: "evt-1", observedAt: Timestamp(rfc3339: "2026-11-27T10:00:00Z")!))
        #expect(old.declaration?.totalIntrinsicValueEUR == Amount("23.4") && old.declaration?.overLowValueThreshold == false)
        #expect(old.seenEvents == ["evt-1", "evt-2"] && old.seenDeclarations == ["26BE000000000001H7": "abc123"])
        #expect(old.pending.map(\.record) == [Array(#"{"a":[1,"x"]}"#.utf8)] && old.pending.first?.provenance.offset == 42)
        #expect(old.lastEventTime.millis == 1_764_237_600_000)

        var state = old
        state.declaration?.totalIntrinsicValueEUR = nil
        state.declaration?.overLowValueThreshold = true
        state.pending.append(.init(provenance: Provenance(topic: "t", partition: 0, offset: 0), lodgedAt: Timestamp(millis: -5), record: []))
        for _ in 0..<70 { state.noteEvent("evt-" + String(repeating: "9", count: 20)) }
        for s in [old, state, JoinState(lastEventTime: Timestamp(millis: 0))] {
            let bytes = s.encode()
            #expect(bytes.first == JoinState.binaryFormat && bytes.count == s.encodedSize && bytes.capacity < bytes.count + 32)
            let back = try JoinState.decode(bytes)
            #expect(back.observation == s.observation && back.declaration == s.declaration && back.seenEvents == s.seenEvents
                    && back.seenDeclarations == s.seenDeclarations && back.lastEventTime == s.lastEventTime)
            #expect(back.pending.map(\.record) == s.pending.map(\.record) && back.pending.map(\.provenance) == s.pending.map(\.provenance)
                    && back.pending.map(\.lodgedAt) == s.pending.map(\.lodgedAt))
            #expect(throws: DecodeError.self) { try JoinState.decode(Array(bytes.dropLast())) }
        }
        #expect(old.encode().count * 2 < legacy.utf8.count, "\(old.encode().count) bytes against \(legacy.utf8.count) as JSON")
        #expect(throws: DecodeError.self) { try JoinState.decode([7, 0]) }
    }

    @Test("Unknown airport, currency and HS code: still enriched, the unknowns marked and counted")
    func unknowns() throws {
        let h = harness()
        let odd = Files.parcel.replacingOccurrences(of: "\"HGH\"", with: "\"ZZZ\"").replacingOccurrences(of: "\"USD\"", with: "\"XTS\"")
            .replacingOccurrences(of: "\"851762\"", with: "\"990000\"")
        let out = h.outputs(of: h.send(topic: "parcels.events", key: "P", value: odd))
        let e = object(out.first?.value)["enrichment"] as! [String: Any]
        #expect(e["unknown"] as? [String] == ["airport:ZZZ", "currency:XTS", "hs:990000"])
        #expect(e["origin_country"] is NSNull && e["declared_value_eur"] is NSNull)
        #expect(e["route"] as? String == "ZZZ-LGG")
    }

    @Test("Edge cases: no flight, zero weight, many items, a date beyond the rate table")
    func edgeCases() throws {
        let h = harness()
        let items = (0..<12).map { "{\"description\":\"item \($0)\",\"hs_code\":\"6109100\($0 % 10)\",\"quantity\":\($0 + 1)}" }.joined(separator: ",")
        let p = Files.parcel.replacingOccurrences(of: "\"flight\":{\"number\":\"CK231\",\"origin_airport\":\"HGH\"}", with: "\"flight\":null")
            .replacingOccurrences(of: "\"weight_grams\":412", with: "\"weight_grams\":0")
            .replacingOccurrences(of: "[{\"description\":\"Bluetooth earphones\",\"hs_code\":\"851762\",\"quantity\":1}]", with: "[\(items)]")
            .replacingOccurrences(of: "2026-11-27T22:14:03.512Z", with: "2027-03-02T10:00:00.000Z")
        let out = h.outputs(of: h.send(topic: "parcels.events", key: "P", value: p))
        let e = object(out.first?.value)["enrichment"] as! [String: Any]
        #expect(e["origin_airport"] is NSNull && e["route"] is NSNull)
        #expect(e["value_per_kg_eur"] is NSNull, "zero weight: no value per kg")
        #expect((e["items"] as? [Any])?.count == 12)
        // No customs rate for March 2027 in the table: the latest rate on or before the date is used, and said so.
        let fx = e["fx"] as! [String: Any]
        #expect(fx["rule"] as? String == "latest_available" && fx["rate_date"] as? String == "2026-10-30")
    }

    @Test("Exchange rates: the customs month's rate across a year end, the latest available, the earliest before the table")
    func exchangeRateRules() throws {
        let ref = Files.reference
        func rate(_ date: String) -> (String, String)? { ref.fxRate(currency: "USD", date: date).map { ($0.rateDate, $0.rule) } }
        // December 2025's penultimate Wednesday (the 24th) serves January 2026.
        #expect(rate("2026-01-15")! == ("2025-12-24", "customs_monthly"))
        #expect(rate("2026-02-28")! == ("2026-01-21", "customs_monthly"))
        // December 2026 would take November's penultimate Wednesday, not in the table: the latest rate on or before the date.
        #expect(rate("2026-12-03")! == ("2026-10-30", "latest_available"))
        // Before the table: its earliest rate.
        #expect(rate("2025-06-01")! == ("2025-12-24", "latest_available"))
        #expect(ref.fxRate(currency: "EUR", date: "2026-01-15")?.rule == "identity")
        #expect(ref.fxRate(currency: "XXX", date: "2026-01-15") == nil)
    }

    @Test("Strategic-goods flags: the longest matching prefix, none for shorter or unknown codes")
    func strategicFlags() {
        let ref = Files.reference
        #expect(ref.strategicFlag(hsCode: "300490")?.category == "pharmaceuticals")
        #expect(ref.strategicFlag(hsCode: "85176200")?.prefix == "851762")
        #expect(ref.strategicFlag(hsCode: "8517") == nil, "shorter than the only 8517… prefix")
        #expect(ref.strategicFlag(hsCode: "3") == nil && ref.strategicFlag(hsCode: "") == nil)
        let flag = { (prefix: String, category: String) in
            ReferenceSnapshot.StrategicFlag(prefix: prefix, category: category, basis: "test", confidence: "heuristic")
        }
        let nested = ReferenceSnapshot(version: "t", hsChapters: [:], hsHeadings: [:],
                                       strategic: [flag("85", "chapter"), flag("851762", "item"), flag("8517", "heading")],
                                       countries: [:], airports: [:], fx: [:], customsMonthDates: [])
        #expect(nested.strategicFlag(hsCode: "85176210")?.category == "item")
        #expect(nested.strategicFlag(hsCode: "85171100")?.category == "heading")
        #expect(nested.strategicFlag(hsCode: "85011000")?.category == "chapter")
    }

    @Test("Malformed records go to the dead-letter topic with the field path")
    func malformed() {
        let h = harness()
        let bad = Files.parcel.replacingOccurrences(of: "\"weight_grams\":412", with: "\"weight_grams\":\"heavy\"")
        #expect(h.send(topic: "parcels.events", key: "P", value: bad) == [.deadLetter(kind: "decode", reason: "weight_grams: expected number, got string")])
        let reserved = Files.parcel.replacingOccurrences(of: "\"hub\":\"LGG\"", with: "\"hub\":\"LGG\",\"enrichment\":1")
        if case .deadLetter(_, let reason) = h.send(topic: "parcels.events", key: "P", value: reserved).first {
            #expect(reason.contains("reserved"))
        } else { Issue.record("reserved field accepted") }
        let rep = HandlerHarness(handler: DeclarationRepartitioner(output: byParcel))
        #expect(rep.send(topic: "customs.declarations", key: "D", value: "{\"schema\":\"customs.declaration/1\"") ==
                [.deadLetter(kind: "decode", reason: "unterminated object")])
        let ok = rep.outputs(of: rep.send(topic: "customs.declarations", key: "26BE000000123456H7", value: Files.declaration))
        #expect(ok == [.init(topic: byParcel, key: "LGG-P-0000481516", value: Files.declaration)])
        let reservedDeclaration = "{\"source\":{},\"valuation\":2," + Files.declaration.dropFirst()
        if case .deadLetter(_, let reason) = rep.send(topic: "customs.declarations", key: "D", value: reservedDeclaration).first {
            #expect(reason.contains("\"source\", a field name reserved"), "the first reserved key is named: \(reason)")
        } else { Issue.record("reserved field accepted") }
    }

    @Test("Enriched records, as the worker writes them, validate against their JSON Schemas")
    func schemaConformance() throws {
        let h = harness(window: .seconds(3600))
        var parcels: [[UInt8]] = [], declarations: [[UInt8]] = []
        func collect(_ results: [HandlerHarness.Result]) {
            for e in h.outputs(of: results) {
                if e.topic == "parcels.enriched" { parcels.append(Array(e.value!.utf8)) } else { declarations.append(Array(e.value!.utf8)) }
            }
        }
        collect(h.send(topic: byParcel, key: "LGG-P-0000481516", value: Files.declaration))
        collect(h.send(topic: "parcels.events", key: "LGG-P-0000481516", value: Files.parcel))
        let odd = Files.parcel.replacingOccurrences(of: "LGG-P-0000481516", with: "LGG-P-2").replacingOccurrences(of: "\"HGH\"", with: "\"ZZZ\"")
            .replacingOccurrences(of: "\"USD\"", with: "\"XTS\"").replacingOccurrences(of: "2026-11-27T22:14:03.512Z", with: "2026-11-28T02:00:00.000Z")
        collect(h.send(topic: byParcel, key: "LGG-P-3", value: Files.declaration.replacingOccurrences(of: "LGG-P-0000481516", with: "LGG-P-3")
            .replacingOccurrences(of: "26BE000000123456H7", with: "26BE000000000003H7")))
        collect(h.send(topic: "parcels.events", key: "LGG-P-2", value: odd))  // closes LGG-P-3's window: null observation
        #expect(parcels.count == 2 && declarations.count == 2)
        let r = try SchemaValidator.validate(["parcel.enriched": parcels, "customs.enriched": declarations])
        #expect(r.status == 0, "\(r.output)")
    }
}
