@testable import Aggregation
import Codec
import FleetConfig
import Foundation
import Testing
import TestSupport
import WorkerRuntime

/// A principal's access events as the sensitivity-worker tags them.
struct Access {
    var principal = "u-anna"
    var org = "hub", role = "analyst", kind = "user"
    var action = "read"
    var resource = "parcel"
    var resourceID: String? = nil
    var records = 20
    var country = "BE"
    var outcome = "allowed"
    var level = "confidential"
    var personal = 0
    var jurisdiction = "eu"
    var offHours = false

    func json(at t: Int64) -> String {
        let time = Timestamp(millis: t)
        let id = resourceID.map { "\"\($0)\"" } ?? "null"
        return #"{"schema":"access.log/1","event_id":"e-\#(principal)-\#(t)","occurred_at":"\#(time)","principal":{"id":"\#(principal)","kind":"\#(kind)","org":"\#(org)","role":"\#(role)"},"source":{"ip":"198.51.100.1","country":"\#(country)","asn":1},"action":"\#(action)","resource":{"kind":"\#(resource)","id":\#(id),"filter":null},"records":\#(records),"bytes":\#(records * 400),"outcome":"\#(outcome)","client":"web","tags":{"data_classes":["supply_chain_flow"],"level":"\#(level)","personal_data_records":\#(personal),"jurisdiction":"\#(jurisdiction)","off_hours":\#(offHours),"local_time":"2026-11-27T10:00:00.000+01:00","policy_version":"p"}}"#
    }
}

final class AccessRig {
    let h: HandlerHarness
    var alerts: [[String: Any]] = []
    var activity: [[String: Any]] = []

    /// `partitions`: the access task's partitions; `partition(principal)` says where a principal's
    /// events go. Peer observations go round to every partition, as the runtime's broadcast does
    /// (`share: false` drops them, as the worker did before it shared peer baselines).
    let partition: (String) -> Int32
    let share: Bool
    var peerObservations: [HandlerHarness.Emitted] = []

    init(settings: AlertSettings = AlertSettings(), partitions: Int32 = 1, share: Bool = true, partition: @escaping (String) -> Int32 = { _ in 0 }) {
        h = HandlerHarness(handler: AccessActivityTracker(spec: WindowSpec(size: .seconds(300), grace: .seconds(60)), settings: settings,
                                                          activityOut: "agg.access-activity", alertsOut: "alerts.access",
                                                          peersTopic: AccessRig.peersTopic),
                           stores: [StoreDefinition("activity"), StoreDefinition("profiles"), StoreDefinition("peers")],
                           partitions: Array(0..<partitions))
        h.context.partitionCounts[AccessRig.peersTopic] = partitions
        self.partition = partition
        self.share = share
    }

    static let peersTopic = "aggregation.peer-observations"

    func send(_ a: Access, at t: Int64) {
        for e in h.outputs(of: h.send(topic: "access.tagged", key: a.principal, value: a.json(at: t), partition: partition(a.principal))) {
            if e.topic == "alerts.access" { alerts.append(json(e.value)) }
            else if e.topic == AccessRig.peersTopic {
                peerObservations.append(e)
                if share { h.send(topic: e.topic, key: e.key, value: e.value, partition: e.partition ?? 0) }
            } else { activity.append(json(e.value)) }
        }
    }

    /// Two days of a day worker's habits: a few reads every 10 minutes, 08:00–17:00 UTC, weekdays and all.
    func habits(_ a: Access = Access(), days: Int = 2, start: Int64 = Timestamp(rfc3339: "2026-11-23T00:00:00Z")!.millis) {
        for d in 0..<days {
            for m in stride(from: 8 * 60, to: 17 * 60, by: 10) {
                var e = a
                e.records = 10 + (m % 30)
                send(e, at: start + Int64(d) * 86_400_000 + Int64(m) * 60_000)
            }
        }
    }

    func rules() -> [String] { alerts.compactMap { $0["rule"] as? String } }
}

let monday = Timestamp(rfc3339: "2026-11-23T00:00:00Z")!.millis
let day3 = monday + 2 * 86_400_000

