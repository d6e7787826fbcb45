/// A decimal amount held as exact integer micro-units (1e-6). Sums, FX conversion and
/// thresholds stay exact: money is never binary floating point here.
public struct Amount: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public var micros: Int64

    public init(micros: Int64) { self.micros = micros }
    public init(integerLiteral value: Int64) { micros = value * 1_000_000 }
    public init(units: Int64) { micros = units * 1_000_000 }

    /// Parses a plain decimal like `23.4` or `-0.005` exactly.
    public init?(_ text: String) {
        var text = text
        let value: Int64? = text.withUTF8 { utf8 in
            var r = JSONReader(UnsafeRawBufferPointer(utf8))
            guard let v = try? r.readMicros(), (try? r.expectEnd()) != nil else { return nil }
            return v
        }
        guard let value else { return nil }
        micros = value
    }

    public static let zero = Amount(micros: 0)

    public static func < (a: Amount, b: Amount) -> Bool { a.micros < b.micros }
    public static func + (a: Amount, b: Amount) -> Amount { Amount(micros: a.micros + b.micros) }
    public static func - (a: Amount, b: Amount) -> Amount { Amount(micros: a.micros - b.micros) }
    public static func += (a: inout Amount, b: Amount) { a.micros += b.micros }
    public static func * (a: Amount, n: Int64) -> Amount { Amount(micros: a.micros * n) }

    /// a × b, both fixed-point, rounded half away from zero to micro-units (128-bit intermediate).
    public func multiplied(by rate: Amount) -> Amount {
        let wide = Int128(micros) * Int128(rate.micros)  // Int64 × Int64 always fits
        var q = wide / 1_000_000
        let r = wide % 1_000_000
        if r.magnitude * 2 >= 1_000_000 { q += wide < 0 ? -1 : 1 }
        return Amount(micros: Int64(clamping: q))
    }

    /// a ÷ b rounded half away from zero (e.g. value per kg); nil when b is zero.
    public func divided(by divisor: Amount) -> Amount? {
        guard divisor.micros != 0 else { return nil }
        let wide = Int128(micros) * 1_000_000
        var q = wide / Int128(divisor.micros)
        let r = wide % Int128(divisor.micros)
        if r.magnitude * 2 >= Int128(divisor.micros).magnitude { q += (wide < 0) != (divisor.micros < 0) ? -1 : 1 }
        return Amount(micros: Int64(clamping: q))
    }

    /// For statistics and scores only (never for sums of money).
    public var doubleValue: Double { Double(micros) / 1_000_000 }

    public var description: String {
        var w = JSONWriter(capacity: 24)
        w.micros(micros)
        return w.withBytes { String(decoding: $0, as: UTF8.self) }
    }
}

/// `{"amount": <number>, "currency": "<ISO 4217>"}`.
public struct Money: Hashable, Sendable, CustomStringConvertible {
    public var amount: Amount
    public var currency: String

    public init(amount: Amount, currency: String) {
        self.amount = amount
        self.currency = currency
    }

    public var description: String { "\(amount) \(currency)" }
}

extension JSONReader {
    public mutating func readAmount() throws(DecodeError) -> Amount {
        Amount(micros: try readMicros())
    }

    public mutating func readMoney() throws(DecodeError) -> Money {
        var amount: Amount?
        var currency: String?
        try readObject { r, key throws(DecodeError) in
            if key == "amount" { amount = try r.readAmount() }
            else if key == "currency" { currency = try r.readCode(letters: 3, uppercase: true, what: "ISO 4217 currency code") }
            else { try r.skipValue() }
        }
        guard let amount else { throw DecodeError("missing required field", path: [.key("amount")]) }
        guard let currency else { throw DecodeError("missing required field", path: [.key("currency")]) }
        return Money(amount: amount, currency: currency)
    }

    public mutating func readNonNegativeMoney() throws(DecodeError) -> Money {
        let m = try readMoney()
        if m.amount < .zero { throw DecodeError("must not be negative, got \(m.amount)", path: [.key("amount")]) }
        return m
    }

    /// A code of exactly `letters` ASCII letters (countries: 2, currencies: 3).
    public mutating func readCode(letters: Int, uppercase: Bool, what: String) throws(DecodeError) -> String {
        let s = try readString()
        guard s.utf8.count == letters, s.utf8.allSatisfy({ uppercase ? (0x41...0x5A).contains($0) : ((0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)) }) else {
            throw DecodeError("expected \(what), got \"\(s.prefix(20))\"")
        }
        return s
    }
}

extension JSONWriter {
    public mutating func amount(_ a: Amount) { micros(a.micros) }

    public mutating func money(_ m: Money) {
        beginObject()
        key("amount"); amount(m.amount)
        key("currency"); string(m.currency)
        endObject()
    }

    public mutating func money(_ m: Money?) { if let m { money(m) } else { null() } }
}
