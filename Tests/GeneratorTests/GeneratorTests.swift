import Codec
import Foundation
@testable import Generator
import Testing

/// One labelled run, generated once and shared by the tests (about two simulated days).
struct Corpus: Sendable {
    let records: [GeneratedRecord]
    let truth: [TruthLine]

    static let shared = Corpus(count: 150_000)

    static func options(seed: UInt64 = 11) -> TrafficGenerator.Options {
        var o = TrafficGenerator.Options.labelled
        o.seed = seed
        o.start = Timestamp(rfc3339: "2026-11-27T06:00:00Z")!
        o.parcelsPerHour = 600
        o.exfiltrationAfterHours = 0  // every pattern within the corpus's two days
        return o
    }

    init(count: Int, options: TrafficGenerator.Options = Corpus.options()) {
        var g = TrafficGenerator(options: options)
        var records: [GeneratedRecord] = []
        var truth: [TruthLine] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            let r = g.next()
            truth += r.truth
            records.append(r)
        }
        truth += g.finish()
        self.records = records
        self.truth = truth
    }

    func truthObjects(_ kind: String? = nil) -> [[String: Any]] {
        truth.compactMap { line in
            let object = try! JSONSerialization.jsonObject(with: Data(line.json)) as! [String: Any]
            return kind == nil || object["kind"] as? String == kind ? object : nil
        }
    }

    var run: [String: Any] { truthObjects("run")[0] }
}

func decode(_ type: ParcelEvent.Type, _ r: GeneratedRecord) -> ParcelEvent? { r.value.withUnsafeBytes { try? ParcelEvent(json: $0) } }
func decode(_ type: CustomsDeclaration.Type, _ r: GeneratedRecord) -> CustomsDeclaration? { r.value.withUnsafeBytes { try? CustomsDeclaration(json: $0) } }
func decode(_ type: AccessLog.Type, _ r: GeneratedRecord) -> AccessLog? { r.value.withUnsafeBytes { try? AccessLog(json: $0) } }

func cents(_ m: Money) -> Int64 { m.amount.micros / 10_000 }

func total(_ d: CustomsDeclaration) -> Int64 { d.items.reduce(0) { $0 + cents($1.intrinsicValue) * $1.quantity } }

/// The IOSS pattern of the domain brief: IM + EU country code (or 900) + 7 digits.
func isValidIOSS(_ n: String) -> Bool {
    let codes: Set = ["040", "056", "100", "191", "196", "203", "208", "233", "246", "250", "276", "300", "348", "372", "380", "428",
                      "440", "442", "470", "528", "616", "620", "642", "703", "705", "724", "752", "900"]
    let u = Array(n.utf8)
    return u.count == 12 && n.hasPrefix("IM") && codes.contains(String(n.dropFirst(2).prefix(3))) && u[5...].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
}

@Suite("Traffic generator: labelled scenarios and ground truth")
struct GeneratorTests {
    let corpus = Corpus.shared

    @Test("The same seed gives the same records and truth; another seed does not")
    func determinism() {
        let a = Corpus(count: 30_000, options: Corpus.options(seed: 5))
        let b = Corpus(count: 30_000, options: Corpus.options(seed: 5))
        let c = Corpus(count: 30_000, options: Corpus.options(seed: 6))
        #expect(a.records.map(\.value) == b.records.map(\.value))
        #expect(a.records.map(\.key) == b.records.map(\.key))
        #expect(a.truth.map(\.json) == b.truth.map(\.json))
        #expect(a.records.map(\.value) != c.records.map(\.value))
    }

