import Codec
import Testing

@Suite("Upstream records decode, encode and round-trip")
struct RecordTests {
    func parcel(_ bytes: [UInt8]) throws -> ParcelEvent {
        try bytes.withUnsafeBytes { try ParcelEvent(json: $0) }
    }

    func declaration(_ bytes: [UInt8]) throws -> CustomsDeclaration {
        try bytes.withUnsafeBytes { try CustomsDeclaration(json: $0) }
    }

    func access(_ bytes: [UInt8]) throws -> AccessLog {
        try bytes.withUnsafeBytes { try AccessLog(json: $0) }
    }

    @Test("The contract's parcel event decodes to the right values")
    func parcelFixture() throws {
        let p = try parcel(Fixtures.parcel)
        #expect(p.eventID == "6f1c2a7e-3b9d-4c1e-9a51-0d2f4b7c8e01")
        #expect(p.eventType == .sorted)
        #expect(p.occurredAt.rfc3339 == "2026-11-27T22:14:03.512Z")
        #expect(p.flight == ParcelEvent.Flight(number: "CK231", originAirport: "HGH"))
        #expect(p.consignee.email == "marie.dupont@example.be")
        #expect(p.weightGrams == 412)
        #expect(p.declaredValue == Money(amount: Amount("23.4")!, currency: "USD"))
        #expect(p.items == [ParcelEvent.Item(description: "Bluetooth earphones", hsCode: "851762", quantity: 1)])
        #expect(p.customsDeclarationID == "26BE000000123456H7")
    }

    @Test("The contract's declaration and access log decode to the right values")
    func otherFixtures() throws {
        let d = try declaration(Fixtures.declaration)
        #expect(d.regime == "H7")
        #expect(d.iossNumber == "IM3720001234")
        #expect(d.items[0].intrinsicValue.amount == Amount("21.5")!)
        #expect(d.items[0].netMassGrams == 300)
        #expect(d.vatDeclared?.amount == Amount("5.17")!)
        #expect(d.consignee.email == nil)
        let a = try access(Fixtures.access)
        #expect(a.principal.id == "svc-flow-sync" && a.principal.role == "integration")
        #expect(a.source.asn == 64500 && a.source.country == "DE")
        #expect(a.resource.kind == "flow_report" && a.resource.id == nil && a.resource.filter == "lane=HGH-LGG&period=2026-11")
        #expect(a.records == 1250 && a.bytes == 480000 && !a.denied)
    }

    @Test("Encoding is deterministic and decodes back to the same record")
    func roundTrip() throws {
        let p = try parcel(Fixtures.parcel)
        #expect(p.jsonBytes == p.jsonBytes)
        #expect(try parcel(p.jsonBytes) == p)
        let d = try declaration(Fixtures.declaration)
        #expect(try declaration(d.jsonBytes) == d)
        let a = try access(Fixtures.access)
        #expect(try access(a.jsonBytes) == a)
        // The hub's own examples are already in canonical form.
        #expect(String(decoding: a.jsonBytes, as: UTF8.self) == String(decoding: Fixtures.access, as: UTF8.self))
        #expect(String(decoding: d.jsonBytes, as: UTF8.self) == String(decoding: Fixtures.declaration, as: UTF8.self))
    }

    @Test("Unknown fields are ignored, missing optional fields are fine, a newer minor version decodes")
    func tolerant() throws {
        let p = try parcel(Fixtures.edited(Fixtures.parcel, [
            ("\"schema\":\"parcel.event/1\"", "\"schema\":\"parcel.event/1.3\",\"new_field\":{\"nested\":[1,2,{\"x\":null}]}"),
            ("\"mawb\":\"160-12345675\",", ""),
            (",\"customs_declaration_id\":\"26BE000000123456H7\"", ""),
            ("\"flight\":{\"number\":\"CK231\",\"origin_airport\":\"HGH\"}", "\"flight\":null"),
        ]))
        #expect(p.schemaVersion.minor == 3)
        #expect(p.mawb == nil && p.customsDeclarationID == nil && p.flight == nil)
    }

