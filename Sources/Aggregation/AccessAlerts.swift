import Codec
import Foundation
import WorkerRuntime

/// The alert rules of alerts.access.
public enum AlertRule: String, CaseIterable, Sendable {
    case bulkExport = "BULK_EXPORT"
    case piiHarvest = "PII_HARVEST"
    case flowReportHarvest = "FLOW_REPORT_HARVEST"
    case thirdCountryAccess = "THIRD_COUNTRY_ACCESS"
    case offHours = "OFF_HOURS"
    case deniedBurst = "DENIED_BURST"
    case slowExfiltration = "SLOW_EXFILTRATION"
}

/// Thresholds of the rules (settings `aggregation.alerts.*`, documented in docs/configuration.md).
public struct AlertSettings: Sendable {
    public var enabled = Set(AlertRule.allCases)
    /// A principal's own baseline counts once it has this much event time and this many active windows.
    public var warmupMs: Int64 = 24 * 3_600_000
    public var minWindows: Int64 = 12
    /// A peer group's baseline counts once it has this many windows.
    public var minPeerWindows: Int64 = 30
    /// "Far above": at least `factor` × the baseline mean and `sigmas` standard deviations above it.
    public var factor = 10.0
    public var sigmas = 6.0
    public var bulkMinRecords: Int64 = 2_000
    public var piiMinRecords: Int64 = 1_000
    public var flowMinPulls: Int64 = 10
    public var deniedMin: Int64 = 20
    public var offHoursMinEvents: Int64 = 3
    public var offHoursMaxShare = 0.05
    public var usualCountryWindows: Int64 = 3
    public var slowMinRecords: Int64 = 5_000
    public var slowFactor = 3.0
    public var alpha = 0.05
    public init() {}
}

struct Alert {
    var rule: AlertRule
    var severity: String
    var window: Window
    var evidence: [(String, EvidenceValue)]
}

enum EvidenceValue {
    case int(Int64), number(Double), text(String), list([String])
}

/// The rules, as plain functions of a closed window, the principal's profile before it and the
/// peer group's baselines.
struct AlertRules: Sendable {
    let settings: AlertSettings

    func isWarm(_ p: PrincipalProfile, at end: Int64) -> Bool {
        p.windows >= settings.minWindows && p.firstSeen != .max && end - p.firstSeen >= settings.warmupMs
    }

    /// The figure above which a window is "far above" its baselines; nil while no baseline counts.
    func threshold(_ m: Metric, minimum: Int64, own: PrincipalProfile, peers: [Baseline], warm: Bool, needsBaseline: Bool = true) -> Double? {
        var t = Double(minimum)
        var any = false
        for b in [warm ? own.baselines[m.rawValue] : nil, peers[m.rawValue].n >= settings.minPeerWindows ? peers[m.rawValue] : nil].compactMap({ $0 }) {
            t = max(t, settings.factor * b.mean, b.mean + settings.sigmas * b.sd)
            any = true
        }
        return any || !needsBaseline ? t : nil
    }

    func evaluate(_ window: Window, _ a: ActivityWindow, profile p: PrincipalProfile, peers: [Baseline]) -> [Alert] {
        let warm = isWarm(p, at: window.end.millis)
        var alerts: [Alert] = []
        func over(_ rule: AlertRule, _ m: Metric, minimum: Int64, severity: String, needsBaseline: Bool = true, _ extra: [(String, EvidenceValue)] = []) {
            guard settings.enabled.contains(rule),
                  let t = threshold(m, minimum: minimum, own: p, peers: peers, warm: warm, needsBaseline: needsBaseline) else { return }
            let x = m.value(a)
            guard x >= t else { return }
            alerts.append(Alert(rule: rule, severity: severity, window: window, evidence: [
                ("observed", .number(x)), ("threshold", .number((t * 100).rounded() / 100)),
                ("own_baseline_mean", .number(warm ? (p.baselines[m.rawValue].mean * 100).rounded() / 100 : -1)),
                ("peer_baseline_mean", .number(peers[m.rawValue].n >= settings.minPeerWindows ? (peers[m.rawValue].mean * 100).rounded() / 100 : -1)),
                ("events", .int(a.events)), ("distinct_resources", .int(Int64(a.resources.count))),
                ("peer_group", .text(a.org + "/" + a.role)),
            ] + extra))
        }
        over(.bulkExport, .sensitiveExported, minimum: settings.bulkMinRecords, severity: "high")
        over(.piiHarvest, .personalRecords, minimum: settings.piiMinRecords, severity: "high")
        over(.flowReportHarvest, .flowPulls, minimum: settings.flowMinPulls, severity: "medium")
        over(.deniedBurst, .denied, minimum: settings.deniedMin, severity: "medium", needsBaseline: false)

        if settings.enabled.contains(.thirdCountryAccess), warm {
            let unusual = a.thirdCountry.filter { (p.countries[$0.key] ?? 0) < settings.usualCountryWindows }
            if !unusual.isEmpty {
                alerts.append(Alert(rule: .thirdCountryAccess, severity: "high", window: window, evidence: [
                    ("countries", .list(unusual.keys.sorted())), ("sensitive_events", .int(unusual.values.reduce(0, +))),
                    ("usual_countries", .list(p.countries.filter { $0.value >= settings.usualCountryWindows }.keys.sorted())),
                ]))
            }
        }
        if settings.enabled.contains(.offHours), warm, a.offHoursSensitive >= settings.offHoursMinEvents {
            let share = Double(p.offHoursWindows) / Double(max(1, p.windows))
            if share <= settings.offHoursMaxShare {
                alerts.append(Alert(rule: .offHours, severity: "medium", window: window, evidence: [
                    ("sensitive_events_off_hours", .int(a.offHoursSensitive)), ("usual_off_hours_share", .number((share * 1000).rounded() / 1000)),
                ]))
            }
        }
        return alerts
    }

