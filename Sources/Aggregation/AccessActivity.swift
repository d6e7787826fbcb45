import Codec
import Foundation
import WorkerRuntime

/// One access.tagged record, as the activity windows need it.
struct TaggedAccess {
    var log: AccessLog
    var level: String
    var classes: [String]
    var personalRecords: Int64
    var jurisdiction: String
    var offHours: Bool

    init(json bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        log = try AccessLog(json: bytes)
        var level: String?, classes: [String] = [], personal: Int64 = 0, jurisdiction = "unknown", off = false
        var r = JSONReader(bytes)
        try r.readObject { r, key throws(DecodeError) in
            guard key == "tags" else { try r.skipValue(); return }
            try r.readObject { r, key throws(DecodeError) in
                if key == "level" { level = try r.readString() }
                else if key == "data_classes" { try r.readArray { r, _ throws(DecodeError) in classes.append(try r.readString()) } }
                else if key == "personal_data_records" { personal = try r.readCount() }
                else if key == "jurisdiction" { jurisdiction = try r.readString() }
                else if key == "off_hours" { off = try r.readBool() }
                else { try r.skipValue() }
            }
        }
        self.level = try required(level, "tags.level")
        self.classes = classes
        personalRecords = personal
        self.jurisdiction = jurisdiction
        offHours = off
    }

    var sensitive: Bool { level == "confidential" || level == "restricted" }
    var isExport: Bool { ["export", "download", "bulk_export"].contains(log.action) }
}

/// What one principal did in one activity window (the agg.access-activity record and the
/// figures the alert rules read).
struct ActivityWindow {
    var org = "", role = ""
    var events: Int64 = 0
    var denied: Int64 = 0
    var recordsByClass: [String: Int64] = [:]
    var bytesByClass: [String: Int64] = [:]
    var resources: Set<String> = []
    var countries: Set<String> = []
    /// Confidential or restricted records exported or downloaded (allowed requests), and in how many requests.
    var sensitiveExported: Int64 = 0
    var sensitiveExports: Int64 = 0
    /// The same records by resource kind: SLOW_EXFILTRATION's unusual-kind volume.
    var exportedByKind: [String: Int64] = [:]
    /// Distinct personal-data records read one by one (by id): what PII_HARVEST counts.
    var personalIDs: Set<String> = []
    /// The distinct flow reports and manifests pulled (kind and id or filter): a harvest pulls
    /// many different ones, a supervisor the same few flights' manifests again and again.
    var flowResources: Set<String> = []
    var offHoursSensitive: Int64 = 0
    /// Sensitive accesses from third-country jurisdictions, by country.
    var thirdCountry: [String: Int64] = [:]
    var firstEvent: Int64 = .max
    var lastEvent: Int64 = .min
    /// Whether the window's first event was outside working hours (a session that starts then).
    var firstEventOffHours = false

    static let maxResources = 10_000

    var counts: TrailingCounts {
        TrailingCounts(personal: Int64(personalIDs.count), flows: Int64(flowResources.count), denied: denied,
                       exported: sensitiveExported, exports: sensitiveExports)
    }

    mutating func add(_ a: TaggedAccess) {
        org = a.log.principal.org
        role = a.log.principal.role ?? ""
        events += 1
        if a.log.occurredAt.millis < firstEvent { firstEvent = a.log.occurredAt.millis; firstEventOffHours = a.offHours }
        lastEvent = max(lastEvent, a.log.occurredAt.millis)
        if let c = a.log.source.country { countries.insert(c) }
        if resources.count < Self.maxResources {
            resources.insert(a.log.resource.kind + ":" + (a.log.resource.id ?? a.log.resource.filter ?? "*"))
        }
        if a.log.denied { denied += 1; return }
        for c in a.classes {
            recordsByClass[c, default: 0] += a.log.records
            bytesByClass[c, default: 0] += a.log.bytes
        }
        if a.sensitive && a.isExport {
            sensitiveExported += a.log.records; sensitiveExports += 1
            exportedByKind[a.log.resource.kind, default: 0] += a.log.records
        }
        if a.personalRecords > 0, let id = a.log.resource.id, personalIDs.count < Self.maxResources {
            personalIDs.insert(a.log.resource.kind + ":" + id)
        }
        if (a.log.resource.kind == "flow_report" || a.log.resource.kind == "manifest") && flowResources.count < Self.maxResources {
            flowResources.insert(a.log.resource.kind + ":" + (a.log.resource.id ?? a.log.resource.filter ?? "*"))
        }
        if a.sensitive && a.offHours { offHoursSensitive += 1 }
        if a.sensitive && a.jurisdiction == "third_country" { thirdCountry[a.log.source.country ?? "??", default: 0] += 1 }
    }

