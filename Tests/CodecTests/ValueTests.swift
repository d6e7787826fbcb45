import Codec
import Testing

@Suite("Money and time are exact")
struct ValueTests {
    @Test("Decimal amounts are exact fixed point")
    func amounts() {
        #expect(Amount("0.1")! + Amount("0.2")! == Amount("0.3")!)
        #expect(Amount("23.4")!.description == "23.4")
        #expect(Amount("-0.005")!.description == "-0.005")
        #expect(Amount("1e2")!.description == "100")
        #expect(Amount("1.5E-3")!.description == "0.0015")
        #expect(Amount("0.0000005")!.micros == 1, "rounds half away from zero at the sixth decimal")
        #expect(Amount("150")! == Amount(units: 150))
        #expect(Amount("1e400") == nil)
        #expect(Amount("12abc") == nil)
        // 23.4 USD at 0.95 EUR/USD
        #expect(Amount("23.4")!.multiplied(by: Amount("0.95")!) == Amount("22.23")!)
        #expect(Amount("10")!.divided(by: Amount("3")!) == Amount("3.333333")!)
        #expect(Amount("1")!.divided(by: .zero) == nil)
    }

    @Test("Timestamps parse RFC 3339 and print canonical UTC milliseconds")
    func timestamps() {
        let t = Timestamp(rfc3339: "2026-11-27T22:14:03.512Z")!
        #expect(t.millis == 1_795_817_643_512)
        #expect(t.rfc3339 == "2026-11-27T22:14:03.512Z")
        #expect(Timestamp(rfc3339: "2026-11-27T23:14:03.512+01:00") == t)
        #expect(Timestamp(rfc3339: "2026-11-27T22:14:03Z")!.rfc3339 == "2026-11-27T22:14:03.000Z")
        #expect(Timestamp(rfc3339: "2024-02-29T00:00:00.1Z")!.rfc3339 == "2024-02-29T00:00:00.100Z")
        #expect(Timestamp(rfc3339: "2025-02-29T00:00:00Z") == nil)
        #expect(Timestamp(rfc3339: "1969-12-31T23:59:59.999Z")!.millis == -1)
        #expect(Timestamp(rfc3339: "2026-11-27 22:14:03.512Z") == t)
        #expect(t.dateString == "2026-11-27")
        // Found by ops/fuzz: more than three fraction digits and no zone crashed the parser.
        #expect(Timestamp(rfc3339: "2026-11-27T21:58:40.1011") == nil)
        #expect(Timestamp(rfc3339: "2026-11-27T21:58:40.1011Z")!.rfc3339 == "2026-11-27T21:58:40.101Z")
    }

    @Test("Schema versions: name/major[.minor]")
    func schemaVersions() {
        #expect(SchemaVersion.parse("parcel.event/1") == SchemaVersion(name: "parcel.event", major: 1))
        #expect(SchemaVersion.parse("parcel.event/1.4")?.minor == 4)
        #expect(SchemaVersion.parse("parcel.event") == nil)
        #expect(SchemaVersion.parse("parcel.event/x") == nil)
    }
}

@Suite("JSONValue keeps member order and number text, and edits by path")
struct JSONValueTests {
    func parse(_ text: String) throws -> JSONValue { try Array(text.utf8).withUnsafeBytes { try JSONValue(json: $0) } }

    @Test("Round trip of the contract examples is byte for byte")
    func roundTrip() throws {
        for name in ["parcel.event", "customs.declaration", "access.log"] {
            let bytes = Fixtures.bytes(name)
            let v = try bytes.withUnsafeBytes { try JSONValue(json: $0) }
            #expect(v.jsonBytes == bytes, "\(name)")
        }
        #expect(String(decoding: try parse("{\"a\": 1.50e2, \"b\" :[true,null]}").jsonBytes, as: UTF8.self) == "{\"a\":1.50e2,\"b\":[true,null]}")
    }

    @Test("Path updates reach every array element and report concrete paths")
    func pathUpdates() throws {
        var v = try parse("{\"c\":{\"name\":\"Marie\"},\"items\":[{\"d\":\"x\"},{\"d\":\"y\"},{\"e\":1}]}")
        var seen: [String] = []
        v.update(path: "items[].d") { path, value in
            seen.append(path)
            value = .string("*")
        }
        v.update(path: "c.name") { _, value in value = .null }
        v.update(path: "nope.x") { _, _ in Issue.record("missing paths are skipped") }
        #expect(seen == ["items[0].d", "items[1].d"])
        #expect(String(decoding: v.jsonBytes, as: UTF8.self) == "{\"c\":{\"name\":null},\"items\":[{\"d\":\"*\"},{\"d\":\"*\"},{\"e\":1}]}")
        #expect(throws: DecodeError.self) { try parse("{\"a\":1,\"a\":2}") }
    }

    @Test("Edits happen in place but a copy keeps its own value")
    func editsKeepValueSemantics() throws {
        let original = try parse("{\"c\":{\"name\":\"Marie\"},\"items\":[{\"d\":\"x\"}]}")
        var edited = original
        edited.update(path: "items[].d") { _, value in value = .string("*") }
        edited.update(JSONValue.Path("c.name")) { _, value in value = .null }
        edited["extra"] = .bool(true)
        #expect(String(decoding: original.jsonBytes, as: UTF8.self) == "{\"c\":{\"name\":\"Marie\"},\"items\":[{\"d\":\"x\"}]}")
        #expect(String(decoding: edited.jsonBytes, as: UTF8.self) == "{\"c\":{\"name\":null},\"items\":[{\"d\":\"*\"}],\"extra\":true}")
    }

    @Test("A repeated key is an error in small and in large objects")
    func duplicateKeys() throws {
        // Small objects are checked by a scan, large ones by a set: both sides of the switch.
        for size in [2, 15, 16, 17, 40] {
            let keys = (0..<size).map { "\"k\($0)\":\($0)" }
            #expect(try parse("{" + keys.joined(separator: ",") + "}")["k\(size - 1)"] == .number("\(size - 1)"))
            for repeated in [0, size / 2, size - 1] {
                let text = "{" + (keys + ["\"k\(repeated)\":0"]).joined(separator: ",") + "}"
                #expect(throws: DecodeError.self, "size \(size), k\(repeated) again") { try parse(text) }
            }
        }
    }
}