    /// Low and slow: the trailing 24 h of sensitive exports against the daily baseline, once a
    /// day at most (the alert's window is the UTC day), and not when a bulk export already fired.
    func slowExfiltration(_ window: Window, profile p: PrincipalProfile) -> Alert? {
        guard settings.enabled.contains(.slowExfiltration), isWarm(p, at: window.end.millis), p.daily.n >= 1 else { return nil }
        let hour = window.start.millis.floorDiv(3_600_000)
        let trailing = p.hourly.filter { $0.key > hour - 24 }.values.reduce(0, +)
        let threshold = max(Double(settings.slowMinRecords), settings.slowFactor * p.daily.mean, p.daily.mean + settings.sigmas * p.daily.sd)
        guard Double(trailing) >= threshold else { return nil }
        let dayStart = window.start.millis.floorDiv(86_400_000) * 86_400_000
        if let last = p.lastAlert[AlertRule.bulkExport.rawValue], window.end.millis - last < 86_400_000 { return nil }
        if let last = p.lastAlert[AlertRule.slowExfiltration.rawValue], last > dayStart { return nil }
        return Alert(rule: .slowExfiltration, severity: "high",
                     window: Window(start: Timestamp(millis: dayStart), end: Timestamp(millis: dayStart + 86_400_000)), evidence: [
                        ("sensitive_records_24h", .int(trailing)), ("threshold", .number((threshold * 100).rounded() / 100)),
                        ("daily_baseline_mean", .number((p.daily.mean * 100).rounded() / 100)), ("baseline_days", .int(p.daily.n)),
                     ])
    }

    /// The profile after a window: baselines (not from figures that raised an alert), countries,
    /// off-hours share, hourly and daily export totals.
    func learn(_ window: Window, _ a: ActivityWindow, fired: Set<AlertRule>, profile p: inout PrincipalProfile, peers: inout [Baseline]) {
        let skip: [Metric: AlertRule] = [.sensitiveExported: .bulkExport, .personalRecords: .piiHarvest, .flowPulls: .flowReportHarvest, .denied: .deniedBurst]
        for m in Metric.allCases where !fired.contains(skip[m]!) {
            p.baselines[m.rawValue].add(m.value(a), alpha: settings.alpha)
            peers[m.rawValue].add(m.value(a), alpha: settings.alpha)
        }
        p.firstSeen = min(p.firstSeen, a.firstEvent)
        p.windows += 1
        if a.offHoursEvents > 0 && !fired.contains(.offHours) { p.offHoursWindows += 1 }
        if !fired.contains(.thirdCountryAccess) { for c in a.countries { p.countries[c, default: 0] += 1 } }
        let hour = window.start.millis.floorDiv(3_600_000)
        p.hourly[hour, default: 0] += a.sensitiveExported
        p.hourly = p.hourly.filter { $0.key > hour - 72 }
        let day = window.start.millis.floorDiv(86_400_000)
        if day != p.lastDay {
            // A completed day joins the daily baseline; the principal's first (partial) day does not.
            if p.lastDay >= 0 && p.lastDay * 86_400_000 >= p.firstSeen { p.daily.add(Double(p.lastDayTotal), alpha: 0.2) }
            p.lastDay = day
            p.lastDayTotal = 0
        }
        p.lastDayTotal += a.sensitiveExported
        for rule in fired { p.lastAlert[rule.rawValue] = window.end.millis }
    }
}

/// Task `access`: per principal and activity window, the agg.access-activity record and the
/// alerts; baselines live in `profiles` (per principal) and `peers` (per org and role).
final class AccessActivityTracker: StreamHandler {
    let windows: WindowedStore
    let rules: AlertRules
    let activityOut: String
    let alertsOut: String

