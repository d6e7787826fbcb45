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
    /// "Far above" on counts: at least `factor` × the baseline mean and `sigmas` standard deviations above it.
    public var factor = 5.0
    public var sigmas = 6.0
    /// "Far above" on export sizes: `exportSigmas` log-scale standard deviations above the usual
    /// size of one export; the spread counts as at least `minLogSpread` (a principal whose exports
    /// are all alike is not alerted on the first one twice as big).
    public var exportSigmas = 8.0
    public var minLogSpread = 0.5
    /// Sensitive exports of a principal before its own export-size baseline counts.
    public var minExports: Int64 = 5
    public var bulkMinRecords: Int64 = 2_000
    /// PII_HARVEST: fewest distinct personal-data records read one by one in `harvestSpanMs`.
    public var piiMinRecords: Int64 = 15
    /// FLOW_REPORT_HARVEST: fewest distinct flow reports or manifests pulled in `harvestSpanMs`.
    public var flowMinPulls: Int64 = 5
    /// The trailing span the two harvest rules, DENIED_BURST and BULK_EXPORT count over: a harvest
    /// paced to stay under a per-window threshold, a dump cut into a few exports, or a probe that
    /// straddles two windows, still adds up.
    public var harvestSpanMs: Int64 = 900_000
    /// DENIED_BURST: fewest denied requests in `harvestSpanMs`.
    public var deniedMin: Int64 = 20
    /// OFF_HOURS: a session (activity with no gap of `sessionGapMs`) that begins outside working
    /// hours and reaches `offHoursMinEvents` sensitive events, by a principal with at most
    /// `offHoursMaxShare` of its earlier sessions begun off hours. Overtime continues a session
    /// that began in working hours, so it is not one, and does not change the habit.
    public var offHoursMinEvents: Int64 = 3
    public var offHoursMaxShare = 0.1
    public var sessionGapMs: Int64 = 2 * 3_600_000
    /// Sessions of a principal before its own off-hours habit counts; until then its peer
    /// group's, once that has `minPeerSessions`.
    public var offHoursMinSessions: Int64 = 3
    public var minPeerSessions: Int64 = 10
    public var usualCountryWindows: Int64 = 3
    public var slowMinRecords: Int64 = 5_000
    public var slowFactor = 3.0
    /// …and this many standard deviations of the daily totals above their mean.
    public var slowSigmas = 6.0
    /// SLOW_EXFILTRATION counts one export as at most this many usual export sizes.
    public var slowExportCap = 4.0
    /// Completed days in a principal's daily baseline before SLOW_EXFILTRATION judges it.
    public var slowMinDays: Int64 = 3
    /// SLOW_EXFILTRATION also fires on this many sensitive records in the trailing 24 h of
    /// resource kinds unusual for the principal and its role: a kind exported on fewer than
    /// `usualKindDays` earlier days by the principal, and making up less than `usualKindShare` of
    /// its role's export windows (across orgs). A leak of data the job does not involve stands
    /// out long before its volume does.
    public var slowUnusualMinRecords: Int64 = 500
    public var usualKindShare = 0.02
    public var usualKindDays: Int64 = 2
    /// Export windows of a role before it says which kinds are unusual for it: a share of a few
    /// per cent needs a few hundred to be told from zero.
    public var usualKindMinWindows: Int64 = 200
    public var alpha = 0.05
    /// A rule that keeps firing for one principal raises one alert per this span.
    public var realertMs: Int64 = 3_600_000
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

    /// The figure above which a count is "far above" its baselines; nil while no baseline counts.
    func threshold(_ m: Metric, minimum: Int64, own: PrincipalProfile, peers: [Baseline], warm: Bool, needsBaseline: Bool = true) -> Double? {
        var t = Double(minimum)
        var any = false
        for b in [warm ? own.baselines[m.rawValue] : nil, peers[m.rawValue].n >= settings.minPeerWindows ? peers[m.rawValue] : nil].compactMap({ $0 }) {
            t = max(t, settings.factor * b.mean, b.mean + settings.sigmas * b.sd)
            any = true
        }
        return any || !needsBaseline ? t : nil
    }

    /// The peer baselines a window is judged against: per figure the peer group's (org and role)
    /// once it has enough windows (sessions, for the off-hours habit), until then the role's
    /// across all orgs. Source countries likewise.
    func closest(_ group: PeerGroup, _ role: PeerGroup) -> (baselines: [Baseline], countries: [String: Int64]) {
        var b = group.baselines
        for m in Metric.allCases where b[m.rawValue].n < (m == .offHoursSession ? settings.minPeerSessions : settings.minPeerWindows) {
            b[m.rawValue] = role.baselines[m.rawValue]
        }
        let groupReady = group.baselines[Metric.denied.rawValue].n >= settings.minPeerWindows
        return (b, groupReady ? group.countries : role.countries)
    }

    /// Distinct personal-data records read one by one, flow reports pulled and requests denied in
    /// the trailing `harvestSpanMs` up to this window's end.
    func trailing(_ window: Window, _ a: ActivityWindow, _ p: PrincipalProfile) -> TrailingCounts {
        let from = window.end.millis - settings.harvestSpanMs
        var sum = a.counts
        for (start, v) in p.recent where start >= from && start < window.start.millis {
            sum.personal += v.personal; sum.flows += v.flows; sum.denied += v.denied
            sum.exported += v.exported; sum.exports += v.exports
        }
        return sum
    }

    /// Sessions: a window after a gap of `sessionGapMs` begins a new one, and the one before joins
    /// the habit (own and peer group's), unless it began off hours and raised an alert: counted, an
    /// attacker's night would mask the next one. Applied before the rules read the profile.
    func observeSession(_ a: ActivityWindow, profile p: inout PrincipalProfile, peers: inout PeerGroup) {
        guard a.events > 0 else { return }
        if p.lastActive == .min || a.firstEvent - p.lastActive >= settings.sessionGapMs {
            if p.sessionPending && !(p.sessionAlerted && p.sessionBeganOffHours) {
                p.sessions += 1
                if p.sessionBeganOffHours { p.offHoursSessions += 1 }
                peers.add(.offHoursSession, p.sessionBeganOffHours ? 1 : 0, settings)
            }
            p.sessionStart = a.firstEvent
            p.sessionBeganOffHours = a.firstEventOffHours
            p.sessionOffHoursSensitive = 0
            p.sessionPending = true
            p.sessionAlerted = false
        }
        p.sessionOffHoursSensitive += a.offHoursSensitive
        p.lastActive = max(p.lastActive, a.lastEvent)
    }

    /// `recent`: `trailing(window, a, p)`, computed once for evaluate and learn.
    func evaluate(_ window: Window, _ a: ActivityWindow, recent: TrailingCounts, profile p: PrincipalProfile, peers: [Baseline],
                  peerCountries: [String: Int64] = [:]) -> [Alert] {
        let warm = isWarm(p, at: window.end.millis)
        var alerts: [Alert] = []
        func over(_ rule: AlertRule, _ m: Metric, _ x: Double, minimum: Int64, severity: String, needsBaseline: Bool = true, _ extra: [(String, EvidenceValue)] = []) {
            guard settings.enabled.contains(rule),
                  let t = threshold(m, minimum: minimum, own: p, peers: peers, warm: warm, needsBaseline: needsBaseline), x >= t else { return }
            alerts.append(Alert(rule: rule, severity: severity, window: window, evidence: [
                ("observed", .number(x)), ("threshold", .number((t * 100).rounded() / 100)),
                ("own_baseline_mean", .number(warm ? (p.baselines[m.rawValue].mean * 100).rounded() / 100 : -1)),
                ("peer_baseline_mean", .number(peers[m.rawValue].n >= settings.minPeerWindows ? (peers[m.rawValue].mean * 100).rounded() / 100 : -1)),
                ("events", .int(a.events)), ("distinct_resources", .int(Int64(a.resources.count))),
                ("peer_group", .text(a.org + "/" + a.role)),
            ] + extra))
        }
        if settings.enabled.contains(.bulkExport), a.sensitiveExports > 0 {
            // The principal's own usual export size once it has one, its peer group's until then.
            // Exports add up over the trailing span: a dump cut into a few exports minutes apart
            // is one bulk export, and a window boundary must not halve it.
            let m = Metric.exportSize.rawValue
            let own = warm && p.baselines[m].n >= settings.minExports ? p.baselines[m] : nil
            let peer = peers[m].n >= settings.minPeerWindows ? peers[m] : nil
            if let base = own ?? peer {
                let t = max(Double(settings.bulkMinRecords), exp(base.mean + exportMargin(base)))
                if Double(recent.exported) >= t {
                    alerts.append(Alert(rule: .bulkExport, severity: "high", window: window, evidence: [
                        ("observed", .number(Double(recent.exported))), ("threshold", .number(t.rounded())),
                        ("exports", .int(recent.exports)), ("span_minutes", .int(settings.harvestSpanMs / 60_000)),
                        ("usual_export_records", .number(exp(base.mean).rounded())),
                        ("baseline", .text(own != nil ? "own" : "peer")), ("events", .int(a.events)),
                        ("distinct_resources", .int(Int64(a.resources.count))), ("peer_group", .text(a.org + "/" + a.role)),
                    ]))
                }
            }
        }
        over(.piiHarvest, .personalReads, Double(recent.personal), minimum: settings.piiMinRecords, severity: "high",
             [("span_minutes", .int(settings.harvestSpanMs / 60_000))])
        over(.flowReportHarvest, .flowPulls, Double(recent.flows), minimum: settings.flowMinPulls, severity: "medium",
             [("span_minutes", .int(settings.harvestSpanMs / 60_000))])
        // Over the span too: a probe of a few minutes straddles two windows as often as not.
        over(.deniedBurst, .denied, Double(recent.denied), minimum: settings.deniedMin, severity: "medium", needsBaseline: false,
             [("span_minutes", .int(settings.harvestSpanMs / 60_000))])

        // The principal's own usual countries once it is warm; its peer group's until then (a new
        // principal's first day is when a stolen account is most likely used).
        // The denied-requests baseline takes (nearly) every window of the group: its count is the group's windows.
        let peerReady = peers[Metric.denied.rawValue].n >= settings.minPeerWindows
        if settings.enabled.contains(.thirdCountryAccess), !a.thirdCountry.isEmpty, let usual = warm ? p.countries : peerReady ? peerCountries : nil {
            let unusual = a.thirdCountry.filter { (usual[$0.key] ?? 0) < settings.usualCountryWindows }
            if !unusual.isEmpty {
                alerts.append(Alert(rule: .thirdCountryAccess, severity: "high", window: window, evidence: [
                    ("countries", .list(unusual.keys.sorted())), ("sensitive_events", .int(unusual.values.reduce(0, +))),
                    ("usual_countries", .list(usual.filter { $0.value >= settings.usualCountryWindows }.keys.sorted())),
                    ("baseline", .text(warm ? "own" : "peer")),
                ]))
            }
        }
        if settings.enabled.contains(.offHours), a.offHoursSensitive > 0, p.sessionBeganOffHours,
           p.sessionOffHoursSensitive >= settings.offHoursMinEvents, let habit = offHoursHabit(p, peers) {
            if habit.share <= settings.offHoursMaxShare {
                alerts.append(Alert(rule: .offHours, severity: "medium", window: window, evidence: [
                    ("sensitive_events_off_hours", .int(p.sessionOffHoursSensitive)), ("usual_off_hours_share", .number((habit.share * 1000).rounded() / 1000)),
                    ("baseline", .text(habit.own ? "own" : "peer")), ("session_began_at", .text(Timestamp(millis: p.sessionStart).description)),
                ]))
            }
        }
        return alerts
    }

    /// Low and slow: the trailing 24 h of sensitive exports against the daily baseline, or of
    /// kinds unusual for the principal and its role (`unusualKinds`: this window's, from `learn`)
    /// against `slowUnusualMinRecords`. Once a day at most (the alert's window is the UTC day),
    /// and not when a bulk export already fired.
    func slowExfiltration(_ window: Window, profile p: PrincipalProfile, unusualKinds: [String] = []) -> Alert? {
        guard settings.enabled.contains(.slowExfiltration), isWarm(p, at: window.end.millis) else { return nil }
        let dayStart = window.start.millis.floorDiv(86_400_000) * 86_400_000
        if let last = p.lastAlert[AlertRule.bulkExport.rawValue], window.end.millis - last < 86_400_000 { return nil }
        if let last = p.lastAlert[AlertRule.slowExfiltration.rawValue], last > dayStart { return nil }
        let dayWindow = Window(start: Timestamp(millis: dayStart), end: Timestamp(millis: dayStart + 86_400_000))
        let day = window.start.millis.floorDiv(86_400_000), hour = window.start.millis.floorDiv(3_600_000)
        if p.daily.n >= settings.slowMinDays {
            let trailing = p.hourly.filter { $0.key > hour - 24 }.values.reduce(0, +)
            let threshold = max(Double(settings.slowMinRecords), settings.slowFactor * p.daily.mean, p.daily.mean + settings.slowSigmas * p.daily.sd)
            if Double(trailing) >= threshold {
                return Alert(rule: .slowExfiltration, severity: "high", window: dayWindow, evidence: [
                    ("sensitive_records_24h", .int(trailing)), ("threshold", .number((threshold * 100).rounded() / 100)),
                    ("daily_baseline_mean", .number((p.daily.mean * 100).rounded() / 100)), ("baseline_days", .int(p.daily.n)),
                ])
            }
        }
        // The baseline here is the role's and the principal's habits, not its volume: no daily history needed.
        let unusual = p.unusualHourly.filter { $0.key > hour - 24 }.values.reduce(0, +)
        guard !unusualKinds.isEmpty, unusual >= settings.slowUnusualMinRecords else { return nil }
        return Alert(rule: .slowExfiltration, severity: "high", window: dayWindow, evidence: [
            ("unusual_kind_records_24h", .int(unusual)), ("threshold", .number(Double(settings.slowUnusualMinRecords))),
            ("unusual_kinds", .list(unusualKinds)), ("usual_kinds", .list(p.kindDays.filter { $0.value - (p.kindLastDay[$0.key] == day ? 1 : 0) >= settings.usualKindDays }.keys.sorted())),
            ("role_share_below", .number(settings.usualKindShare)),
        ])
    }

    /// The share of sessions begun off hours before this one: the principal's own after
    /// `offHoursMinSessions` sessions, its peer group's before (nil while neither has enough).
    /// A service that runs round the clock has one endless session, so it is never judged.
    func offHoursHabit(_ p: PrincipalProfile, _ peers: [Baseline]) -> (share: Double, own: Bool)? {
        // An older profile counted its current session when it began.
        let current: Int64 = p.sessionPending ? 0 : 1
        let earlier = p.sessions - current, earlierOff = p.offHoursSessions - (p.sessionBeganOffHours ? current : 0)
        if earlier >= settings.offHoursMinSessions { return (Double(earlierOff) / Double(earlier), true) }
        let peer = peers[Metric.offHoursSession.rawValue]
        return peer.n >= settings.minPeerSessions && earlier >= 1 ? (peer.mean, false) : nil
    }

    /// How far above the usual size of one export (ln records) BULK_EXPORT's threshold lies.
    func exportMargin(_ b: Baseline) -> Double { settings.exportSigmas * max(b.sd, settings.minLogSpread) }

    /// The usual size of one export as the profile learns it: the principal's own once it has
    /// `minExports`, its peer group's before.
    func usualExportSize(_ p: PrincipalProfile, _ group: PeerGroup) -> (baseline: Baseline, own: Bool) {
        let m = Metric.exportSize.rawValue
        return p.baselines[m].n >= settings.minExports ? (p.baselines[m], true) : (group.baselines[m], false)
    }

    /// Whether an alert of this rule goes out now, or repeats one raised less than `realertMs` ago.
    func isRepeat(_ rule: AlertRule, _ window: Window, _ p: PrincipalProfile) -> Bool {
        guard let last = p.lastAlert[rule.rawValue] else { return false }
        return window.end.millis - last < settings.realertMs
    }

    /// The profile after a window: baselines (not from figures that raised an alert, nor from
    /// PII reads still inside the span of one that did), countries, off-hours share, hourly and
    /// daily export totals, kinds of data exported. `role`: the role's group across orgs, which
    /// says what kinds the role exports. Returns the kinds this window exported that are unusual
    /// for the principal and its role.
    @discardableResult
    func learn(_ window: Window, _ a: ActivityWindow, recent: TrailingCounts, fired: Set<AlertRule>,
               profile p: inout PrincipalProfile, peers: inout PeerGroup, role: PeerGroup? = nil) -> [String] {
        func add(_ m: Metric, _ x: Double) {
            p.baselines[m.rawValue].add(x, alpha: settings.alpha, clip: m.clip, floor: settings.minLogSpread)
            peers.add(m, x, settings)
        }
        // Nor from a window of a session that raised an alert: the rest of an exfiltration, or
        // a harvest's exports, would lift the usual size out of reach of the next bulk export.
        if a.sensitiveExports > 0 && fired.isEmpty && !p.sessionAlerted {
            // A size half-way to the threshold (on the log scale) is either an exfiltration still
            // under it or a rare legitimate outlier: not the usual size. Learning it would lift the
            // threshold out of reach of the next export, as clipping alone still did (by a tenth
            // of the spread per such window).
            let x = log(max(1, Double(a.sensitiveExported) / Double(a.sensitiveExports)))
            let usual = usualExportSize(p, peers)
            let judged = usual.own || usual.baseline.n >= settings.minPeerWindows
            if !judged || x - usual.baseline.mean < exportMargin(usual.baseline) / 2 { add(.exportSize, x) }
        }
        // A harvest stays in the trailing figures for a span after its alert: not a baseline either.
        func quiet(_ rule: AlertRule) -> Bool {
            !fired.contains(rule) && !(p.lastAlert[rule.rawValue].map { window.end.millis - $0 < settings.harvestSpanMs } ?? false)
        }
        if quiet(.piiHarvest) { add(.personalReads, Double(recent.personal)) }
        if quiet(.flowReportHarvest) { add(.flowPulls, Double(recent.flows)) }
        if quiet(.deniedBurst) { add(.denied, Double(recent.denied)) }
        p.recent[window.start.millis] = a.counts
        p.recent = p.recent.filter { $0.key >= window.end.millis - settings.harvestSpanMs }
        p.firstSeen = min(p.firstSeen, a.firstEvent)
        p.windows += 1
        if !fired.contains(.thirdCountryAccess) {
            for c in a.countries.sorted() {
                p.countries[c, default: 0] += 1
                peers.addCountry(c)
            }
        }
        let hour = window.start.millis.floorDiv(3_600_000)
        // Low-and-slow volume counts each export at most `slowExportCap` times the usual export
        // size: one big legitimate export (a month-end report) is BULK_EXPORT's business, and
        // must not look like a day of steady leaking.
        var volume = a.sensitiveExported
        let sizes = usualExportSize(p, peers).baseline
        if sizes.n > 0 { volume = min(volume, Int64(Double(a.sensitiveExports) * settings.slowExportCap * exp(sizes.mean))) }
        p.hourly[hour, default: 0] += volume
        p.hourly = p.hourly.filter { $0.key > hour - 72 }
        let day = window.start.millis.floorDiv(86_400_000)
        if day != p.lastDay {
            // A completed day joins the daily baseline; the principal's first (partial) day does not.
            if p.lastDay >= 0 && p.lastDay * 86_400_000 >= p.firstSeen { p.daily.add(Double(p.lastDayTotal), alpha: 0.2) }
            p.lastDay = day
            p.lastDayTotal = 0
        }
        p.lastDayTotal += volume
        // Kinds of data exported: unusual ones count toward SLOW_EXFILTRATION until the
        // principal's own habit has them (any export counts for it, alerted or not, so that a new
        // duty stops alerting after `usualKindDays`). The role learns a kind only from its
        // members' habits, so a leak's windows under the threshold do not make it usual.
        var unusual: [String] = []
        for (kind, records) in a.exportedByKind.sorted(by: { $0.key < $1.key }) where records > 0 {
            let earlierDays = (p.kindDays[kind] ?? 0) - (p.kindLastDay[kind] == day ? 1 : 0)
            let isUnusual = earlierDays < settings.usualKindDays
                && role?.exportsKind(kind, share: settings.usualKindShare, minWindows: settings.usualKindMinWindows) == false
            if isUnusual {
                unusual.append(kind)
                p.unusualHourly[hour, default: 0] += records
            } else if fired.isEmpty && !p.sessionAlerted {
                peers.addExportKind(kind)
            }
            if p.kindLastDay[kind] != day { p.kindDays[kind, default: 0] += 1; p.kindLastDay[kind] = day }
        }
        p.unusualHourly = p.unusualHourly.filter { $0.key > hour - 24 }
        return unusual
    }
}