@Suite("aggregation-worker: access activity and alert rules")
struct AlertTests {
    @Test("Steady habits: activity per window, no alert")
    func quiet() throws {
        let rig = AccessRig()
        rig.habits(days: 3)
        #expect(rig.alerts.isEmpty, "\(rig.alerts)")
        #expect(rig.activity.count > 100)
        let first = rig.activity[0]
        #expect(first["principal_id"] as? String == "u-anna" && first["events"] as? Int == 1)
        #expect((first["records_by_class"] as? [String: Any])?["supply_chain_flow"] as? Int == 10)
        let v = try SchemaValidator.validate(["agg.access-activity": rig.activity.prefix(5).map { Array(try! JSONSerialization.data(withJSONObject: $0)) }])
        #expect(v.status == 0, "\(v.output)")
    }

    @Test("BULK_EXPORT after warm-up, with evidence and a deterministic id; nothing during warm-up without a peer baseline")
    func bulk() throws {
        let rig = AccessRig()
        var big = Access()
        big.action = "export"; big.records = 50_000
        rig.send(big, at: monday + 9 * 3_600_000)  // day one: no baseline yet
        #expect(rig.alerts.isEmpty)
        var usual = Access()
        usual.action = "export"  // exports of 10–39 records every 10 minutes: the usual size
        rig.habits(usual, days: 2, start: monday + 86_400_000)
        let day4 = day3 + 86_400_000
        rig.send(big, at: day4 + 10 * 3_600_000)
        rig.send(Access(), at: day4 + 10 * 3_600_000 + 7 * 60_000)  // stream time passes window end + grace
        #expect(rig.rules() == ["BULK_EXPORT"], "\(rig.alerts)")
        let alert = try #require(rig.alerts.first)
        let evidence = alert["evidence"] as! [String: Any]
        #expect(evidence["observed"] as? Double == 50_000 && (evidence["threshold"] as? Double ?? 1e9) < 50_000)
        #expect((alert["window"] as? [String: Any])?["start"] as? String == "2026-11-26T10:00:00.000Z")
        let again = AccessRig()
        again.send(big, at: monday + 9 * 3_600_000)
        again.habits(usual, days: 2, start: monday + 86_400_000)
        again.send(big, at: day4 + 10 * 3_600_000)
        again.send(Access(), at: day4 + 10 * 3_600_000 + 7 * 60_000)
        #expect(again.alerts.first?["alert_id"] as? String == alert["alert_id"] as? String, "same principal, rule and window: same id")
        let v = try SchemaValidator.validate(["alert.access": [Array(try JSONSerialization.data(withJSONObject: alert))]])
        #expect(v.status == 0, "\(v.output)")
    }

    @Test("PII_HARVEST, FLOW_REPORT_HARVEST and DENIED_BURST each fire on their own figure")
    func breadth() {
        let rig = AccessRig()
        rig.habits(days: 2)
        var t = day3 + 9 * 3_600_000
        var pii = Access()
        pii.resource = "consignee"; pii.personal = 50; pii.records = 50; pii.level = "restricted"
        for i in 0..<60 { var e = pii; e.resourceID = "c\(i)"; rig.send(e, at: t + Int64(i) * 1000) }
        t += 3_600_000
        var flow = Access()
        flow.resource = "flow_report"; flow.level = "restricted"; flow.records = 1
        for _ in 0..<25 { rig.send(flow, at: t) }  // the same report 25 times: re-reading, not harvesting
        t += 3_600_000
        for i in 0..<25 { var e = flow; e.resourceID = "lane-\(i)"; rig.send(e, at: t + Int64(i) * 1000) }
        t += 3_600_000
        var denied = Access()
        denied.outcome = "denied"
        for i in 0..<40 { rig.send(denied, at: t + Int64(i) * 500) }
        rig.send(Access(), at: t + 3_600_000)
        #expect(rig.rules() == ["PII_HARVEST", "FLOW_REPORT_HARVEST", "DENIED_BURST"], "\(rig.alerts)")
    }

