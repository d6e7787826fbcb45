import Codec

/// The exfiltration patterns injected into access logs.
public enum ExfiltrationPattern: String, Sendable, CaseIterable {
    case bulkExport = "BULK_EXPORT"
    case piiHarvest = "PII_HARVEST"
    case flowReportHarvest = "FLOW_REPORT_HARVEST"
    case thirdCountryAccess = "THIRD_COUNTRY_ACCESS"
    case offHours = "OFF_HOURS"
    case deniedBurst = "DENIED_BURST"
    case slowExfiltration = "SLOW_EXFILTRATION"
}

/// Someone (or something) on the hub's platform, with habits.
struct Principal: Sendable {
    enum Schedule: Sendable {
        /// Local (Europe/Brussels) working hours [from, to), wrapping past midnight for night shifts.
        case office(from: Int, to: Int, weekends: Bool)
        /// A job every `minutes`, round the clock.
        case job(minutes: Int)
    }

    let id: String, kind: String, org: String, role: String
    let schedule: Schedule
    /// Events per active hour (users) or per job run (services).
    let rate: Double
    /// Resource kinds of policy/sensitivity.yaml this principal habitually touches, with weights.
    let resources: [(String, Int)]
    /// Typical records per query / per export.
    let queryRecords: Double, exportRecords: Double
    /// Share of its events that are exports.
    let exportShare: Double
    /// Where it connects from: (country, ip, asn), the first is the usual one.
    let sources: [(country: String, ip: String, asn: Int64)]
    let client: String

    /// A day worker: never at work between 22:00 and 06:00 local.
    var dayWorker: Bool {
        if case .office(let from, let to, _) = schedule { return from >= 6 && to <= 22 && from < to }
        return false
    }

    static func population(_ n: Int, _ r: inout SeededRandom) -> [Principal] {
        let staffCount = n * 60 / 100, serviceCount = max(3, n * 15 / 100), brokerCount = n - staffCount - serviceCount
        var result: [Principal] = []
        let roles: [(role: String, resources: [(String, Int)])] = [
            ("customs_analyst", [("customs_declaration", 5), ("parcel", 3), ("consignee", 1), ("merchant", 2)]),
            ("ops_supervisor", [("manifest", 4), ("parcel", 5)]),
            ("data_analyst", [("flow_report", 4), ("manifest", 2), ("merchant", 2)]),
            ("sorting_lead", [("parcel", 6), ("manifest", 2)]),
            ("customer_service", [("parcel", 5), ("consignee", 3)]),
        ]
        let office = ("BE", "198.51.100.", Int64(5432))
        for i in 0..<staffCount {
            let role = roles[i % roles.count]
            let given = r.element(TrafficGenerator.givenNames), family = r.element(TrafficGenerator.familyNames)
            let id = "u-" + fold(given + "." + family).lowercased() + "-" + String(i)
            // A quarter of the operations staff work the night sort (LGG is a night hub).
            let night = (role.role == "sorting_lead" || role.role == "ops_supervisor") && r.chance(0.5)
            let startHour = night ? 22 : r.int(7...9)
            let home = r.element(["BE", "BE", "BE", "NL", "DE", "FR", "LU"])
            result.append(Principal(
                id: id, kind: "user", org: "lgg-hub", role: role.role,
                schedule: .office(from: startHour, to: (startHour + r.int(8...9)) % 24, weekends: night),
                rate: r.double(4...30), resources: role.resources, queryRecords: r.double(5...80), exportRecords: r.double(50...800),
                exportShare: role.role == "data_analyst" ? 0.25 : r.double(0.01...0.08),
                sources: [(office.0, office.1 + String(10 + i % 200), office.2), (home, "192.0.2." + String(i % 250), 6830 + Int64(i % 5))],
                client: "web"))
        }
        let jobs: [(name: String, org: String, resource: String, minutes: Int, action: String)] = [
            ("flow-sync", "platform-vendor", "flow_report", 60, "export"), ("manifest-feed", "platform-vendor", "manifest", 15, "export"),
            ("customs-bridge", "customs-it", "customs_declaration", 5, "query"), ("tracking-api", "carrier-gateway", "parcel", 5, "query"),
            ("merchant-sync", "platform-vendor", "merchant", 30, "export"),
        ]
        for i in 0..<serviceCount {
            let job = jobs[i % jobs.count]
            let cloud = r.element([("DE", "203.0.113.", Int64(24940)), ("IE", "203.0.113.", Int64(16509)), ("NL", "203.0.113.", Int64(8075))])
            result.append(Principal(
                id: "svc-" + job.name + "-" + String(i), kind: "service", org: job.org, role: "integration",
                schedule: .job(minutes: job.minutes), rate: 1, resources: [(job.resource, 1)],
                queryRecords: r.double(20...300), exportRecords: r.double(200...3000), exportShare: job.action == "export" ? 1 : 0,
                sources: [(cloud.0, cloud.1 + String(i), cloud.2)], client: "api"))
        }
        let brokers = ["Dhl Customs", "Kuehne", "Geodis", "Bpost Brokerage", "Rhenus", "Fiege"]
        for i in 0..<brokerCount {
            let firm = brokers[i % brokers.count]
            let country = r.element(["BE", "NL", "FR", "DE"])
            result.append(Principal(
                id: "brk-" + fold(firm).lowercased().replacingSpaces() + "-" + String(i), kind: "user", org: "broker-" + fold(firm).lowercased().replacingSpaces(),
                role: "customs_broker", schedule: .office(from: r.int(7...9), to: r.int(17...19), weekends: false),
                rate: r.double(3...20), resources: [("customs_declaration", 6), ("parcel", 3), ("merchant", 1)],
                queryRecords: r.double(5...50), exportRecords: r.double(20...300), exportShare: r.double(0.02...0.1),
                sources: [(country, "198.51.100." + String(200 + i % 50), 3215 + Int64(i % 7))], client: "web"))
        }
        return result
    }
}