/// Task `access`: per principal and activity window, the agg.access-activity record and the
/// alerts; baselines live in `profiles` (per principal) and `peers` (per org and role). Its second
/// input, `peersTopic`, brings the other partitions' peer observations (see `PeerObservation`).
final class AccessActivityTracker: StreamHandler {
    let windows: WindowedStore
    let rules: AlertRules
    let activityOut: String
    let alertsOut: String
    let peersTopic: String

    init(spec: WindowSpec, settings: AlertSettings, activityOut: String, alertsOut: String, peersTopic: String) {
        windows = WindowedStore(store: "activity", spec: spec)
        rules = AlertRules(settings: settings)
        self.activityOut = activityOut
        self.alertsOut = alertsOut
        self.peersTopic = peersTopic
    }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        if record.topic == peersTopic {
            // No event time: another partition's observation must not move this one's windows.
            let (observation, from) = try PeerObservation.decode(try record.requireValue())
            guard from != context.partition else { return }
            let store = context.store("peers")
            for key in [observation.peerKey, PeerGroup.roleKey(observation.role)] {
                var group = try Self.loadPeers(key, role: observation.role, store)
                group.apply(observation, rules.settings)
                Self.savePeers(group, store, changed: observation)
            }
            return
        }
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
        var observed: [String: PeerObservation] = [:]
        windows.emitFinal(context, streamTime: time) { window, principal, bytes in
            do {
                let a = try ActivityWindow.decode(bytes)
                emitActivity(window, principal, a, context)
                var profile = try profiles.get(principal).map(PrincipalProfile.decode) ?? PrincipalProfile()
                var peers = try Self.loadPeers(PeerGroup.key(org: a.org, role: a.role), role: a.role, peerStore)
                var roleWide = try Self.loadPeers(PeerGroup.roleKey(a.role), role: a.role, peerStore)
                rules.observeSession(a, profile: &profile, peers: &peers)
                roleWide.apply(peers.added, rules.settings)
                let sessionMark = peers.mark
                let recent = rules.trailing(window, a, profile)
                let closest = rules.closest(peers, roleWide)
                var alerts = rules.evaluate(window, a, recent: recent, profile: profile, peers: closest.baselines, peerCountries: closest.countries)
                let unusualKinds = rules.learn(window, a, recent: recent, fired: Set(alerts.map(\.rule)), profile: &profile, peers: &peers, role: roleWide)
                roleWide.apply(peers.added, rules.settings, from: sessionMark)
                if !alerts.contains(where: { $0.rule == .bulkExport }),
                   let slow = rules.slowExfiltration(window, profile: profile, unusualKinds: unusualKinds) { alerts.append(slow) }
                if !alerts.isEmpty { profile.sessionAlerted = true }
                // A rule that keeps firing raises one alert per realert span; its figures stay out of the baselines all the same.
                alerts.removeAll { rules.isRepeat($0.rule, window, profile) }
                for alert in alerts {
                    emitAlert(alert, principal, lastEvent: a.lastEvent, context)
                    profile.lastAlert[alert.rule.rawValue] = window.end.millis
                    // The unusual volume has been reported: the next alert needs new volume.
                    if alert.rule == .slowExfiltration { profile.unusualHourly = [:] }
                }
                profiles.put(principal, profile.encode())
                Self.savePeers(peers, peerStore, changed: peers.added)
                Self.savePeers(roleWide, peerStore, changed: peers.added)
                observed[peers.added.peerKey, default: PeerObservation(peerKey: peers.added.peerKey, role: a.role)].append(peers.added)
            } catch { failure = error }
        }
        if let failure { throw failure }
        // One record per peer group and batch, to every partition (this one skips its own).
        for (key, o) in observed.sorted(by: { $0.key < $1.key }) where !o.isEmpty {
            context.broadcast(topic: peersTopic, key: Array(key.utf8), value: o.json(from: partition))
        }
    }

    static func loadPeers(_ peerKey: String, role: String, _ store: KeyValueStore) throws -> PeerGroup {
        var g = PeerGroup(peerKey: peerKey, role: role)
        if let b = store.get(peerKey) { g.baselines = try decodePeers(b) }
        if let c = store.get(countriesKey(peerKey)) { g.countries = try decodeCountries(c) }
        if let k = store.get(exportKindsKey(peerKey)) { g.exportKinds = try decodeCountries(k) }
        return g
    }

    /// `changed`: what was applied to the group, to write the counts it touched.
    static func savePeers(_ g: PeerGroup, _ store: KeyValueStore, changed: PeerObservation) {
        store.put(g.added.peerKey, encodePeers(g.baselines))
        if !changed.countries.isEmpty { store.put(countriesKey(g.added.peerKey), encodeCountries(g.countries)) }
        if !changed.exportKinds.isEmpty { store.put(exportKindsKey(g.added.peerKey), encodeCountries(g.exportKinds)) }
    }

    /// The peer group's source countries (windows per country) and export kinds (windows per
    /// resource kind) live beside its baselines, each a map of counts.
    static func countriesKey(_ peerKey: String) -> String { "countries|" + peerKey }
    static func exportKindsKey(_ peerKey: String) -> String { "export_kinds|" + peerKey }

    static func encodeCountries(_ c: [String: Int64]) -> [UInt8] {
        var w = BinaryStateWriter()
        w.int(Int64(c.count))
        for (k, v) in c.sorted(by: { $0.key < $1.key }) { w.string(k); w.int(v) }
        return w.bytes
    }

    static func decodeCountries(_ bytes: [UInt8]) throws -> [String: Int64] {
        var r = BinaryStateReader(bytes)
        var c: [String: Int64] = [:]
        for _ in 0..<max(0, try r.int()) { let k = try r.string(); c[k] = try r.int() }
        return c
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