    func encode() -> [UInt8] {
        var w = BinaryStateWriter()
        w.string(org); w.string(role); w.int(events); w.int(denied)
        func map(_ m: [String: Int64]) { w.int(Int64(m.count)); for (k, v) in m.sorted(by: { $0.key < $1.key }) { w.string(k); w.int(v) } }
        func set(_ s: Set<String>) { w.int(Int64(s.count)); for k in s.sorted() { w.string(k) } }
        map(recordsByClass); map(bytesByClass); set(resources); set(countries)
        w.int(sensitiveExported); w.int(offHoursSensitive)
        map(thirdCountry); w.int(firstEvent); w.int(lastEvent)
        w.int(sensitiveExports); set(personalIDs); w.int(firstEventOffHours ? 1 : 0); set(flowResources)
        // Appended (session 14): a window written before has none, and decodes with none.
        map(exportedByKind)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> ActivityWindow {
        var r = BinaryStateReader(bytes)
        var a = ActivityWindow()
        func map() throws -> [String: Int64] {
            var m: [String: Int64] = [:]
            for _ in 0..<max(0, try r.int()) { let k = try r.string(); m[k] = try r.int() }
            return m
        }
        func set() throws -> Set<String> {
            var s = Set<String>()
            for _ in 0..<max(0, try r.int()) { s.insert(try r.string()) }
            return s
        }
        a.org = try r.string(); a.role = try r.string(); a.events = try r.int(); a.denied = try r.int()
        a.recordsByClass = try map(); a.bytesByClass = try map(); a.resources = try set(); a.countries = try set()
        a.sensitiveExported = try r.int(); a.offHoursSensitive = try r.int()
        a.thirdCountry = try map(); a.firstEvent = try r.int(); a.lastEvent = try r.int()
        a.sensitiveExports = try r.int(); a.personalIDs = try set(); a.firstEventOffHours = try r.int() != 0; a.flowResources = try set()
        if !r.isAtEnd { a.exportedByKind = try map() }
        return a
    }
}

/// Exponentially weighted mean and variance of one figure over a principal's (or peer group's)
/// active windows: the baseline the rules compare a window with.
struct Baseline {
    var n: Int64 = 0
    var mean = 0.0
    var variance = 0.0

    /// `clip`: once there are a few observations, a deviation counts as at most `clip` standard
    /// deviations (at least `floor`), so one rare outlier (a month-end report) cannot inflate the
    /// spread and hide the next real anomaly: a Huber-style robust update.
    mutating func add(_ x: Double, alpha: Double, clip: Double? = nil, floor: Double = 0) {
        n += 1
        if n == 1 { mean = x; variance = 0; return }
        let a = max(alpha, 1 / Double(n))  // plain average until 1/n drops below alpha
        var d = x - mean
        if let clip, n > 3 {
            let limit = clip * max(sd, floor)
            d = min(max(d, -limit), limit)
        }
        mean += a * d
        variance = (1 - a) * (variance + a * d * d)
    }

    var sd: Double { variance.squareRoot() }