    @Test("DENIED_BURST counts over the span: a probe that straddles two windows, under the minimum in each, fires once")
    func deniedAcrossWindows() throws {
        let rig = AccessRig()
        rig.habits(days: 2)
        var denied = Access()
        denied.outcome = "denied"
        let boundary = day3 + 10 * 3_600_000  // 10:00, where one 5-minute window ends and the next begins
        for i in 0..<28 { rig.send(denied, at: boundary - 120_000 + Int64(i) * 9_000) }  // 14 before 10:00, 14 after
        rig.send(Access(), at: boundary + 3_600_000)
        #expect(rig.rules() == ["DENIED_BURST"], "\(rig.alerts)")
        let evidence = try #require(rig.alerts.first?["evidence"] as? [String: Any])
        #expect(evidence["observed"] as? Double == 28 && evidence["span_minutes"] as? Int == 15, "\(evidence)")

        // Profiles written before the appended fields still decode: before session 14 (no export
        // kinds), before session 13 (no session flags, no exports in the span) and before session
        // 9 (no denied counts either).
        var p = PrincipalProfile()
        p.recent[boundary] = TrailingCounts(personal: 3, flows: 2, denied: 9, exported: 500, exports: 2)
        p.sessionPending = true; p.sessionAlerted = true
        let session13 = Array(p.encode().dropLast(8 * 2))  // without the two (empty) kind maps
        #expect(try PrincipalProfile.decode(session13).kindDays.isEmpty)
        let session9 = try PrincipalProfile.decode(Array(session13.dropLast(8 * 4)))
        #expect(session9.recent[boundary] == TrailingCounts(personal: 3, flows: 2, denied: 9))
        #expect(!session9.sessionPending && !session9.sessionAlerted)
        let older = try PrincipalProfile.decode(Array(session13.dropLast(8 * 5)))
        #expect(older.recent[boundary] == TrailingCounts(personal: 3, flows: 2, denied: 0))
        p.kindDays = ["parcel": 3]; p.kindLastDay = ["parcel": 20_415]; p.unusualHourly = [489_960: 700]
        let now = try PrincipalProfile.decode(p.encode())
        #expect(now.recent[boundary] == p.recent[boundary] && now.sessionPending && now.sessionAlerted)
        #expect(now.kindDays == p.kindDays && now.kindLastDay == p.kindLastDay && now.unusualHourly == p.unusualHourly)
        // And an activity window written before session 14 (no exports by kind).
        var a = ActivityWindow()
        a.sensitiveExported = 40; a.exportedByKind = ["consignee": 40]
        #expect(try ActivityWindow.decode(Array(a.encode().dropLast(8 * 3 + 9))).exportedByKind.isEmpty)
        #expect(try ActivityWindow.decode(a.encode()).exportedByKind == ["consignee": 40])
    }

    @Test("THIRD_COUNTRY_ACCESS from a country new to the principal; OFF_HOURS by a day worker but not by a round-the-clock service")
    func jurisdictionAndHours() {
        let rig = AccessRig()
        rig.habits(days: 2)
        var abroad = Access()
        abroad.country = "RU"; abroad.jurisdiction = "third_country"; abroad.level = "restricted"
        rig.send(abroad, at: day3 + 9 * 3_600_000)
        var night = Access()
        night.offHours = true
        for i in 0..<5 { rig.send(night, at: day3 + 23 * 3_600_000 + Int64(i) * 30_000) }
        rig.send(Access(), at: day3 + 86_400_000)
        #expect(rig.rules() == ["THIRD_COUNTRY_ACCESS", "OFF_HOURS"], "\(rig.alerts)")

        let svc = AccessRig()
        var job = Access()
        job.principal = "svc-sync"; job.kind = "service"; job.role = "integration"
        for m in stride(from: Int64(0), to: 3 * 1440, by: 15) {
            var e = job
            let hour = (m / 60) % 24
            e.offHours = hour < 6 || hour >= 18
            svc.send(e, at: monday + m * 60_000)
        }
        #expect(svc.alerts.isEmpty, "\(svc.alerts)")
    }