    @Test("Options() is clean: parcel events and declarations only, all decodable, no truth but the run line")
    func cleanByDefault() {
        var g = TrafficGenerator(options: TrafficGenerator.Options())
        var topics = Set<String>()
        for _ in 0..<20_000 {
            let r = g.next()
            topics.insert(r.topic)
            #expect(r.truth.isEmpty && r.headers.isEmpty && r.hostileForm == nil)
            let ok = r.topic == "parcels.events" ? decode(ParcelEvent.self, r) != nil : decode(CustomsDeclaration.self, r) != nil
            #expect(ok, "\(r.topic) \(r.key)")
        }
        #expect(topics == ["parcels.events", "customs.declarations"])
        #expect(g.finish().map(\.kind) == ["run"])
    }

    @Test("Every regular record decodes with the Codec types; hostile ones do not, or are flagged")
    func decoding() throws {
        var hostileForms = Set<String>()
        for r in corpus.records {
            switch r.kind {
            case .parcelEvent: #expect(decode(ParcelEvent.self, r) != nil, "\(r.key)")
            case .declaration: #expect(decode(CustomsDeclaration.self, r) != nil, "\(r.key)")
            case .accessLog: #expect(decode(AccessLog.self, r) != nil, "\(r.key)")
            case .inspection:
                let o = try #require(try JSONSerialization.jsonObject(with: Data(r.value)) as? [String: Any])
                #expect(o["schema"] as? String == "customs.inspection/1" && o["declaration_id"] as? String == r.key)
                #expect(["compliant", "fraud"].contains(o["outcome"] as? String) && o["findings"] is [String])
            case .duplicate:
                #expect(r.truth.count == 1 && r.truth[0].kind == "duplicate")
            case .hostile:
                let form = try #require(r.hostileForm)
                hostileForms.insert(form)
                let decodes: Bool = switch r.topic {
                case "parcels.events": decode(ParcelEvent.self, r) != nil
                case "customs.declarations": decode(CustomsDeclaration.self, r) != nil
                default: decode(AccessLog.self, r) != nil
                }
                switch form {
                case "empty_key": #expect(r.key.isEmpty)
                case "binary_headers": #expect(!r.headers.isEmpty)
                case "huge_value": #expect(r.value.count > 512 * 1024)
                default: #expect(!decodes, "hostile \(form) on \(r.topic) decodes")
                }
                #expect(r.truth.count == 1 && r.truth[0].kind == "hostile")
            }
        }
        #expect(hostileForms.count >= 10, "\(hostileForms.sorted())")
    }

    @Test("The run line is last and its counts equal the records produced")
    func runLine() {
        let kinds = corpus.truth.map(\.kind)
        #expect(kinds.last == "run" && kinds.filter { $0 == "run" }.count == 1)
        let ids = corpus.truth.map(\.scenarioID)
        #expect(Set(ids).count == ids.count, "scenario ids are unique")
        let run = corpus.run
        func count(_ kind: GeneratedRecord.Kind) -> Int { corpus.records.count { $0.kind == kind } }
        let arrivals = corpus.records.count { $0.kind == .parcelEvent && decode(ParcelEvent.self, $0)?.eventType == .arrived }
        #expect(run["parcels"] as? Int == arrivals)
        #expect(run["parcel_events"] as? Int == count(.parcelEvent))
        #expect(run["declarations"] as? Int == count(.declaration))
        #expect(run["access_events"] as? Int == count(.accessLog))
        #expect(run["inspections"] as? Int == count(.inspection))
        #expect(run["hostile"] as? Int == count(.hostile))
        #expect(run["duplicates"] as? Int == count(.duplicate))
        #expect(run["records"] as? Int == corpus.records.count)
        #expect(run["principals"] as? Int == 120)
        #expect(run["end"] as? String == corpus.records.map(\.time).max()!.rfc3339)
        let exfiltrating = Set(corpus.truthObjects("exfiltration").map { $0["principal_id"] as! String })
        var hours = Set<String>()
        for r in corpus.records where r.kind == .accessLog && !exfiltrating.contains(r.key) {
            hours.insert(r.key + "@" + String(r.time.millis / 3_600_000))
        }
        #expect(run["benign_principal_hours"] as? Int == hours.count)
    }