/// An exfiltration scenario in flight: its truth line goes out with its last event.
struct ExfiltrationState {
    let id: String, pattern: ExfiltrationPattern, principal: Int, principalID: String
    let planned: Int
    var emitted = 0
    var first = Timestamp(millis: .max), last = Timestamp(millis: .min)

    func truthLine() -> TruthLine {
        .exfiltration(id: id, pattern: pattern, principalID: principalID, start: first, end: last, events: emitted)
    }
}

/// Europe/Brussels: UTC+1, UTC+2 from the last Sunday of March to the last Sunday of October (01:00 UTC).
func brusselsOffsetHours(_ t: Timestamp) -> Int {
    let year = t.year
    func lastSunday(_ month: Int) -> Int64 {
        let last = Timestamp.daysFromCivil(year: year, month: month, day: 31)
        let weekday = (last + 3) % 7  // 0 = Monday (1970-01-01 was a Thursday)
        return Int64(last - (weekday + 1) % 7) * 86_400_000 + 3_600_000
    }
    return t.millis >= lastSunday(3) && t.millis < lastSunday(10) ? 2 : 1
}

/// Drops accents: enough for the names and firms we generate.
func fold(_ s: String) -> String {
    let map: [Character: String] = ["ø": "o", "Ø": "O", "é": "e", "á": "a", "í": "i", "ó": "o", "ü": "u", "Ü": "U", "ö": "o", "ł": "l", "å": "a", "ä": "a", "ß": "ss"]
    return s.map { map[$0] ?? String($0) }.joined()
}

extension String {
    func replacingSpaces() -> String { split(separator: " ").joined(separator: "-") }
}

extension TrafficGenerator {
    static let lanes = ["HGH-LGG", "PVG-LGG", "TAO-LGG", "EHU-LGG", "SZX-LGG", "CAN-LGG", "HKG-LGG"]