    @Test("THIRD_COUNTRY_ACCESS while a principal warms up: judged against its peer group's usual countries, or its role's across orgs; with no baseline it holds back")
    func thirdCountryDuringWarmUp() {
        let rig = AccessRig()
        var remote = Access(principal: "u-carl")
        remote.country = "IN"; remote.jurisdiction = "third_country"
        rig.habits(remote, days: 2)
        #expect(rig.alerts.isEmpty, "a colleague who works from India every day: \(rig.alerts)")
        let nine = day3 + 9 * 3_600_000
        rig.send(Access(principal: "u-new"), at: nine)
        var stolen = Access(principal: "u-new")
        stolen.country = "RU"; stolen.jurisdiction = "third_country"; stolen.level = "restricted"
        rig.send(stolen, at: nine + 600_000)
        var fromIndia = stolen
        fromIndia.principal = "u-new2"; fromIndia.country = "IN"
        rig.send(fromIndia, at: nine + 700_000)
        // Another org's analyst: its own group is new, so the analysts' across orgs stand in.
        var otherOrg = stolen
        otherOrg.principal = "u-other"; otherOrg.org = "another-org"
        rig.send(otherOrg, at: nine + 800_000)
        // A role nobody has had yet: no baseline at all, so the rule holds back.
        var otherRole = otherOrg
        otherRole.principal = "u-auditor"; otherRole.role = "auditor"
        rig.send(otherRole, at: nine + 900_000)
        rig.send(Access(principal: "u-carl"), at: day3 + 86_400_000)  // closes the windows
        let third = rig.alerts.filter { $0["rule"] as? String == "THIRD_COUNTRY_ACCESS" }
        #expect(third.map { $0["principal_id"] as? String } == ["u-new", "u-other"], "\(rig.alerts)")
        #expect((third.first?["evidence"] as? [String: Any])?["baseline"] as? String == "peer")
    }

