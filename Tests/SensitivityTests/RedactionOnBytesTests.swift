import Codec
import Foundation
import Generator
@testable import Sensitivity
import Testing
import TestSupport
import WorkerRuntime

/// Redacting on the bytes must give what redacting the tree gives (the tree is the definition).
@Suite("Redaction on the bytes equals redaction of the tree")
struct RedactionOnBytesTests {
    static let redactor = Redactor(policy: Setup.policy, pseudonymizer: Pseudonymizer(key: Array("test key of sixteen bytes+".utf8), keyID: "k-test"))
    static let source = Provenance(topic: "parcels.enriched", partition: 3, offset: 1234)

    /// Enriched parcel events and declarations of generated traffic, with personal data in some descriptions.
    static let corpus: [(kind: String, json: [UInt8])] = {
        var options = TrafficGenerator.Options()
        options.seed = 11
        options.start = Timestamp(rfc3339: "2026-11-27T06:00:00Z")!
        options.piiRate = 0.3
        var generator = TrafficGenerator(options: options)
        let e = Setup.enrichment()
        var out: [(String, [UInt8])] = []
        while out.count < 3_000 {
            let r = generator.next()
            let sent: [HandlerHarness.Emitted]
            switch r.topic {
            case "parcels.events": sent = e.outputs(of: e.send(topic: "parcels.events", key: r.key, value: String(decoding: r.value, as: UTF8.self)))
            case "customs.declarations":
                guard let d = try? r.value.withUnsafeBytes({ try CustomsDeclaration(json: $0) }) else { continue }
                sent = e.outputs(of: e.send(topic: "by-parcel", key: d.parcelID, value: String(decoding: r.value, as: UTF8.self)))
            default: continue
            }
            for o in sent where o.topic == "parcels.enriched" || o.topic == "customs.enriched" {
                out.append((o.topic == "parcels.enriched" ? "parcel" : "declaration", Array(o.value!.utf8)))
            }
        }
        return out
    }()

    enum Outcome: Equatable {
        case output([UInt8])
        case error
    }

    static func onBytes(_ json: [UInt8], kind: String) -> Outcome {
        json.withUnsafeBytes { b in
            var w = JSONWriter()
            do {
                try redactor.redact(json: b, kind: kind, source: source, withContact: kind == "parcel", into: &w)
                return .output(w.bytes)
            } catch { return .error }
        }
    }

    static func onTree(_ json: [UInt8], kind: String) -> Outcome {
        guard var tree = try? json.withUnsafeBytes({ try JSONValue(json: $0) }) else { return .error }
        redactor.redact(&tree, kind: kind, source: source, withContact: kind == "parcel")
        return .output(tree.jsonBytes)
    }

    /// Equal as JSON: the same members in the same order with the same values (copied parts may
    /// spell escapes and whitespace as the input did).
    static func sameJSON(_ a: Outcome, _ b: Outcome) -> Bool {
        switch (a, b) {
        case (.error, .error): return true
        case (.output(let x), .output(let y)):
            let tx = try? x.withUnsafeBytes { try JSONValue(json: $0) }, ty = try? y.withUnsafeBytes { try JSONValue(json: $0) }
            return tx != nil && tx == ty
        default: return false
        }
    }

    @Test("The default policy redacts both kinds on the bytes")
    func planned() {
        #expect(Self.redactor.plans["parcel"] != nil && Self.redactor.plans["declaration"] != nil)
    }