    /// Whether a user principal works at this UTC hour (with occasional legitimate overtime).
    func working(_ p: Principal, index: Int, hourStart: Timestamp) -> Bool {
        guard case .office(let from, let to, let weekends) = p.schedule else { return true }
        let local = hourStart + Int64(brusselsOffsetHours(hourStart)) * 3_600_000
        let hour = Int(local.millis.floorDiv(3_600_000) % 24)
        let day = local.epochDay
        // The shift's day: a night shift that started yesterday evening belongs to yesterday.
        let shiftDay = from > to && hour < to ? day - 1 : day
        let weekday = (shiftDay + 3) % 7
        if weekday >= 5 && !weekends { return false }
        let inShift = from < to ? (hour >= from && hour < to) : (hour >= from || hour < to)
        if inShift { return true }
        // Overtime: about one day in 25 a few hours after the shift ends.
        let h = SeededRandom.mix(options.seed ^ UInt64(index) &* 0x9E37 ^ UInt64(bitPattern: Int64(shiftDay)) &* 0x85EB_CA6B)
        let extra = from < to && h % 25 == 0 ? Int(1 + (h >> 8) % 4) : 0
        return hour >= to && hour < to + extra
    }

    /// The benign access events of one hour, and at each UTC midnight the day's exfiltration plans.
    mutating func generateAccessHour() {
        let hourStart = accessGeneratedUntil
        accessGeneratedUntil = hourStart + 3_600_000
        // Scenarios begin after a quiet history (exfiltrationAfter): baselines are learned from the
        // stream, and a principal with no history cannot be "far above its baseline".
        let quietUntil = options.start + Int64(options.exfiltrationAfterHours) * 3_600_000
        if options.exfiltrationPerDay > 0 && hourStart >= quietUntil
            && (hourStart.millis % 86_400_000 == 0 || hourStart.millis.floorDiv(3_600_000) == quietUntil.millis.floorDiv(3_600_000)) {
            planExfiltrations(from: hourStart)
        }
        for (index, p) in principals.enumerated() {
            switch p.schedule {
            case .job(let minutes):
                // Regular runs at a fixed minute offset, a few seconds of jitter.
                let offset = Int64(index * 7 % minutes) * 60_000
                var t = hourStart + offset
                while t < accessGeneratedUntil {
                    accessEvent(p, index, at: t + rng.int64(0...20_000), action: p.exportShare > 0.5 ? "export" : "query",
                                resource: p.resources[0].0)
                    t = t + Int64(minutes) * 60_000
                }
            case .office:
                guard working(p, index: index, hourStart: hourStart) else { continue }
                let n = Int((p.rate * rng.double(0.6...1.4)).rounded())
                for _ in 0..<n {
                    let resource = pickResource(p)
                    let action = rng.chance(p.exportShare) ? "export" : rng.chance(0.5) ? "query" : "read"
                    accessEvent(p, index, at: hourStart + rng.int64(0...3_599_999), action: action, resource: resource)
                }
            }
        }
    }

    func weightedResource(_ p: Principal, _ x: UInt64) -> String {
        let total = p.resources.reduce(0) { $0 + $1.1 }
        var k = Int(x % UInt64(total))
        for (kind, w) in p.resources {
            if k < w { return kind }
            k -= w
        }
        return p.resources[0].0
    }

    mutating func pickResource(_ p: Principal) -> String { weightedResource(p, rng.next()) }

    /// One benign access event, with the noise rules have to live with: big legitimate exports,
    /// work from home, the occasional denied request.
    mutating func accessEvent(_ p: Principal, _ index: Int, at t: Timestamp, action: String, resource: String) {
        var records: Int64
        switch action {
        case "export":
            records = Int64(p.exportRecords * rng.logNormal(sigma: p.kind == "service" ? 0.1 : 0.5))
            if rng.chance(0.01) { records *= rng.int64(5...20) }  // month-end report, audit request
        case "query": records = Int64(p.queryRecords * rng.logNormal(sigma: 0.6))
        default: records = 1
        }
        let source = p.sources.count > 1 && rng.chance(0.15) ? p.sources[1] : p.sources[0]
        let outcome = rng.chance(0.005) ? "denied" : "allowed"
        let record = makeAccess(p, at: t, source: source, action: action, resource: resource, id: action == "read" ? resourceID(resource) : nil,
                                filter: action == "read" ? nil : filter(for: resource, at: t), records: outcome == "denied" ? 0 : max(1, records), outcome: outcome)
        emit(record, RecordMeta(eventID: lastAccessEventID, principal: index))
    }