    func write(_ w: inout BinaryStateWriter) { w.int(n); w.double(mean); w.double(variance) }
    static func read(_ r: inout BinaryStateReader) throws -> Baseline { Baseline(n: try r.int(), mean: try r.double(), variance: try r.double()) }
}

/// The figures the rules baseline, per principal and per peer group.
enum Metric: Int, CaseIterable {
    /// ln of the mean size of a window's sensitive exports (windows with exports only): BULK_EXPORT
    /// compares a window's total with the usual size of one export, on a log scale, because export
    /// sizes spread over orders of magnitude and a mean is led by the rare big one.
    case exportSize
    /// Distinct personal-data records read one by one in the trailing 15 minutes: PII_HARVEST.
    case personalReads
    /// Distinct flow reports and manifests pulled in the trailing 15 minutes (per-window distinct
    /// counts, summed): FLOW_REPORT_HARVEST.
    case flowPulls
    /// Denied requests in the trailing span: DENIED_BURST.
    case denied
    /// 1 for a session that began outside working hours, 0 for one that did not (its mean is
    /// the share): OFF_HOURS, the peer group's habit while the principal's own is too short.
    case offHoursSession

    /// The name in peer observations (`aggregation.peer-observations`).
    var name: String {
        switch self {
        case .exportSize: "export_size"
        case .personalReads: "personal_reads"
        case .flowPulls: "flow_pulls"
        case .denied: "denied"
        case .offHoursSession: "off_hours_session"
        }
    }

    init?(name: String) {
        guard let m = Metric.allCases.first(where: { $0.name == name }) else { return nil }
        self = m
    }

    /// How far (in standard deviations) one window may move the baseline: a Huber-style robust
    /// update, so that neither a rare legitimate outlier (a month-end report) nor the first
    /// windows of an attack that has not yet crossed the threshold inflate the spread and lift
    /// the threshold out of its reach. Sessions are 0 or 1: nothing to clip.
    var clip: Double? { self == .offHoursSession ? nil : 2.5 }
}

/// What one window (or the trailing span) counts for the harvest rules, DENIED_BURST and
/// BULK_EXPORT: distinct personal-data records read one by one, distinct flow reports and
/// manifests pulled, denied requests, sensitive records exported and in how many exports.
struct TrailingCounts: Equatable {
    var personal: Int64 = 0
    var flows: Int64 = 0
    var denied: Int64 = 0
    var exported: Int64 = 0
    var exports: Int64 = 0
}

/// What the access task knows about one principal, learned from its own stream.
struct PrincipalProfile {
    var firstSeen: Int64 = .max
    var windows: Int64 = 0
    /// Earlier sessions, and how many of them began outside working hours: the principal's habit.
    /// A session counts when the next one begins, and not at all if it began off hours and raised
    /// an alert: an attacker's night (or weekend) must not teach the profile that this principal works then.
    var sessions: Int64 = 0
    var offHoursSessions: Int64 = 0
    var baselines = Array(repeating: Baseline(), count: Metric.allCases.count)
    /// Windows seen per source country.
    var countries: [String: Int64] = [:]
    /// Sensitive records exported per hour (hour index → records), the last 72 hours.
    var hourly: [Int64: Int64] = [:]
    /// Daily totals of sensitive exports: baseline of completed days.
    var daily = Baseline()
    var lastDay: Int64 = -1
    var lastDayTotal: Int64 = 0
    /// End of the last window a rule fired in, per rule (SLOW_EXFILTRATION stays quiet after a BULK_EXPORT).
    var lastAlert: [String: Int64] = [:]
    /// Per recent window start (the trailing span of the harvest rules and DENIED_BURST).
    var recent: [Int64: TrailingCounts] = [:]
    /// Last event time seen, and the current session (activity with no gap of `sessionGapMs`):
    /// when it began, whether it began outside working hours, its sensitive events off hours.
    var lastActive: Int64 = .min
    var sessionStart: Int64 = .min
    var sessionBeganOffHours = false
    var sessionOffHoursSensitive: Int64 = 0
    /// Whether the current session is still to be counted in the habit (false in a profile written
    /// before session 13, whose current session was counted when it began), and whether it raised an alert.
    var sessionPending = false
    var sessionAlerted = false
    /// Per resource kind the principal exported sensitive records of: on how many days, and the
    /// last (UTC day index). A kind exported on `usualKindDays` earlier days is usual for it.
    var kindDays: [String: Int64] = [:]
    var kindLastDay: [String: Int64] = [:]
    /// Sensitive records exported per hour of kinds unusual for the principal and its role, the
    /// last 24 hours; emptied by the SLOW_EXFILTRATION alert they raise.
    var unusualHourly: [Int64: Int64] = [:]