    @Test("Generated enriched records: byte for byte the same output")
    func generated() {
        let kinds = Dictionary(grouping: Self.corpus, by: \.kind).mapValues(\.count)
        #expect(kinds["parcel", default: 0] > 1_000 && kinds["declaration", default: 0] > 300, "\(kinds)")
        var differing = 0, masked = 0
        for (kind, json) in Self.corpus {
            let bytes = Self.onBytes(json, kind: kind), tree = Self.onTree(json, kind: kind)
            if bytes != tree {
                differing += 1
                if differing <= 3, case .output(let b) = bytes, case .output(let t) = tree {
                    Issue.record("differs:\n  bytes \(String(decoding: b, as: UTF8.self))\n  tree  \(String(decoding: t, as: UTF8.self))")
                }
            }
            if case .output(let b) = tree, String(decoding: b, as: UTF8.self).contains("\"path\":\"items[0].description\",\"classes\":[\"commercial\",\"personal_data\"]") { masked += 1 }
        }
        #expect(differing == 0)
        #expect(masked > 100, "the corpus has personal data in free text to mask")
    }

    /// Variations of a generated record that take the less travelled ways.
    static func variations(of record: JSONValue) -> [(String, [UInt8])] {
        guard case .object(let members) = record else { return [] }
        func bytes(_ v: JSONValue) -> [UInt8] { v.jsonBytes }
        func with(_ edit: (inout [JSONValue.Member]) -> Void) -> [UInt8] {
            var m = members
            edit(&m)
            return bytes(.object(m))
        }
        func editConsignee(_ edit: @escaping (inout [JSONValue.Member]) -> Void) -> [UInt8] {
            with { m in
                guard let i = m.firstIndex(where: { $0.key == "consignee" }), case .object(var c) = m[i].value else { return }
                edit(&c)
                m[i].value = .object(c)
            }
        }
        let compact = String(decoding: bytes(record), as: UTF8.self)
        var out: [(String, [UInt8])] = [
            ("members reversed: consignee after the free text, rules' fields out of document order", with { $0.reverse() }),
            ("no source", with { $0.removeAll { $0.key == "source" } }),
            ("null source", with { m in if let i = m.firstIndex(where: { $0.key == "source" }) { m[i].value = .null } }),
            ("consignee with unknown keys and no contact", editConsignee { c in
                c.removeAll { $0.key == "email" || $0.key == "phone" }
                c.insert(.init("vat_id", .string("BE0123456789")), at: 0)
                c.append(.init("loyalty", .number("42")))
                c.append(.init("notes", .null))
                c.append(.init("extra", .object([.init("a", .string("b"))])))
            }),
            ("consignee values of other types", editConsignee { c in
                for i in c.indices where c[i].key == "name" { c[i].value = .number("7") }
                for i in c.indices where c[i].key == "postal_code" { c[i].value = .number("1000") }
                for i in c.indices where c[i].key == "street" { c[i].value = .null }
                for i in c.indices where c[i].key == "email" { c[i].value = .array([.string("x@example.be")]) }
            }),
            ("consignee not an object", with { m in if let i = m.firstIndex(where: { $0.key == "consignee" }) { m[i].value = .string("Marie Dupont") } }),
            ("no consignee", with { $0.removeAll { $0.key == "consignee" } }),
            ("items of other shapes", with { m in
                if let i = m.firstIndex(where: { $0.key == "items" }), case .array(var items) = m[i].value, !items.isEmpty {
                    items.append(.string("not an item"))
                    items.append(.object([.init("description", .number("12"))]))
                    items.append(.object([.init("description", .null)]))
                    items.append(.object([.init("description", .string("call +32470123456 or write a@example.be"))]))
                    m[i].value = .array(items)
                }
            }),
            ("items an object", with { m in if let i = m.firstIndex(where: { $0.key == "items" }) { m[i].value = .object([.init("description", .string("x"))]) } }),
            ("a field the redactor writes, already there", with { $0.append(.init("sensitivity", .string("public"))) }),
            ("upstream_source already there", with { $0.insert(.init("upstream_source", .null), at: 0) }),
        ]
        // Spellings the tree does not keep: whitespace, escapes, a key with an escape.
        out.append(("whitespace", Array(compact.replacingOccurrences(of: "\",\"", with: "\" ,\n\t\"").replacingOccurrences(of: "\":", with: "\" : ").utf8)))
        out.append(("escapes", Array(compact.replacingOccurrences(of: "\"name\":\"", with: "\"n\\u0061me\":\"")
            .replacingOccurrences(of: "\"description\":\"", with: "\"description\":\"\\u00e9\\/ ")
            .replacingOccurrences(of: "\"merchant\":{", with: "\"merchant\":{\"\\u00e9sc\":\"\\u0041\\/\",").utf8)))
        // Malformed: both must refuse.
        out.append(("repeated key in a copied object", Array(compact.replacingOccurrences(of: "\"merchant\":{", with: "\"merchant\":{\"x\":1,\"x\":2,").utf8)))
        out.append(("repeated key in the consignee", Array(compact.replacingOccurrences(of: "\"consignee\":{", with: "\"consignee\":{\"name\":\"A\",").utf8)))
        out.append(("repeated key in an item", Array(compact.replacingOccurrences(of: "\"description\":", with: "\"description\":1,\"description\":").utf8)))
        out.append(("repeated top-level key", Array(compact.replacingOccurrences(of: "\"merchant\":", with: "\"mawb\":null,\"merchant\":").utf8)))
        out.append(("trailing bytes", Array((compact + " x").utf8)))
        out.append(("truncated", Array(compact.utf8.dropLast(3))))
        out.append(("too deep inside a copied value", Array(compact.replacingOccurrences(of: "\"merchant\":", with: "\"merchant\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + ",\"m2\":").utf8)))
        // A key that is not UTF-8 inside a copied object: the tree repairs it.
        var invalid = Array(compact.replacingOccurrences(of: "\"merchant\":{", with: "\"merchant\":{\"k~~\":0,").utf8)
        if let at = invalid.indices.first(where: { invalid[$0...].starts(with: Array("k~~".utf8)) }) { invalid[at + 1] = 0xFF }
        out.append(("invalid UTF-8 in a copied key", invalid))
        return out
    }

