import Codec
@testable import Enrichment
import Foundation
import Generator
import ReferenceData
@testable import Sensitivity
import Testing
import TestSupport
import WorkerRuntime

enum Setup {
    static let root = Repo.root
    static let reference = try! ReferenceLoader.load(directory: "\(root)/reference")
    static let policy = try! SensitivityPolicy.load(path: "\(root)/policy/sensitivity.yaml")
    static let topics = SensitivityWorker.Topics(parcelsIn: "parcels.enriched", declarationsIn: "customs.enriched", accessIn: "access.logs",
                                                 parcelsOut: "parcels.redacted", declarationsOut: "customs.redacted", accessOut: "access.tagged")
    static func contract(_ name: String) -> String {
        try! String(contentsOfFile: "\(root)/Tests/CodecTests/Fixtures/\(name).json", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func sensitivity() -> HandlerHarness {
        let redactor = Redactor(policy: policy, pseudonymizer: Pseudonymizer(key: Array("test key of sixteen bytes+".utf8), keyID: "k-test"))
        let tagger = AccessTagger(policy: policy, hours: WorkingHours.parse(hours: "07:00-19:00", days: "mon-fri")!)
        return HandlerHarness(handler: SensitivityHandler(redactor: redactor, tagger: tagger, topics: topics), worker: "sensitivity-worker", reference: reference)
    }

    static func enrichment() -> HandlerHarness {
        HandlerHarness(handler: EnrichmentJoin(parcelsIn: "parcels.events", declarationsIn: "by-parcel", parcelsOut: "parcels.enriched",
                                               declarationsOut: "customs.enriched", window: .seconds(3600)),
                       stores: [StoreDefinition(EnrichmentJoin.store)], reference: reference)
    }
}

func json(_ text: String?) -> [String: Any] {
    (text.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]) ?? [:]
}

/// Lower-case, accents folded, whitespace collapsed: how the PII bar compares text.
func fold(_ s: String) -> String {
    s.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
}

@Suite("sensitivity-worker: redaction, classification, access tags")
struct SensitivityWorkerTests {
    @Test("The contract's parcel, enriched then redacted: pseudonyms, postcode region, classification; valid against its schema")
    func redactedParcel() throws {
        let e = Setup.enrichment()
        let enriched = e.outputs(of: e.send(topic: "parcels.events", key: "P", value: Setup.contract("parcel.event")))[0].value!
        let s = Setup.sensitivity()
        let out = s.outputs(of: s.send(topic: "parcels.enriched", key: "P", value: enriched, partition: 2))
        try #require(out.count == 1)
        #expect(out[0].topic == "parcels.redacted" && out[0].key == "LGG-P-0000481516")
        let r = json(out[0].value)
        let c = r["consignee"] as! [String: Any]
        for k in ["name", "street", "email", "phone"] { #expect((c[k] as? String)?.hasPrefix("ps_") == true, "\(k)") }
        #expect(c["postal_code"] as? String == "10" && c["city"] as? String == "Bruxelles" && c["country"] as? String == "BE")
        let text = out[0].value!
        for pii in ["Marie", "Dupont", "Rue de la Loi", "marie.dupont@example.be", "+32470123456"] { #expect(!text.contains(pii), "\(pii)") }
        let sens = r["sensitivity"] as! [String: Any]
        #expect(sens["level"] as? String == "restricted", "851762 is flagged strategic")
        #expect(Set(sens["classes"] as! [String]) == ["personal_data", "commercial", "supply_chain_flow", "strategic_goods"])
        #expect((sens["fields"] as! [[String: Any]]).contains { $0["path"] as? String == "consignee.name" })
        #expect((r["source"] as! [String: Any])["topic"] as? String == "parcels.enriched" && (r["source"] as! [String: Any])["partition"] as? Int == 2)
        #expect((r["upstream_source"] as! [String: Any])["topic"] as? String == "parcels.events")
        #expect((r["pseudonymisation"] as! [String: Any])["key_id"] as? String == "k-test")
        let v = try SchemaValidator.validate(["parcel.redacted": [Array(text.utf8)]])
        #expect(v.status == 0, "\(v.output)")
    }

    @Test("Across a generated corpus with personal data written into free text in many forms: zero occurrences in redacted records")
    func piiBar() throws {
        var options = TrafficGenerator.Options()
        options.seed = 7
        options.start = Timestamp(rfc3339: "2026-11-27T06:00:00Z")!
        var generator = TrafficGenerator(options: options)
        let e = Setup.enrichment(), s = Setup.sensitivity()
        var consignees: [Consignee] = []
        var redacted: [String] = []
        var n = 0
        while n < 1500 {
            let r = generator.next()
            guard r.topic == "parcels.events" else { continue }
            var event = try r.value.withUnsafeBytes { try ParcelEvent(json: $0) }
            let c = event.consignee
            let forms = [
                "Gift for \(c.name)", "FOR \(c.name.uppercased())!", "to \(c.name.split(separator: " ").reversed().joined(separator: ", "))",
                "\(c.name.replacingOccurrences(of: " ", with: "  ")) present", "deliver to \(c.street)", "call \(c.phone ?? "")",
                "email \(c.email ?? "")", "mail \((c.email ?? "").replacingOccurrences(of: "@", with: " (at) "))",
                // national format: 0 + subscriber number, in pairs ("0471 99 57 92")
                "tel 0\(String((c.phone ?? "").dropFirst(3).prefix(3))) \((c.phone ?? "").dropFirst(6).enumerated().map { $0.offset % 2 == 1 ? "\($0.element) " : "\($0.element)" }.joined())",
            ]
            event.items[0].description += " — " + forms[n % forms.count]
            consignees.append(c)
            for out in e.outputs(of: e.send(topic: "parcels.events", key: event.parcelID, value: String(decoding: event.jsonBytes, as: UTF8.self)))
            where out.topic == "parcels.enriched" {
                redacted += s.outputs(of: s.send(topic: "parcels.enriched", key: out.key, value: out.value)).compactMap(\.value)
            }
            n += 1
        }
        #expect(redacted.count == 1500)
        var leaks: [String] = []
        for (c, text) in zip(consignees, redacted) {
            let t = fold(text)
            let digits = text.filter(\.isNumber)
            for value in [c.name, c.street, c.email ?? "", c.phone ?? ""] where !value.isEmpty && t.contains(fold(value)) { leaks.append(value) }
            if let phone = c.phone, digits.contains(phone.filter(\.isNumber).dropFirst(2)) { leaks.append(phone) }
        }
        #expect(leaks.isEmpty, "\(leaks.count) leaks, e.g. \(leaks.prefix(5))")
    }

    @Test("Access events: data classes and level of the resource, personal-data records, jurisdiction, off hours (Brussels time)")
    func accessTags() throws {
        let s = Setup.sensitivity()
        // The contract example: a flow report exported from DE at 23:02 UTC = 00:02 in Brussels.
        let out = s.outputs(of: s.send(topic: "access.logs", key: "svc-flow-sync", value: Setup.contract("access.log")))
        let tags = json(out.first?.value)["tags"] as! [String: Any]
        #expect(tags["level"] as? String == "restricted")
        #expect(tags["data_classes"] as? [String] == ["commercial", "supply_chain_flow"])
        #expect(tags["personal_data_records"] as? Int == 0)
        #expect(tags["jurisdiction"] as? String == "eu")
        #expect(tags["off_hours"] as? Bool == true)
        #expect(tags["local_time"] as? String == "2026-11-28T00:02:11.870+01:00")
        #expect((json(out.first?.value)["provenance"] as? [String: Any])?["topic"] as? String == "access.logs")
        let consigneeRead = Setup.contract("access.log").replacingOccurrences(of: "\"flow_report\"", with: "\"consignee\"")
            .replacingOccurrences(of: "\"DE\"", with: "\"CN\"").replacingOccurrences(of: "2026-11-27T23:02:11.870Z", with: "2026-07-15T08:30:00.000Z")
        let tags2 = json(s.outputs(of: s.send(topic: "access.logs", key: "x", value: consigneeRead)).first?.value)["tags"] as! [String: Any]
        #expect(tags2["jurisdiction"] as? String == "third_country" && tags2["personal_data_records"] as? Int == 1250)
        #expect(tags2["off_hours"] as? Bool == false && tags2["local_time"] as? String == "2026-07-15T10:30:00.000+02:00", "summer time")
        let v = try SchemaValidator.validate(["access.tagged": [Array(out[0].value!.utf8)]])
        #expect(v.status == 0, "\(v.output)")
    }

    @Test("Without a pseudonym key the worker exits 78 saying so; the key never shows in --print-config")
    func keyRequired() throws {
        let missing = try WorkerProcess(executable: "sensitivity-worker", environment: ["CARGOWATCH_REFERENCE_DIR": "\(Setup.root)/reference"])
        #expect(missing.waitExit() == 78)
        #expect(missing.log.contains("pseudonym.key"), "\(missing.log)")
        let shown = try WorkerProcess(executable: "sensitivity-worker", environment: ["CARGOWATCH_PSEUDONYM_KEY": "super-secret-key-0123456789", "CARGOWATCH_REFERENCE_DIR": "\(Setup.root)/reference"], arguments: ["--print-config"])
        #expect(shown.waitExit() == 0)
        #expect(!shown.log.contains("super-secret-key") && shown.log.contains("pseudonym.key: <redacted>"), "\(shown.log)")
    }
}