    func encode() -> [UInt8] {
        var w = BinaryStateWriter()
        w.int(firstSeen); w.int(windows); w.int(sessions); w.int(offHoursSessions)
        for b in baselines { b.write(&w) }
        w.int(Int64(countries.count)); for (k, v) in countries.sorted(by: { $0.key < $1.key }) { w.string(k); w.int(v) }
        w.int(Int64(hourly.count)); for (k, v) in hourly.sorted(by: { $0.key < $1.key }) { w.int(k); w.int(v) }
        daily.write(&w); w.int(lastDay); w.int(lastDayTotal)
        w.int(Int64(lastAlert.count)); for (k, v) in lastAlert.sorted(by: { $0.key < $1.key }) { w.string(k); w.int(v) }
        let recentSorted = recent.sorted(by: { $0.key < $1.key })
        w.int(Int64(recent.count)); for (k, v) in recentSorted { w.int(k); w.int(v.personal); w.int(v.flows) }
        w.int(lastActive); w.int(sessionStart); w.int(sessionBeganOffHours ? 1 : 0); w.int(sessionOffHoursSensitive)
        // Appended (session 9): a profile written before has none, and decodes with 0.
        for (_, v) in recentSorted { w.int(v.denied) }
        // Appended (session 13): a profile written before has none of these, and decodes with
        // false and no exports in the span.
        w.int(sessionPending ? 1 : 0); w.int(sessionAlerted ? 1 : 0)
        for (_, v) in recentSorted { w.int(v.exported); w.int(v.exports) }
        // Appended (session 14): a profile written before has no kinds, and learns them from now.
        w.int(Int64(kindDays.count))
        for (k, v) in kindDays.sorted(by: { $0.key < $1.key }) { w.string(k); w.int(v); w.int(kindLastDay[k] ?? -1) }
        w.int(Int64(unusualHourly.count)); for (k, v) in unusualHourly.sorted(by: { $0.key < $1.key }) { w.int(k); w.int(v) }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> PrincipalProfile {
        var r = BinaryStateReader(bytes)
        var p = PrincipalProfile()
        p.firstSeen = try r.int(); p.windows = try r.int(); p.sessions = try r.int(); p.offHoursSessions = try r.int()
        p.baselines = try Metric.allCases.map { _ in try Baseline.read(&r) }
        for _ in 0..<max(0, try r.int()) { let k = try r.string(); p.countries[k] = try r.int() }
        for _ in 0..<max(0, try r.int()) { let k = try r.int(); p.hourly[k] = try r.int() }
        p.daily = try Baseline.read(&r); p.lastDay = try r.int(); p.lastDayTotal = try r.int()
        for _ in 0..<max(0, try r.int()) { let k = try r.string(); p.lastAlert[k] = try r.int() }
        var recentKeys: [Int64] = []
        for _ in 0..<max(0, try r.int()) {
            let k = try r.int()
            p.recent[k] = TrailingCounts(personal: try r.int(), flows: try r.int())
            recentKeys.append(k)
        }
        p.lastActive = try r.int(); p.sessionStart = try r.int(); p.sessionBeganOffHours = try r.int() != 0; p.sessionOffHoursSensitive = try r.int()
        if !r.isAtEnd { for k in recentKeys { p.recent[k]?.denied = try r.int() } }
        if !r.isAtEnd {
            p.sessionPending = try r.int() != 0; p.sessionAlerted = try r.int() != 0
            for k in recentKeys { p.recent[k]?.exported = try r.int(); p.recent[k]?.exports = try r.int() }
        }
        if !r.isAtEnd {
            for _ in 0..<max(0, try r.int()) { let k = try r.string(); p.kindDays[k] = try r.int(); p.kindLastDay[k] = try r.int() }
            for _ in 0..<max(0, try r.int()) { let k = try r.int(); p.unusualHourly[k] = try r.int() }
        }
        return p
    }
}