    @Test("Fraud: about the configured share, and every truth declaration exists and shows its pattern")
    func fraud() throws {
        var declarations: [String: CustomsDeclaration] = [:]
        var parcels: [String: ParcelEvent] = [:]
        for r in corpus.records {
            if r.kind == .declaration { declarations[r.key] = decode(CustomsDeclaration.self, r) }
            if r.kind == .parcelEvent, parcels[r.key] == nil { parcels[r.key] = decode(ParcelEvent.self, r) }
        }
        let frauds = corpus.truthObjects("fraud")
        let share = Double(frauds.count) / Double(declarations.count)
        #expect(share > 0.04 && share < 0.06, "fraud share \(share)")
        #expect(Set(frauds.map { $0["pattern"] as! String }) == Set(FraudPattern.allCases.map(\.rawValue)))
        // Most fraud comes from a few repeat sellers.
        var bySeller: [String: Int] = [:]
        for f in frauds { bySeller[f["seller_id"] as! String, default: 0] += 1 }
        let top = bySeller.values.sorted(by: >).prefix(20).reduce(0, +)
        #expect(Double(top) / Double(frauds.count) > 0.5, "top-20 sellers commit \(top) of \(frauds.count)")

        var ioSSSellers: [String: Set<String>] = [:]
        for d in declarations.values { if let n = d.iossNumber { ioSSSellers[n, default: []].insert(d.seller.id) } }
        var groups: [String: [CustomsDeclaration]] = [:], groupSizes: [String: Int] = [:]
        let fraudIDs = Set(frauds.map { $0["declaration_id"] as! String })
        for f in frauds {
            let id = f["declaration_id"] as! String
            let d = try #require(declarations[id], "fraud declaration \(id) not produced")
            let p = parcels[d.parcelID]
            #expect(f["parcel_id"] as? String == d.parcelID && f["seller_id"] as? String == d.seller.id)
            #expect(f["lodged_at"] as? String == d.lodgedAt.rfc3339)
            let declared = total(d)
            #expect(Int64(((f["declared_value_eur"] as! Double) * 100).rounded()) == declared)
            let trueValue = f["true_value_eur"] as! Double, evaded = f["evaded_eur"] as! Double
            #expect(evaded >= 0)
            switch f["pattern"] as! String {
            case "UNDERVALUATION":
                let ratio = Double(declared) / (trueValue * 100)
                #expect(ratio > 0.09 && ratio < 0.37, "\(id) ratio \(ratio)")
                #expect(evaded > 0)
                if let p { #expect(abs(Double(cents(p.declaredValue)) - Double(declared) * 1.16) <= 2, "parcel carries the low value") }
            case "SPLIT_CONSIGNMENT":
                let g = f["group"] as! String
                groups[g, default: []].append(d)
                groupSizes[g] = f["group_size"] as? Int
                #expect(declared < 15_000)
            case "WEIGHT_MISMATCH":
                if let p { #expect(Double(d.grossMassGrams) < 0.7 * Double(p.weightGrams), "\(id)") }
            case "ORIGIN_MISMATCH":
                #expect(!["CN", "HK"].contains(d.originCountry))
                if let p { #expect(p.flight?.originAirport != "HKG") }
            case "DESCRIPTION_MISMATCH":
                for item in d.items {
                    // (Personal data may follow the description after " — ".)
                    let vague = TrafficGenerator.vagueDescriptions.contains { item.description == $0 || item.description.hasPrefix($0 + " — ") }
                    let describedAs = TrafficGenerator.goods.first { item.description.hasPrefix($0.description) }
                    #expect(vague || describedAs.map { $0.chapter != item.hsCode.prefix(2) } == true, "\(item.description) \(item.hsCode)")
                }
            case "IOSS_INVALID":
                let n = try #require(d.iossNumber)
                #expect(!isValidIOSS(n), "\(n)")
            case "IOSS_SHARED":
                let n = try #require(d.iossNumber)
                #expect(isValidIOSS(n))
                #expect(ioSSSellers[n]!.count >= 5, "\(n) quoted by \(ioSSSellers[n]!.count) sellers")
            case "REGIME_MISUSE":
                #expect(d.regime == "H7" && declared > 15_000)
            default: Issue.record("unknown pattern \(f)")
            }
        }
        var complete = 0
        for (g, ds) in groups where ds.count == groupSizes[g] {
            complete += 1
            #expect(ds.map(total).reduce(0, +) > 15_000, "group \(g)")
            #expect(Set(ds.map(\.seller.id)).count == 1 && Set(ds.map(\.consignee)).count == 1)
            let times = ds.map(\.lodgedAt.millis)
            #expect(times.max()! - times.min()! < 16 * 3_600_000)
        }
        #expect(complete > 10)
        // Benign declarations: valid or no IOSS, H7 only up to 150 EUR, and some H1 above it.
        var benignH1 = 0
        for d in declarations.values where !fraudIDs.contains(d.declarationID) {
            if let n = d.iossNumber { #expect(isValidIOSS(n)) }
            if d.regime == "H7" { #expect(total(d) <= 15_000) } else { benignH1 += 1 }
        }
        #expect(benignH1 > 0)
    }

    @Test("Inspections: a small sample, 2–48 h after lodging, outcome true to the ground truth")
    func inspections() throws {
        var lodged: [String: Timestamp] = [:]
        for r in corpus.records where r.kind == .declaration { lodged[r.key] = r.time }
        let fraudPatterns = Dictionary(corpus.truthObjects("fraud").map { ($0["declaration_id"] as! String, $0["pattern"] as! String) }) { a, _ in a }
        var inspected = 0, fraudulent = 0
        for r in corpus.records where r.kind == .inspection {
            inspected += 1
            let o = try #require(try JSONSerialization.jsonObject(with: Data(r.value)) as? [String: Any])
            let at = try #require(Timestamp(rfc3339: o["inspected_at"] as! String))
            let lodgedAt = try #require(lodged[r.key], "inspected declaration \(r.key) not produced")
            #expect(at.millis - lodgedAt.millis >= 7_200_000 && at.millis - lodgedAt.millis <= 172_800_000)
            if let pattern = fraudPatterns[r.key] {
                fraudulent += 1
                #expect(o["outcome"] as? String == "fraud")
                #expect((o["findings"] as? [String])?.contains(pattern) == true)
                if pattern == "UNDERVALUATION" { #expect(o["corrected_value"] is [String: Any]) }
            } else {
                #expect(o["outcome"] as? String == "compliant" && (o["findings"] as? [String])?.isEmpty == true)
            }
        }
        #expect(inspected > 100 && fraudulent > 0)
    }

    @Test("Exfiltration: every pattern, and each truth window holds the principal's malicious events")
    func exfiltration() throws {
        let scenarios = corpus.truthObjects("exfiltration")
        #expect(Set(scenarios.map { $0["pattern"] as! String }) == Set(ExfiltrationPattern.allCases.map(\.rawValue)))
        var logs: [String: [AccessLog]] = [:]
        for r in corpus.records where r.kind == .accessLog { logs[r.key, default: []].append(decode(AccessLog.self, r)!) }
        for s in scenarios {
            let start = try #require(Timestamp(rfc3339: s["start"] as! String)), end = try #require(Timestamp(rfc3339: s["end"] as! String))
            let inWindow = logs[s["principal_id"] as! String, default: []].filter { $0.occurredAt >= start && $0.occurredAt <= end }
            #expect(inWindow.count >= s["events"] as! Int, "\(s)")
            switch s["pattern"] as! String {
            case "DENIED_BURST": #expect(inWindow.count { $0.denied } >= 30 && end.millis - start.millis <= 10 * 60_000)
            case "THIRD_COUNTRY_ACCESS": #expect(inWindow.contains { ["CN", "RU", "BY"].contains($0.source.country ?? "") })
            case "PII_HARVEST": #expect(Set(inWindow.filter { $0.resource.kind == "consignee" }.compactMap(\.resource.id)).count >= 150)
            case "FLOW_REPORT_HARVEST": #expect(inWindow.count { $0.resource.kind == "flow_report" && $0.action == "export" } >= 20)
            case "OFF_HOURS":
                let localHour = (start.millis / 3_600_000 + 1) % 24  // November: UTC+1
                #expect(localHour >= 1 && localHour < 4)
            default: break
            }
        }
        // Benign noise exists: some legitimate big exports and some night-time access by night-shift staff.
        let exports = logs.values.joined().filter { $0.action == "export" }
        #expect(exports.count > 100)
    }

    @Test("Personal data in text, duplicates and late records match their truth lines")
    func piiDuplicatesLate() throws {
        var firstEvent: [String: ParcelEvent] = [:], declarations: [String: CustomsDeclaration] = [:]
        var values = Set<[UInt8]>()
        var maxTime = Timestamp(millis: .min)
        var lateCount = 0, duplicateCount = 0
        for r in corpus.records {
            if r.kind == .parcelEvent, firstEvent[r.key] == nil { firstEvent[r.key] = decode(ParcelEvent.self, r) }
            if r.kind == .declaration { declarations[r.key] = decode(CustomsDeclaration.self, r) }
            for t in r.truth where t.kind == "late" {
                lateCount += 1
                #expect(r.time < maxTime, "a late record comes after later ones")
            }
            if r.kind == .duplicate {
                duplicateCount += 1
                #expect(values.contains(r.value), "a duplicate re-sends an earlier record exactly")
            }
            values.insert(r.value)
            maxTime = max(maxTime, r.time)
        }
        #expect(lateCount > 50 && duplicateCount > 50)
        let pii = corpus.truthObjects("pii_in_text")
        #expect(Set(pii.map { $0["form"] as! String }).count >= 9)
        for p in pii {
            let event = try #require(firstEvent[p["parcel_id"] as! String])
            let c = event.consignee, text = event.items[0].description
            let expected: String = switch p["form"] as! String {
            case "email": c.email!
            case "email_obfuscated": String(c.email!.split(separator: "@")[0]).split(separator: ".").first.map(String.init)!
            case "phone_e164": c.phone!
            case "phone_national": "0" + String(c.phone!.dropFirst(3).prefix(3))
            case "iban": "BE"
            case "name", "name_reordered": String(c.name.split(separator: " ").last!)
            case "name_uppercase": c.name.uppercased()
            case "name_lowercase": c.name.lowercased()
            case "name_unaccented": fold(c.name)
            default: c.street
            }
            #expect(text.contains(expected), "\(p) \(text)")
            // (The declaration may be lodged after the corpus ends.)
            if let id = p["declaration_id"] as? String, let d = declarations[id] {
                #expect(d.items[0].description == text)
            }
        }
    }

    @Test("Hostile IOSS and IBAN helpers: malformed numbers never match the IOSS pattern; IBANs pass mod 97")
    func helpers() {
        var g = TrafficGenerator(options: Corpus.options())
        for _ in 0..<500 { #expect(!isValidIOSS(g.malformedIOSS())) }
        for _ in 0..<100 {
            let iban = g.belgianIBAN().filter { $0 != " " }
            let rearranged = iban.dropFirst(4) + iban.prefix(4)
            var remainder = 0
            for ch in rearranged {
                let v = ch.isLetter ? Int(ch.asciiValue! - 55) : Int(ch.asciiValue! - 48)
                for d in String(v) { remainder = (remainder * 10 + Int(d.asciiValue! - 48)) % 97 }
            }
            #expect(remainder == 1 && iban.count == 16, "\(iban)")
        }
    }
}