    func resourceID(_ kind: String) -> String {
        let n = Int(SeededRandom.mix(UInt64(accessSerial)) % 20_000)
        switch kind {
        case "consignee": return "C-" + pad(n, 6)
        case "merchant": return "M-" + String(10000 + n % 400)
        case "customs_declaration": return "26BE" + pad(n, 12) + "H7"
        case "manifest": return "160-" + pad(n, 8)
        default: return "LGG-P-" + pad(n, 10)
        }
    }

    func filter(for kind: String, at t: Timestamp) -> String {
        let x = SeededRandom.mix(UInt64(accessSerial) ^ 0xF1)
        switch kind {
        case "flow_report": return "lane=" + TrafficGenerator.lanes[Int(x % 7)] + "&period=" + String(t.dateString.prefix(7))
        case "manifest": return "date=" + t.dateString + "&flight=" + TrafficGenerator.origins[Int(x % 7)].flightPrefix
        case "consignee", "customs_declaration", "parcel": return "date=" + t.dateString + "&country=" + TrafficGenerator.destinations[Int(x % 27)].country
        default: return "updated_since=" + t.dateString
        }
    }

    var lastAccessEventID: String { "acc-" + pad(accessSerial, 12) }

    mutating func makeAccess(_ p: Principal, at t: Timestamp, source: (country: String, ip: String, asn: Int64), action: String, resource: String,
                             id: String?, filter: String?, records: Int64, outcome: String) -> GeneratedRecord {
        accessSerial += 1
        let log = AccessLog(eventID: lastAccessEventID, occurredAt: t, principal: .init(id: p.id, kind: p.kind, org: p.org, role: p.role),
                            source: .init(ip: source.ip, country: source.country, asn: source.asn), action: action,
                            resource: .init(kind: resource, id: id, filter: filter), records: records,
                            bytes: records * (350 + Int64(accessSerial % 200)), outcome: outcome, client: p.client)
        return GeneratedRecord(topic: options.accessTopic, key: p.id, value: log.jsonBytes, time: t, kind: .accessLog)
    }

