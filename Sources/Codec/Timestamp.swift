/// An instant as milliseconds since the Unix epoch, read from and written as RFC 3339 UTC
/// (`2026-11-27T22:14:03.512Z`). Event time for windows, joins and watermarks.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var millis: Int64

    public init(millis: Int64) { self.millis = millis }

    /// Years the fleet accepts as event time; anything else is a decode error (year 0 and 9999
    /// would wreck watermarks).
    public static let plausibleYears = 1970...2200

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.millis < b.millis }

    public static func + (t: Timestamp, ms: Int64) -> Timestamp { Timestamp(millis: t.millis + ms) }
    public static func - (t: Timestamp, ms: Int64) -> Timestamp { Timestamp(millis: t.millis - ms) }

    public var description: String { rfc3339 }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; lower-case `t`/`z` and a space separator
    /// are tolerated, the offset is applied.
    public init?(rfc3339 text: String) {
        var text = text
        let parsed: Int64? = text.withUTF8 { Timestamp.parse($0) }
        guard let parsed else { return nil }
        millis = parsed
    }

    static func parse(_ s: UnsafeBufferPointer<UInt8>) -> Int64? {
        func num(_ at: Int, _ len: Int) -> Int? {
            guard at + len <= s.count else { return nil }
            var v = 0
            for i in at..<at + len {
                let c = s[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard s.count >= 20, let year = num(0, 4), s[4] == 0x2D, let month = num(5, 2), s[7] == 0x2D,
              let day = num(8, 2), s[10] == 0x54 || s[10] == 0x74 || s[10] == 0x20,
              let hour = num(11, 2), s[13] == 0x3A, let minute = num(14, 2), s[16] == 0x3A, let second = num(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var ms = 0
        if i < s.count && s[i] == 0x2E {
            i += 1
            var digits = 0
            while i < s.count, s[i] >= 0x30, s[i] <= 0x39 {
                if digits < 3 { ms = ms * 10 + Int(s[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            if digits < 3 { for _ in digits..<3 { ms *= 10 } }
        }
        guard i < s.count else { return nil }
        var offsetMinutes = 0
        if s[i] == 0x5A || s[i] == 0x7A {
            i += 1
        } else if s[i] == 0x2B || s[i] == 0x2D {
            guard let oh = num(i + 1, 2), i + 3 < s.count, s[i + 3] == 0x3A, let om = num(i + 4, 2), oh < 24, om < 60 else { return nil }
            offsetMinutes = (oh * 60 + om) * (s[i] == 0x2D ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == s.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(ms)
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    public var year: Int { Timestamp.civilFromDays(Int(millis.floorDiv(86_400_000))).year }

    /// Calendar date in UTC, `YYYY-MM-DD` (FX rates are per date).
    public var dateString: String { String(rfc3339.prefix(10)) }

    /// Days since the epoch (UTC).
    public var epochDay: Int { Int(millis.floorDiv(86_400_000)) }

    public var rfc3339: String {
        String(unsafeUninitializedCapacity: 24) { buffer in
            write(to: buffer.baseAddress!)
            return 24
        }
    }

    /// Writes the RFC 3339 form (always milliseconds, always `Z`): exactly 24 bytes.
    public func write(to b: UnsafeMutablePointer<UInt8>) {
        let days = Int(millis.floorDiv(86_400_000))
        let rem = Int(millis - Int64(days) * 86_400_000)
        let (y, m, d) = Timestamp.civilFromDays(days)
        let secs = rem / 1000
        let ms = rem % 1000
        let h = secs / 3600, mi = secs / 60 % 60, s = secs % 60
        @inline(__always) func digit(_ v: Int) -> UInt8 { UInt8(truncatingIfNeeded: 0x30 + v) }
        let yy = max(0, min(9999, y))
        b[0] = digit(yy / 1000); b[1] = digit(yy / 100 % 10); b[2] = digit(yy / 10 % 10); b[3] = digit(yy % 10)
        b[4] = 0x2D; b[5] = digit(m / 10); b[6] = digit(m % 10); b[7] = 0x2D; b[8] = digit(d / 10); b[9] = digit(d % 10)
        b[10] = 0x54; b[11] = digit(h / 10); b[12] = digit(h % 10); b[13] = 0x3A; b[14] = digit(mi / 10); b[15] = digit(mi % 10)
        b[16] = 0x3A; b[17] = digit(s / 10); b[18] = digit(s % 10); b[19] = 0x2E
        b[20] = digit(ms / 100); b[21] = digit(ms / 10 % 10); b[22] = digit(ms % 10); b[23] = 0x5A
    }
}

extension Int64 {
    /// Division rounding toward negative infinity (event times before 1970 stay in their day).
    @inlinable
    public func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}

extension JSONReader {
    public mutating func readTimestamp() throws(DecodeError) -> Timestamp {
        let t: Timestamp
        let start = index
        if let raw = try readUnescapedBytes(), let millis = Timestamp.parse(raw) {
            t = Timestamp(millis: millis)
        } else {
            index = start
            let text = try readString()
            guard let parsed = Timestamp(rfc3339: text) else { throw DecodeError("expected RFC 3339 timestamp, got \"\(text.prefix(40))\"") }
            t = parsed
        }
        let year = t.year
        guard Timestamp.plausibleYears.contains(year) else {
            throw DecodeError("timestamp year \(year) is outside \(Timestamp.plausibleYears.lowerBound)–\(Timestamp.plausibleYears.upperBound)")
        }
        return t
    }
}

extension JSONWriter {
    public mutating func timestamp(_ t: Timestamp) {
        separator()
        put(exactly: 26) { p in
            p[0] = UInt8(ascii: "\"")
            t.write(to: p + 1)
            p[25] = UInt8(ascii: "\"")
        }
    }

    public mutating func timestamp(_ t: Timestamp?) { if let t { timestamp(t) } else { null() } }
}