    @Test("Hostile and unusual variations of generated records: the same JSON, or both refuse")
    func variations() throws {
        var checked = 0, refused = 0
        var seen: Set<String> = []
        for (kind, json) in Self.corpus.prefix(400) {
            let tree = try json.withUnsafeBytes { try JSONValue(json: $0) }
            for (name, variant) in Self.variations(of: tree) {
                let bytes = Self.onBytes(variant, kind: kind), reference = Self.onTree(variant, kind: kind)
                if !Self.sameJSON(bytes, reference), seen.insert(name).inserted {
                    Issue.record("\(kind), \(name): bytes \(bytes == .error ? "refused" : "wrote"), tree \(reference == .error ? "refused" : "wrote")")
                }
                checked += 1
                if reference == .error { refused += 1 }
            }
        }
        #expect(seen.isEmpty)
        #expect(checked > 5_000 && refused > 2_000, "\(checked) checked, \(refused) refused")
    }

    @Test("Rules that would see each other's edits leave the tree in charge")
    func interactingRules() throws {
        func rule(_ path: String, _ action: SensitivityPolicy.Action) -> SensitivityPolicy.FieldRule {
            SensitivityPolicy.FieldRule(path: path, classes: ["personal_data"], action: action, kind: action == .pseudonymise ? "x" : nil)
        }
        #expect(RedactionPlan(rules: [rule("consignee.name", .pseudonymise), rule("valuation", .keep), rule("valuation.items[].strategic", .keep)]) != nil)
        #expect(RedactionPlan(rules: [rule("items", .drop), rule("items[].description", .maskFreeText)]) == nil)
        #expect(RedactionPlan(rules: [rule("merchant", .pseudonymise), rule("merchant", .keep)]) == nil)
        #expect(RedactionPlan(rules: [rule("consignee", .keep)]) == nil)
        #expect(RedactionPlan(rules: [rule("consignee.vat_id", .keep)]) == nil)
        #expect(RedactionPlan(rules: [rule("source", .keep)]) == nil)
    }
}