    init(spec: WindowSpec, settings: AlertSettings, activityOut: String, alertsOut: String) {
        windows = WindowedStore(store: "activity", spec: spec)
        rules = AlertRules(settings: settings)
        self.activityOut = activityOut
        self.alertsOut = alertsOut
    }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        let access = try TaggedAccess(json: try record.requireValue())
        let t = access.log.occurredAt
        context.observe(eventTime: t)
        var corrupt = false
        let added = windows.add(context, group: access.log.principal.id, at: t) { _, value in
            var a = ActivityWindow()
            if let value {
                guard let decoded = try? ActivityWindow.decode(value) else { corrupt = true; return }
                a = decoded
            }
            a.add(access)
            value = a.encode()
        }
        if corrupt { throw BinaryStateReader.Corrupt() }
        if !added { context.markLate("its activity window closed (occurred \(t))") }
    }

    func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws {
        let profiles = context.store("profiles"), peerStore = context.store("peers")
        var failure: Error?
        windows.emitFinal(context, streamTime: time) { window, principal, bytes in
            do {
                let a = try ActivityWindow.decode(bytes)
                emitActivity(window, principal, a, context)
                var profile = try profiles.get(principal).map(PrincipalProfile.decode) ?? PrincipalProfile()
                let peerKey = a.org + "|" + a.role
                var peers = try peerStore.get(peerKey).map(Self.decodePeers) ?? Array(repeating: Baseline(), count: Metric.allCases.count)
                var alerts = rules.evaluate(window, a, profile: profile, peers: peers)
                var fired = Set(alerts.map(\.rule))
                rules.learn(window, a, fired: fired, profile: &profile, peers: &peers)
                if let slow = rules.slowExfiltration(window, profile: profile) {
                    alerts.append(slow)
                    fired.insert(.slowExfiltration)
                    profile.lastAlert[AlertRule.slowExfiltration.rawValue] = window.end.millis
                }
                for alert in alerts { emitAlert(alert, principal, lastEvent: a.lastEvent, context) }
                profiles.put(principal, profile.encode())
                peerStore.put(peerKey, Self.encodePeers(peers))
            } catch { failure = error }
        }
        if let failure { throw failure }
    }

    static func encodePeers(_ b: [Baseline]) -> [UInt8] {
        var w = BinaryStateWriter()
        for x in b { x.write(&w) }
        return w.bytes
    }

    static func decodePeers(_ bytes: [UInt8]) throws -> [Baseline] {
        var r = BinaryStateReader(bytes)
        return try Metric.allCases.map { _ in try Baseline.read(&r) }
    }

    func emitActivity(_ window: Window, _ principal: String, _ a: ActivityWindow, _ context: HandlerContext) {
        context.emit(topic: activityOut, key: principal) { w in
            w.beginObject()
            w.key("schema"); w.string("agg.access-activity/1")
            w.key("principal_id"); w.string(principal)
            w.key("window"); writeWindow(window, to: &w)
            w.key("events"); w.int(a.events)
            w.key("records_by_class"); w.beginObject(); for (k, v) in a.recordsByClass.sorted(by: { $0.key < $1.key }) { w.key(k); w.int(v) }; w.endObject()
            w.key("bytes_by_class"); w.beginObject(); for (k, v) in a.bytesByClass.sorted(by: { $0.key < $1.key }) { w.key(k); w.int(v) }; w.endObject()
            w.key("distinct_resources"); w.int(a.resources.count)
            w.key("source_countries"); w.beginArray(); for c in a.countries.sorted() { w.string(c) }; w.endArray()
            w.key("denied"); w.int(a.denied)
            w.key("org"); w.string(a.org)
            w.key("role"); w.string(a.role)
            w.endObject()
        }
    }

    func emitAlert(_ alert: Alert, _ principal: String, lastEvent: Int64, _ context: HandlerContext) {
        context.count("alert_" + alert.rule.rawValue)
        let id = "al_" + stableID("\(principal)|\(alert.rule.rawValue)|\(alert.window.start.millis)")
        context.emit(topic: alertsOut, key: principal) { w in
            w.beginObject()
            w.key("schema"); w.string("alert.access/1")
            w.key("alert_id"); w.string(id)
            w.key("principal_id"); w.string(principal)
            w.key("rule"); w.string(alert.rule.rawValue)
            w.key("severity"); w.string(alert.severity)
            w.key("window"); writeWindow(alert.window, to: &w)
            w.key("evidence"); w.beginObject()
            for (k, v) in alert.evidence {
                w.key(k)
                switch v {
                case .int(let i): w.int(i)
                case .number(let d): w.double(d)
                case .text(let s): w.string(s)
                case .list(let l): w.beginArray(); for s in l { w.string(s) }; w.endArray()
                }
            }
            w.key("last_event_at"); w.timestamp(Timestamp(millis: lastEvent))
            w.endObject()
            w.key("raised_at"); w.timestamp(Timestamp(millis: Int64(Date().timeIntervalSince1970 * 1000)))
            w.endObject()
        }
    }
}