    @Test("Peer baselines span partitions: a new principal is judged against colleagues whose state lives on another partition")
    func peerBaselinesAcrossPartitions() throws {
        func run(share: Bool) -> AccessRig {
            let rig = AccessRig(partitions: 2, share: share) { $0 == "u-carl" ? 0 : 1 }
            var remote = Access(principal: "u-carl")
            remote.country = "IN"; remote.jurisdiction = "third_country"
            rig.habits(remote, days: 2)
            let nine = day3 + 9 * 3_600_000
            var stolen = Access(principal: "u-new")
            stolen.country = "RU"; stolen.jurisdiction = "third_country"; stolen.level = "restricted"
            rig.send(stolen, at: nine)
            var fromIndia = stolen
            fromIndia.principal = "u-new2"; fromIndia.country = "IN"
            rig.send(fromIndia, at: nine + 100_000)
            rig.send(Access(principal: "u-new"), at: day3 + 86_400_000)  // closes partition 1's windows
            return rig
        }
        let shared = run(share: true)
        let third = shared.alerts.filter { $0["rule"] as? String == "THIRD_COUNTRY_ACCESS" }
        #expect(third.map { $0["principal_id"] as? String } == ["u-new"], "\(shared.alerts)")
        #expect((third.first?["evidence"] as? [String: Any])?["baseline"] as? String == "peer")
        // Every observation went to both partitions, from partition 0 (only u-carl's windows closed there before day 3).
        let observations = shared.peerObservations
        #expect(!observations.isEmpty && observations.count % 2 == 0)
        #expect(Set(observations.map(\.partition)) == [0, 1])
        let first = try #require(observations.first?.value)
        let (o, from) = try Array(first.utf8).withUnsafeBytes { try PeerObservation.decode($0) }
        #expect(from == 0 && o.peerKey == "hub|analyst" && o.countries == ["IN"] && o.values.contains { $0.metric == .denied && $0.x == 0 })
        // Partition 1's own copy of the peer baseline is the same as partition 0's.
        #expect(shared.h.store("peers", partition: 1)?.get("hub|analyst") == shared.h.store("peers", partition: 0)?.get("hub|analyst"))

        // Without the broadcast (the worker before it shared peer baselines) partition 1 knows no
        // peer group: the stolen account's first day goes unjudged.
        let isolated = run(share: false)
        #expect(isolated.alerts.isEmpty, "\(isolated.alerts)")

        // A peer observation that cannot be read is a dead letter, not a crash.
        let bad = shared.h.send(topic: AccessRig.peersTopic, key: "hub|analyst", value: #"{"peer_group":"hub|analyst","from_partition":0,"values":[["nope",1]]}"#, partition: 1)
        guard case .deadLetter(let kind, let reason) = bad.first else { Issue.record("\(bad)"); return }
        #expect(kind == "decode" && reason.contains("unknown metric"), "\(reason)")
    }

    @Test("Clipped baseline updates: a harvest's first windows, still under the threshold, do not lift it out of reach")
    func clippedCounts() {
        func threshold(clip: Double?) -> (before: Double, after: Double) {
            var b = Baseline()
            for i in 0..<200 { b.add(Double(2 + i % 3), alpha: 0.05, clip: clip, floor: 0.5) }  // 2, 3, 4 pulls
            let before = b.mean + 6 * b.sd
            for x in [8.0, 10, 13] { b.add(x, alpha: 0.05, clip: clip, floor: 0.5) }  // a harvest gathering pace
            return (before, b.mean + 6 * b.sd)
        }
        let clipped = threshold(clip: Metric.flowPulls.clip), unclipped = threshold(clip: nil)
        #expect(clipped.after < clipped.before * 1.3, "\(clipped)")
        #expect(unclipped.after > unclipped.before * 1.8, "\(unclipped)")
        #expect(Metric.offHoursSession.clip == nil)
    }

    @Test("Paced harvests add up over the span; overtime that continues a working session is not OFF_HOURS")
    func pacingAndOvertime() {
        let rig = AccessRig()
        rig.habits(days: 3)
        var pii = Access()
        pii.resource = "consignee"; pii.personal = 1; pii.records = 1; pii.level = "restricted"
        let t = day3 + 86_400_000 + 9 * 3_600_000
        // 5 distinct consignees a window (no window alone reaches the minimum of 15), 20 minutes long.
        for i in 0..<20 { var e = pii; e.resourceID = "c\(i)"; rig.send(e, at: t + Int64(i) * 60_000) }
        rig.send(Access(), at: t + 3_600_000)
        #expect(rig.rules() == ["PII_HARVEST"], "\(rig.alerts)")
        let evidence = rig.alerts.first?["evidence"] as? [String: Any]
        #expect(evidence?["observed"] as? Double ?? 0 >= 15 && evidence?["span_minutes"] as? Int == 15)

        let late = AccessRig()
        late.habits(days: 3)
        // Day four: the usual 08:00–17:00, then working on until 21:00, off hours.
        late.habits(days: 1, start: monday + 3 * 86_400_000)
        var overtime = Access()
        overtime.offHours = true
        for m in stride(from: 17 * 60, to: 21 * 60, by: 1) { late.send(overtime, at: monday + 3 * 86_400_000 + Int64(m) * 60_000) }
        late.send(Access(), at: monday + 4 * 86_400_000 + 9 * 3_600_000)
        #expect(late.alerts.isEmpty, "\(late.alerts)")
    }

    @Test("A night that raised an alert does not teach the habit: the next night by the same principal alerts too")
    func alertedSessionsStayOutOfTheHabit() {
        let rig = AccessRig()
        rig.habits(days: 3)  // Monday to Wednesday, one working session a day
        var night = Access()
        night.offHours = true
        for i in 0..<5 { rig.send(night, at: day3 + 23 * 3_600_000 + Int64(i) * 30_000) }
        rig.habits(days: 1, start: monday + 3 * 86_400_000)  // Thursday at work
        for i in 0..<5 { rig.send(night, at: monday + 3 * 86_400_000 + 23 * 3_600_000 + Int64(i) * 30_000) }
        rig.send(Access(), at: monday + 5 * 86_400_000)
        // Counted, the first night would make one session in five begun off hours, over the 0.1 the rule allows.
        #expect(rig.rules() == ["OFF_HOURS", "OFF_HOURS"], "\(rig.alerts)")
        let second = rig.alerts.last?["evidence"] as? [String: Any]
        #expect(second?["usual_off_hours_share"] as? Double == 0 && second?["baseline"] as? String == "own", "\(String(describing: second))")

        // A profile written before session 13 counted its current session when it began: the habit leaves it out.
        var p = PrincipalProfile()
        p.sessions = 5; p.offHoursSessions = 1; p.sessionBeganOffHours = true
        let rules = AlertRules(settings: AlertSettings()), peers = Array(repeating: Baseline(), count: Metric.allCases.count)
        #expect(rules.offHoursHabit(p, peers)?.share == 0)
        p.sessionPending = true
        #expect(rules.offHoursHabit(p, peers)?.share == 0.2)
    }

    @Test("BULK_EXPORT adds up a dump cut into exports minutes apart; exports half-way to the threshold, or in a session that alerted, stay out of the usual size")
    func bulkOverTheSpan() throws {
        func exportSize(_ rig: AccessRig) throws -> Baseline {
            let bytes = try #require(rig.h.store("profiles")?.get("u-anna"))
            return try PrincipalProfile.decode(bytes).baselines[Metric.exportSize.rawValue]
        }
        var usual = Access()
        usual.action = "export"  // 10–39 records every 10 minutes: the threshold is the 2,000-record minimum
        let day4 = day3 + 86_400_000
        var part = Access()
        part.action = "export"; part.records = 1_200

        let rig = AccessRig()
        rig.habits(usual, days: 3)
        rig.send(part, at: day4 + 10 * 3_600_000 + 60_000)  // 10:01 and 10:07: two windows, under 2,000 in each
        rig.send(part, at: day4 + 10 * 3_600_000 + 7 * 60_000)
        rig.send(Access(), at: day4 + 11 * 3_600_000)
        #expect(rig.rules() == ["BULK_EXPORT"], "\(rig.alerts)")
        let evidence = try #require(rig.alerts.first?["evidence"] as? [String: Any])
        #expect(evidence["observed"] as? Double == 2_400 && evidence["exports"] as? Int == 2 && evidence["span_minutes"] as? Int == 15, "\(evidence)")
        // The first part, far above the usual size but under the threshold, did not join it.
        let spaced = AccessRig()
        spaced.habits(usual, days: 3)
        spaced.send(Access(), at: day4 + 9 * 3_600_000)  // closes day 3's windows
        let before = try exportSize(spaced)
        spaced.send(part, at: day4 + 10 * 3_600_000 + 60_000)
        spaced.send(Access(), at: day4 + 10 * 3_600_000 + 7 * 60_000)
        #expect(try exportSize(spaced).n == before.n && spaced.alerts.isEmpty, "\(spaced.alerts)")
        // 16 minutes apart, outside one span: nothing.
        spaced.send(part, at: day4 + 10 * 3_600_000 + 17 * 60_000)
        spaced.send(Access(), at: day4 + 11 * 3_600_000)
        #expect(spaced.alerts.isEmpty, "\(spaced.alerts)")

        // After the alert, the session's usual-sized exports are not learned either.
        let learned = try exportSize(rig)
        rig.send(usual, at: day4 + 11 * 3_600_000 + 60_000)
        rig.send(Access(), at: day4 + 11 * 3_600_000 + 10 * 60_000)
        #expect(try exportSize(rig).n == learned.n)
    }

    @Test("SLOW_EXFILTRATION: a day of exports well over the daily baseline, no single window over the bulk threshold; once a day")
    func slow() {
        var settings = AlertSettings()
        settings.slowMinRecords = 2000
        let rig = AccessRig(settings: settings)
        var daily = Access()
        daily.action = "export"; daily.records = 20
        rig.habits(daily, days: 4)  // the first, partial day does not count: three days of baseline
        var t = monday + 4 * 86_400_000 + 8 * 3_600_000
        var leak = Access()
        leak.action = "export"; leak.records = 150
        for _ in 0..<54 {  // 54 windows × 150 records (counted as at most 4 usual exports each), each window far below 2,000
            rig.send(leak, at: t)
            t += 10 * 60_000
        }
        rig.send(Access(), at: t + 3_600_000)
        #expect(rig.rules() == ["SLOW_EXFILTRATION"], "\(rig.alerts)")
    }

    @Test("SLOW_EXFILTRATION on kinds of data unusual for the principal and its role: a few hundred consignee records by an analyst who exports parcels alert; the same by a desk whose role exports consignees does not")
    func slowUnusualKind() {
        let rig = AccessRig()
        func exporter(_ principal: String, role: String, resource: String) -> Access {
            var a = Access()
            a.principal = principal; a.role = role; a.action = "export"; a.resource = resource
            return a
        }
        // Two days of each role's exports, every 10 minutes: 216 windows per role, over the 200 a
        // role needs. u-erin is a desk who has exported parcels only.
        let staff = [exporter("u-anna", role: "analyst", resource: "parcel"), exporter("u-bob", role: "analyst", resource: "parcel"),
                     exporter("u-dora", role: "desk", resource: "consignee"), exporter("u-erin", role: "desk", resource: "parcel")]
        for t in stride(from: monday + 8 * 3_600_000, to: monday + 2 * 86_400_000, by: 600_000) where (t / 3_600_000) % 24 < 17 {
            for a in staff { rig.send(a, at: t) }
        }
        // Day 3: u-erin (her first consignee exports, a kind her role exports) and u-anna (an
        // analyst, whose role never exports consignees) each export 3 × 200 consignee records,
        // hours apart, each far under BULK_EXPORT's 2,000.
        for (k, principal) in [(0, "u-anna"), (1, "u-erin")] {
            var leak = exporter(principal, role: k == 0 ? "analyst" : "desk", resource: "consignee")
            leak.records = 200
            for h in 0..<3 { rig.send(leak, at: day3 + Int64(9 + 2 * h) * 3_600_000 + Int64(k) * 60_000) }
        }
        rig.send(Access(), at: day3 + 16 * 3_600_000)
        let slow = rig.alerts.filter { $0["rule"] as? String == "SLOW_EXFILTRATION" }
        #expect(slow.count == 1 && rig.alerts.count == 1, "\(rig.alerts)")
        #expect(slow.first?["principal_id"] as? String == "u-anna")
        let evidence = slow.first?["evidence"] as? [String: Any]
        #expect(evidence?["unusual_kinds"] as? [String] == ["consignee"])
        #expect(evidence?["unusual_kind_records_24h"] as? Int == 600)
        #expect(evidence?["usual_kinds"] as? [String] == ["parcel"])

        // A new duty stops alerting once the principal has exported the kind on two earlier days:
        // day 4 alerts again (one earlier day), day 5 does not.
        var more = exporter("u-anna", role: "analyst", resource: "consignee")
        more.records = 200
        for d in 1...2 {
            for h in 0..<3 { rig.send(more, at: day3 + Int64(d) * 86_400_000 + Int64(9 + 2 * h) * 3_600_000) }
        }
        rig.send(Access(), at: day3 + 2 * 86_400_000 + 16 * 3_600_000)
        let days = rig.alerts.compactMap { ($0["window"] as? [String: Any])?["start"] as? String }
        #expect(days == ["2026-11-25T00:00:00.000Z", "2026-11-26T00:00:00.000Z"], "\(rig.alerts)")
    }

    @Test("A share setting over 1 is a configuration error that names its key")
    func shareSettings() throws {
        for key in ["aggregation.alerts.usual_kind_share", "aggregation.alerts.off_hours_max_share"] {
            let env = ["CARGOWATCH_" + key.uppercased().replacingOccurrences(of: ".", with: "_"): "1.5"]
            let config = try ConfigLoader.load(AggregationWorker.definition.spec, configFile: nil, environment: env)
            let error = #expect(throws: ConfigError.self) {
                try AggregationWorker.definition.tasks(config, RuntimeOptions(worker: AggregationWorker.name, config: config))
            }
            #expect(error?.key == key)
        }
    }

    @Test("Configured rules only")
    func disabled() {
        var settings = AlertSettings()
        settings.enabled = [.deniedBurst]
        let rig = AccessRig(settings: settings)
        rig.habits(days: 2)
        var big = Access()
        big.action = "export"; big.records = 50_000
        rig.send(big, at: day3 + 10 * 3_600_000)
        rig.send(Access(), at: day3 + 11 * 3_600_000)
        #expect(rig.alerts.isEmpty)
    }
}