    @Test("Errors name the field path and what was wrong", arguments: [
        ("\"hs_code\":\"851762\"", "\"hs_code\":851762", "items[0].hs_code: expected string, got number"),
        ("\"weight_grams\":412", "\"weight_grams\":\"412\"", "weight_grams: expected number, got string"),
        ("\"weight_grams\":412", "\"weight_grams\":-412", "weight_grams: must not be negative, got -412"),
        ("\"weight_grams\":412", "\"weight_grams\":1e400", "weight_grams: expected integer, got 1e400"),
        ("\"amount\":23.4", "\"amount\":1e400", "declared_value.amount: amount out of range: 1e400"),
        ("\"amount\":23.4", "\"amount\":NaN", "declared_value.amount: expected number, got invalid JSON ('N' at offset 582)"),
        ("\"amount\":23.4", "\"amount\":-23.4", "declared_value.amount: must not be negative, got -23.4"),
        ("\"city\":\"Bruxelles\",", "", "consignee.city: missing required field"),
        ("\"schema\":\"parcel.event/1\"", "\"schema\":\"parcel.event/2\"", "schema: unknown major version 2 of parcel.event (this build reads 1)"),
        ("2026-11-27T22:14:03.512Z", "0000-01-01T00:00:00.000Z", "occurred_at: timestamp year 0 is outside 1970–2200"),
        ("2026-11-27T22:14:03.512Z", "9999-12-31T23:59:59.999Z", "occurred_at: timestamp year 9999 is outside 1970–2200"),
        ("2026-11-27T22:14:03.512Z", "2026-02-30T00:00:00.000Z", "occurred_at: expected RFC 3339 timestamp, got \"2026-02-30T00:00:00.000Z\""),
        ("\"weight_grams\":412", "\"weight_grams\":412,\"weight_grams\":1", "weight_grams: duplicate key \"weight_grams\""),
        ("\"country\":\"BE\"", "\"country\":\"Belgium\"", "consignee.country: expected ISO 3166-1 alpha-2 country code, got \"Belgium\""),
        ("\"quantity\":1", "\"quantity\":0", "items[0].quantity: must be at least 1, got 0"),
    ])
    func errorPaths(old: String, new: String, expected: String) {
        let error = #expect(throws: DecodeError.self) { try parcel(Fixtures.edited(Fixtures.parcel, [(old, new)])) }
        #expect(error?.description == expected)
    }

    @Test("Hostile bytes are rejected with a reason, never a crash")
    func hostile() {
        let cases: [([UInt8], String)] = [
            ([0xEF, 0xBB, 0xBF] + Fixtures.parcel, "byte-order mark is not allowed"),
            (Array(Fixtures.parcel.prefix(200)), "got end of input"),
            (Fixtures.edited(Fixtures.parcel, [("Marie", "Ma\u{FFFD}rie")]).map { $0 == 0xEF ? 0xFF : $0 }, "invalid UTF-8"),
            (Array("[".utf8) + Array(repeating: UInt8(ascii: "["), count: 63) + Array(repeating: UInt8(ascii: "]"), count: 64), "expected object, got array"),
            (Array(String(repeating: "{\"a\":", count: 64).utf8) + Array("1".utf8) + Array(repeating: UInt8(ascii: "}"), count: 64), "nesting deeper than 32 levels"),
            (Array("".utf8), "expected object, got end of input"),
            (Array("not json".utf8), "expected object, got invalid JSON"),
            (Fixtures.parcel + Array("{}".utf8), "unexpected data after the JSON value"),
            (Fixtures.edited(Fixtures.parcel, [("Marie Dupont", "Marie\u{01}Dupont")]), "control character 0x1 in string"),
        ]
        for (bytes, fragment) in cases {
            let error = #expect(throws: DecodeError.self) { try parcel(bytes) }
            #expect(error?.description.contains(fragment) == true, "\(String(describing: error)) should mention \(fragment)")
        }
    }

    @Test("Escapes decode, including surrogate pairs; -0 is zero")
    func escapes() throws {
        let p = try parcel(Fixtures.edited(Fixtures.parcel, [
            ("\"Marie Dupont\"", "\"Marie \\\"Mimi\\\" Dupont \\ud83d\\ude00 \\u00e9\\n\""),
            ("\"quantity\":1", "\"quantity\":1"), ("\"weight_grams\":412", "\"weight_grams\":-0"),
        ]))
        #expect(p.consignee.name == "Marie \"Mimi\" Dupont 😀 é\n")
        #expect(p.weightGrams == 0)
        #expect(try parcel(p.jsonBytes).consignee.name == p.consignee.name)
    }
}