    /// The day's exfiltration scenarios, all their events queued now (they lie ahead in time).
    mutating func planExfiltrations(from dayStart: Timestamp) {
        let users = principals.indices.filter { principals[$0].kind == "user" }
        let dayWorkers = users.filter { principals[$0].dayWorker }
        guard !dayWorkers.isEmpty else { return }
        for _ in 0..<options.exfiltrationPerDay {
            let pattern = ExfiltrationPattern.allCases[patternRotation % ExfiltrationPattern.allCases.count]
            patternRotation += 1
            let index: Int
            switch pattern {
            case .offHours, .bulkExport, .piiHarvest, .slowExfiltration: index = rng.element(dayWorkers)
            case .flowReportHarvest:
                let candidates = dayWorkers.filter { !principals[$0].resources.contains { $0.0 == "flow_report" } }
                index = rng.element(candidates.isEmpty ? dayWorkers : candidates)
            case .thirdCountryAccess, .deniedBurst: index = rng.element(rng.chance(0.2) ? Array(principals.indices) : users)
            }
            let p = principals[index]
            let offset = Int64(brusselsOffsetHours(dayStart)) * 3_600_000
            /// A UTC time at a local hour of the day starting at dayStart (the next day if that is past).
            func local(_ hour: Double) -> Timestamp {
                let t = Timestamp(millis: dayStart.millis.floorDiv(86_400_000) * 86_400_000 + Int64(hour * 3_600_000) - offset)
                return t < dayStart ? t + 86_400_000 : t
            }
            var events: [(Timestamp, GeneratedRecord)] = []
            func add(_ t: Timestamp, action: String, resource: String, id: String? = nil, filter: String? = nil, records: Int64,
                     outcome: String = "allowed", source: (country: String, ip: String, asn: Int64)? = nil) {
                let r = makeAccess(p, at: t, source: source ?? p.sources[0], action: action, resource: resource, id: id,
                                   filter: filter, records: records, outcome: outcome)
                events.append((t, r))
            }
            switch pattern {
            case .bulkExport:
                let t0 = local(rng.double(10...15))
                for k in 0..<rng.int(1...3) {
                    add(t0 + Int64(k) * rng.int64(60_000...600_000), action: "export", resource: rng.element(["consignee", "customs_declaration", "parcel"]),
                        filter: "date>=2026-01-01", records: Int64(max(p.exportRecords, 200) * rng.double(30...100)))
                }
            case .piiHarvest:
                let t0 = local(rng.double(9...14)), n = rng.int(150...400), span = rng.int64(1_800_000...5_400_000)
                let first = rng.int(0...15_000)
                for k in 0..<n { add(t0 + span * Int64(k) / Int64(n), action: "read", resource: "consignee", id: "C-" + pad(first + k * 7 % 20_000, 6), records: 1) }
            case .flowReportHarvest:
                let t0 = local(rng.double(9...15)), n = rng.int(20...50)
                for k in 0..<n {
                    add(t0 + Int64(k) * rng.int64(30_000...180_000), action: "export", resource: "flow_report",
                        filter: "lane=" + TrafficGenerator.lanes[k % 7] + "&period=2026-" + pad(1 + k / 7 % 12, 2), records: rng.int64(500...3_000))
                }
            case .thirdCountryAccess:
                let t0 = local(rng.double(8...20)), n = rng.int(5...25)
                let source = rng.element([("CN", "203.0.113.250", Int64(4134)), ("RU", "203.0.113.251", Int64(12389)), ("BY", "203.0.113.252", Int64(6697))])
                for k in 0..<n {
                    let action = k % 4 == 3 ? "export" : "query"
                    add(t0 + Int64(k) * rng.int64(20_000...300_000), action: action, resource: weightedResource(p, rng.next()),
                        filter: "date=" + dayStart.dateString, records: action == "export" ? Int64(p.exportRecords) : rng.int64(5...100), source: source)
                }
            case .offHours:
                let t0 = local(rng.double(1...3.5)), n = rng.int(10...40)
                for k in 0..<n {
                    let action = k % 3 == 0 ? "export" : "query"
                    add(t0 + Int64(k) * rng.int64(30_000...240_000), action: action, resource: rng.element(["consignee", "customs_declaration", "flow_report"]),
                        filter: "date=" + dayStart.dateString, records: action == "export" ? Int64(p.exportRecords * rng.double(1...4)) : rng.int64(10...200))
                }
            case .deniedBurst:
                let t0 = local(rng.double(8...18)), n = rng.int(30...120), span = rng.int64(120_000...480_000)
                for k in 0..<n {
                    add(t0 + span * Int64(k) / Int64(n), action: rng.element(["read", "export", "query"]), resource: rng.element(["consignee", "flow_report", "customs_declaration", "merchant"]),
                        filter: "all", records: 0, outcome: "denied")
                }
            case .slowExfiltration:
                for day in 0..<rng.int(1...3) {
                    for _ in 0..<rng.int(3...6) {
                        add(local(rng.double(9.5...16.5)) + Int64(day) * 86_400_000, action: "export", resource: rng.element(["consignee", "customs_declaration"]),
                            filter: "date=" + dayStart.dateString, records: Int64(p.exportRecords * rng.double(1.5...3)))
                    }
                }
            }
            let id = nextScenarioID("X"), scenario = scenarioSerial
            exfiltration[scenario] = ExfiltrationState(id: id, pattern: pattern, principal: index, principalID: p.id, planned: events.count)
            for (t, r) in events { queue.push(r, RecordMeta(eventID: "", principal: index, scenario: scenario), due: t) }
        }
    }
}
