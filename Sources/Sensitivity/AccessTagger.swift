import Codec
import ReferenceData

/// Tags an access event with what it touched (data classes, level, personal-data records),
/// where it came from (jurisdiction) and when (off hours, Europe/Brussels time).
public struct AccessTagger: Sendable {
    public let policy: SensitivityPolicy
    public let hours: WorkingHours

    public init(policy: SensitivityPolicy, hours: WorkingHours) {
        self.policy = policy
        self.hours = hours
    }

    public struct Tags: Equatable, Sendable {
        public var dataClasses: [String]
        public var level: String
        public var personalDataRecords: Int64
        public var jurisdiction: String
        public var offHours: Bool
        public var localTime: String

        public func encode(policyVersion: String, to w: inout JSONWriter) {
            w.beginObject()
            w.key("data_classes"); w.beginArray(); for c in dataClasses { w.string(c) }; w.endArray()
            w.key("level"); w.string(level)
            w.key("personal_data_records"); w.int(personalDataRecords)
            w.key("jurisdiction"); w.string(jurisdiction)
            w.key("off_hours"); w.bool(offHours)
            w.key("local_time"); w.string(localTime)
            w.key("policy_version"); w.string(policyVersion)
            w.endObject()
        }
    }

    public func tags(_ a: AccessLog, _ ref: ReferenceSnapshot) -> Tags {
        let resource = policy.resources[a.resource.kind]
        let classes = (resource?.classes ?? []).sorted()
        var level = policy.level(of: classes)
        if let explicit = resource?.level { level = policy.max(level, explicit) }
        let jurisdiction: String
        if let c = a.source.country {
            switch ref.region(of: c) {
            case "eu": jurisdiction = "eu"
            case "eea": jurisdiction = "eea"
            // The table lists every EU and EEA member, so a country missing from it is a third country.
            case nil: jurisdiction = c.count == 2 && c.allSatisfy({ $0.isASCII && $0.isUppercase }) ? "third_country" : "unknown"
            default: jurisdiction = "third_country"
            }
        } else {
            jurisdiction = "unknown"
        }
        let local = BrusselsTime(a.occurredAt)
        return Tags(dataClasses: classes, level: level, personalDataRecords: resource?.personalData == true ? a.records : 0,
                    jurisdiction: jurisdiction, offHours: !hours.contains(local), localTime: local.rfc3339)
    }
}

/// Working hours in local time, e.g. 07:00–19:00 Monday to Friday.
public struct WorkingHours: Sendable {
    public let startMinute: Int
    public let endMinute: Int
    /// 1 = Monday … 7 = Sunday.
    public let days: Set<Int>

    public init(startMinute: Int, endMinute: Int, days: Set<Int>) {
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.days = days
    }

    /// "07:00-19:00" and "mon,tue,wed,thu,fri" (or "mon-fri").
    public static func parse(hours: String, days: String) -> WorkingHours? {
        let parts = hours.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        func minutes(_ s: String) -> Int? {
            let hm = s.split(separator: ":")
            guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...24).contains(h), (0..<60).contains(m) else { return nil }
            return h * 60 + m
        }
        guard parts.count == 2, let a = minutes(parts[0]), let b = minutes(parts[1]), a < b else { return nil }
        let names = ["mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7]
        var set: Set<Int> = []
        for item in days.lowercased().split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let range = item.split(separator: "-").map(String.init)
            if range.count == 2, let x = names[range[0]], let y = names[range[1]], x <= y { set.formUnion(x...y) }
            else if let d = names[item] { set.insert(d) } else { return nil }
        }
        return set.isEmpty ? nil : WorkingHours(startMinute: a, endMinute: b, days: set)
    }

    public func contains(_ t: BrusselsTime) -> Bool {
        days.contains(t.weekday) && t.minuteOfDay >= startMinute && t.minuteOfDay < endMinute
    }
}

/// Local time in Europe/Brussels: CET (UTC+1), CEST (UTC+2) from the last Sunday of March
/// 01:00 UTC to the last Sunday of October 01:00 UTC (EU rule, Directive 2000/84/EC). Computed,
/// so the image needs no tz database.
public struct BrusselsTime: Sendable {
    public let offsetMinutes: Int
    public let minuteOfDay: Int
    /// 1 = Monday … 7 = Sunday.
    public let weekday: Int
    public let rfc3339: String

    public init(_ t: Timestamp) {
        let year = t.year
        func lastSunday(month: Int) -> Int64 {
            let last = Timestamp.daysIn(month: month, year: year)
            let days = Timestamp.daysFromCivil(year: year, month: month, day: last)
            let weekday = ((days % 7) + 7 + 3) % 7  // 0 = Monday
            return Int64(days - (weekday + 1) % 7) * 86_400_000 + 3_600_000  // 01:00 UTC
        }
        let summer = t.millis >= lastSunday(month: 3) && t.millis < lastSunday(month: 10)
        offsetMinutes = summer ? 120 : 60
        let local = t.millis + Int64(offsetMinutes) * 60_000
        let day = local.floorDiv(86_400_000)
        minuteOfDay = Int((local - day * 86_400_000) / 60_000)
        weekday = Int(((day % 7) + 7 + 3) % 7) + 1
        var text = Timestamp(millis: local).rfc3339
        text.removeLast()  // "Z"
        rfc3339 = text + (summer ? "+02:00" : "+01:00")
    }
}

import Foundation
