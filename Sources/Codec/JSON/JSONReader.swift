#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kind of the next JSON value, for error messages and optional fields.
public enum JSONKind: String, Sendable {
    case object, array, string, number, bool, null
    case invalid = "invalid JSON"
    case end = "end of input"
}

/// An object key as it appears in the input; compared against static names without allocating.
public struct JSONKey {
    @usableFromInline let start: UnsafeRawPointer
    public let count: Int
    /// Set when the key contained escapes: then the decoded text lives here.
    @usableFromInline let decoded: String?
    @usableFromInline init(start: UnsafeRawPointer, count: Int, decoded: String?) {
        self.start = start
        self.count = count
        self.decoded = decoded
    }

    @inlinable
    public static func == (key: JSONKey, name: StaticString) -> Bool {
        if let decoded = key.decoded { return decoded == name.description }
        return key.count == name.utf8CodeUnitCount && memcmp(key.start, name.utf8Start, key.count) == 0
    }

    public var string: String {
        decoded ?? String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    }

    /// Whether the key reads `utf8` (compared without allocating).
    @inlinable
    public func matches(_ utf8: [UInt8]) -> Bool {
        if let decoded { return decoded.utf8.elementsEqual(utf8) }
        return count == utf8.count && utf8.withUnsafeBytes { memcmp(start, $0.baseAddress!, count) == 0 }
    }

    /// Whether the key is valid UTF-8 (a key with escapes was checked when it was decoded).
    public var isValidUTF8: Bool {
        decoded != nil || Codec.isValidUTF8(UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: count))
    }
}

/// A strict, allocation-light pull parser over UTF-8 JSON bytes (RFC 8259).
///
/// Records are decoded straight from the consumed message's memory into typed values: no
/// intermediate tree, no Foundation. Errors carry the field path (added while unwinding, so the
/// happy path pays nothing for it). Rejected on purpose: byte-order marks, invalid UTF-8,
/// NaN/Infinity, numbers out of range, nesting deeper than `maxDepth`, control characters in strings.
public struct JSONReader {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let end: Int
    @usableFromInline var index = 0
    @usableFromInline var depth = 0
    public var maxDepth = 32

    public init(_ bytes: UnsafeRawBufferPointer) {
        // An empty buffer may have no base address; point at a static byte instead.
        base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? JSONReader.emptyBase
        end = bytes.count
    }

    nonisolated(unsafe) private static let emptyBase: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.pointee = 0
        return UnsafePointer(p)
    }()

    @inlinable @inline(__always)
    mutating func skipWhitespace() {
        while index < end {
            let c = base[index]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { index += 1 } else { return }
        }
    }

    public mutating func peekKind() -> JSONKind {
        skipWhitespace()
        guard index < end else { return .end }
        switch base[index] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case UInt8(ascii: "t"): return hasLiteral("true") ? .bool : .invalid
        case UInt8(ascii: "f"): return hasLiteral("false") ? .bool : .invalid
        case UInt8(ascii: "n"): return hasLiteral("null") ? .null : .invalid
        default: return .invalid
        }
    }

    @usableFromInline
    func mismatch(_ expected: String, _ found: JSONKind) -> DecodeError {
        if found == .invalid, index < end {
            let byte = base[index]
            if index == 0 && byte == 0xEF { return DecodeError("byte-order mark is not allowed") }
            let shown = byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
            return DecodeError("expected \(expected), got invalid JSON (\(shown) at offset \(index))")
        }
        return DecodeError("expected \(expected), got \(found.rawValue)")
    }

    // MARK: Containers

    /// Reads an object, calling `body` for each key with the reader positioned at its value.
    /// The body must consume the value (read it or `skipValue()`).
    @inlinable
    public mutating func readObject(_ body: (inout JSONReader, JSONKey) throws(DecodeError) -> Void) throws(DecodeError) {
        let kind = peekKind()
        guard kind == .object else { throw mismatch("object", kind) }
        depth += 1
        guard depth <= maxDepth else { throw DecodeError("nesting deeper than \(maxDepth) levels") }
        index += 1
        skipWhitespace()
        if index < end && base[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return
        }
        while true {
            skipWhitespace()
            guard index < end, base[index] == UInt8(ascii: "\"") else {
                throw DecodeError("expected a key in object, got \(index < end ? "invalid JSON at offset \(index)" : "end of input")")
            }
            let key = try readKey()
            skipWhitespace()
            guard index < end, base[index] == UInt8(ascii: ":") else { throw DecodeError("expected ':' after key \"\(key.string)\"") }
            index += 1
            do { try body(&self, key) } catch { throw error.prefixed(.key(key.string)) }
            skipWhitespace()
            guard index < end else { throw DecodeError("unterminated object") }
            let c = base[index]
            index += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { break }
            throw DecodeError("expected ',' or '}' in object at offset \(index - 1)")
        }
        depth -= 1
    }

    @inlinable
    public mutating func readArray(_ body: (inout JSONReader, Int) throws(DecodeError) -> Void) throws(DecodeError) {
        let kind = peekKind()
        guard kind == .array else { throw mismatch("array", kind) }
        depth += 1
        guard depth <= maxDepth else { throw DecodeError("nesting deeper than \(maxDepth) levels") }
        index += 1
        skipWhitespace()
        if index < end && base[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return
        }
        var i = 0
        while true {
            do { try body(&self, i) } catch { throw error.prefixed(.index(i)) }
            i += 1
            skipWhitespace()
            guard index < end else { throw DecodeError("unterminated array") }
            let c = base[index]
            index += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { break }
            throw DecodeError("expected ',' or ']' in array at offset \(index - 1)")
        }
        depth -= 1
    }

    /// After the top-level value: only whitespace may follow.
    public mutating func expectEnd() throws(DecodeError) {
        skipWhitespace()
        if index != end { throw DecodeError("unexpected data after the JSON value at offset \(index)") }
    }

    // MARK: Scalars

    /// True (and consumed) when the next value is `null`.
    @inlinable
    public mutating func readNull() -> Bool {
        skipWhitespace()
        if index + 4 <= end && base[index] == UInt8(ascii: "n") && base[index + 1] == UInt8(ascii: "u")
            && base[index + 2] == UInt8(ascii: "l") && base[index + 3] == UInt8(ascii: "l") {
            index += 4
            return true
        }
        return false
    }

    public mutating func readBool() throws(DecodeError) -> Bool {
        skipWhitespace()
        if matchLiteral("true") { return true }
        if matchLiteral("false") { return false }
        throw mismatch("boolean", peekKind())
    }

    func hasLiteral(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        return index + n <= end && memcmp(base + index, literal.utf8Start, n) == 0
    }

    mutating func matchLiteral(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard index + n <= end, memcmp(base + index, literal.utf8Start, n) == 0 else { return false }
        index += n
        return true
    }

    @inlinable
    public mutating func readString() throws(DecodeError) -> String {
        skipWhitespace()
        guard index < end, base[index] == UInt8(ascii: "\"") else { throw mismatch("string", peekKind()) }
        index += 1
        let start = index
        var seen: UInt64 = 0  // OR of all bytes: ASCII-only strings skip UTF-8 validation
        index += firstSpecialByte(base + index, end - index, seen: &seen)
        if index < end && base[index] == UInt8(ascii: "\"") {
            let bytes = UnsafeBufferPointer(start: base + start, count: index - start)
            index += 1
            if seen & 0x8080_8080_8080_8080 != 0 && !isValidUTF8(bytes) { throw DecodeError("invalid UTF-8 in string") }
            return String(decoding: bytes, as: UTF8.self)
        }
        index = start
        return try readEscapedString()
    }

    /// The bytes of the next string when it has no escapes (nil otherwise, nothing consumed):
    /// lets timestamps and codes be parsed without allocating a String.
    @usableFromInline
    mutating func readUnescapedBytes() throws(DecodeError) -> UnsafeBufferPointer<UInt8>? {
        skipWhitespace()
        guard index < end, base[index] == UInt8(ascii: "\"") else { throw mismatch("string", peekKind()) }
        var i = index + 1
        while i < end {
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                let bytes = UnsafeBufferPointer(start: base + index + 1, count: i - index - 1)
                index = i + 1
                return bytes
            }
            if c == UInt8(ascii: "\\") || c < 0x20 || c >= 0x80 { return nil }
            i += 1
        }
        return nil
    }

    @usableFromInline
    mutating func readEscapedString() throws(DecodeError) -> String {
        var out: [UInt8] = []
        while index < end {
            let c = base[index]
            index += 1
            switch c {
            case UInt8(ascii: "\""):
                let valid = out.withUnsafeBufferPointer { isValidUTF8($0) }
                guard valid else { throw DecodeError("invalid UTF-8 in string") }
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < end else { throw DecodeError("unterminated string") }
                let e = base[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try readHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 2 <= end, base[index] == UInt8(ascii: "\\"), base[index + 1] == UInt8(ascii: "u") else {
                            throw DecodeError("unpaired surrogate \\u\(String(scalar, radix: 16)) in string")
                        }
                        index += 2
                        let low = try readHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw DecodeError("invalid surrogate pair in string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw DecodeError("unpaired surrogate \\u\(String(scalar, radix: 16)) in string")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw DecodeError("invalid \\u escape") }
                    out.append(contentsOf: UTF8.encode(u)!)
                default:
                    throw DecodeError("invalid escape '\\\(Character(Unicode.Scalar(e)))' in string")
                }
            default:
                if c < 0x20 { throw DecodeError("control character 0x\(String(c, radix: 16)) in string (must be escaped)") }
                out.append(c)
            }
        }
        throw DecodeError("unterminated string")
    }

    mutating func readHex4() throws(DecodeError) -> UInt32 {
        guard index + 4 <= end else { throw DecodeError("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = base[index]
            index += 1
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw DecodeError("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
        }
        return v
    }

    @usableFromInline
    mutating func readKey() throws(DecodeError) -> JSONKey {
        index += 1  // opening quote, checked by the caller
        let start = index
        while index < end {
            let c = base[index]
            if c == UInt8(ascii: "\"") {
                index += 1
                // Keys we compare against are ASCII; other keys are validated when turned into text.
                return JSONKey(start: UnsafeRawPointer(base + start), count: index - 1 - start, decoded: nil)
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            index += 1
        }
        index = start - 1
        let decoded = try readString()
        return JSONKey(start: UnsafeRawPointer(base), count: 0, decoded: decoded)
    }

    /// The raw text of a JSON number, checked against the RFC 8259 grammar.
    @usableFromInline
    mutating func scanNumber() throws(DecodeError) -> (start: Int, intEnd: Int, fracEnd: Int, end: Int) {
        skipWhitespace()
        let start = index
        guard index < end else { throw mismatch("number", .end) }
        if base[index] == UInt8(ascii: "-") { index += 1 }
        func digit(_ i: Int) -> Bool { i < end && base[i] >= UInt8(ascii: "0") && base[i] <= UInt8(ascii: "9") }
        guard digit(index) else {
            index = start
            throw mismatch("number", peekKind())
        }
        if base[index] == UInt8(ascii: "0") {
            index += 1
            if digit(index) { throw DecodeError("invalid number: leading zero") }
        } else {
            while digit(index) { index += 1 }
        }
        let intEnd = index
        if index < end && base[index] == UInt8(ascii: ".") {
            index += 1
            guard digit(index) else { throw DecodeError("invalid number: no digit after '.'") }
            while digit(index) { index += 1 }
        }
        let fracEnd = index
        if index < end && (base[index] == UInt8(ascii: "e") || base[index] == UInt8(ascii: "E")) {
            index += 1
            if index < end && (base[index] == UInt8(ascii: "+") || base[index] == UInt8(ascii: "-")) { index += 1 }
            guard digit(index) else { throw DecodeError("invalid number: no digit in exponent") }
            while digit(index) { index += 1 }
        }
        return (start, intEnd, fracEnd, index)
    }

    /// An integer; fractions and exponents are errors, as are values outside Int64.
    @inlinable
    public mutating func readInt() throws(DecodeError) -> Int64 {
        let n = try scanNumber()
        guard n.fracEnd == n.intEnd && n.end == n.fracEnd else { throw DecodeError("expected integer, got \(text(n.start..<n.end))") }
        var i = n.start
        let negative = base[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var value: Int64 = 0
        while i < n.intEnd {
            let d = Int64(base[i] - UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            if o1 || o2 { throw DecodeError("integer out of range: \(text(n.start..<n.end))") }
            value = a
            i += 1
        }
        return value
    }

    /// A number as a Double (scores, rates); rejects values that overflow to infinity.
    public mutating func readDouble() throws(DecodeError) -> Double {
        let n = try scanNumber()
        let t = text(n.start..<n.end)
        guard let v = Double(t), v.isFinite else { throw DecodeError("number out of range: \(t)") }
        return v
    }

    /// A decimal number as exact fixed-point micro-units (1e-6): money is never binary floating point.
    public mutating func readMicros() throws(DecodeError) -> Int64 {
        let n = try scanNumber()
        var i = n.start
        let negative = base[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var exponent = 0
        if n.end > n.fracEnd {
            var e = n.fracEnd + 1
            var expNegative = false
            if base[e] == UInt8(ascii: "+") { e += 1 } else if base[e] == UInt8(ascii: "-") { expNegative = true; e += 1 }
            var ev = 0
            while e < n.end {
                ev = ev * 10 + Int(base[e] - UInt8(ascii: "0"))
                if ev > 400 { break }  // far beyond any representable amount either way
                e += 1
            }
            exponent = expNegative ? -ev : ev
        }
        // Collect significant digits and the position of the decimal point.
        var digits: [UInt8] = []
        digits.reserveCapacity(24)
        while i < n.intEnd { digits.append(base[i] - UInt8(ascii: "0")); i += 1 }
        var pointPosition = digits.count + exponent
        if n.fracEnd > n.intEnd {
            i = n.intEnd + 1
            while i < n.fracEnd { digits.append(base[i] - UInt8(ascii: "0")); i += 1 }
        }
        // Shift so that the value is digits × 10^(pointPosition - digits.count); want units of 1e-6.
        pointPosition += 6
        var value: Int64 = 0
        var roundUp = false
        for (k, d) in digits.enumerated() {
            if k < pointPosition {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(d))
                if o1 || o2 { throw DecodeError("amount out of range: \(text(n.start..<n.end))") }
                value = a
            } else if k == pointPosition {
                roundUp = d >= 5  // half away from zero at the sixth decimal
            }
        }
        if digits.count < pointPosition {
            for _ in digits.count..<pointPosition {
                let (m, o) = value.multipliedReportingOverflow(by: 10)
                if o { throw DecodeError("amount out of range: \(text(n.start..<n.end))") }
                value = m
            }
        }
        if roundUp { value += 1 }
        return negative ? -value : value
    }

    @usableFromInline
    func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(start: base + range.lowerBound, count: range.count), as: UTF8.self)
    }

    /// Skips any value (validating it), for unknown fields.
    public mutating func skipValue() throws(DecodeError) {
        switch peekKind() {
        case .object: try readObject { r, _ throws(DecodeError) in try r.skipValue() }
        case .array: try readArray { r, _ throws(DecodeError) in try r.skipValue() }
        case .string: try skipString()
        case .number: _ = try scanNumber()
        case .bool: _ = try readBool()
        case .null: _ = readNull()
        case .invalid, .end: throw mismatch("a value", peekKind())
        }
    }

    mutating func skipString() throws(DecodeError) {
        let start = index
        index += 1
        while index < end {
            let c = base[index]
            if c == UInt8(ascii: "\"") {
                guard isValidUTF8(UnsafeBufferPointer(start: base + start + 1, count: index - start - 1)) else {
                    throw DecodeError("invalid UTF-8 in string")
                }
                index += 1
                return
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            index += 1
        }
        index = start
        _ = try readString()
    }

    /// The byte range of the next value, skipped (for splicing raw JSON).
    public mutating func rawValueRange() throws(DecodeError) -> Range<Int> {
        skipWhitespace()
        let start = index
        try skipValue()
        return start..<index
    }
}

/// Strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF). Non-generic on
/// purpose: the standard library's generic `String(validating:)` cost a fifth of decode time in
/// runtime generic-metadata lookups (perf, codec-bench).
@usableFromInline
func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var i = 0
    let n = bytes.count
    while i < n {
        let c = bytes[i]
        if c < 0x80 {
            i += 1
            continue
        }
        func cont(_ k: Int) -> Bool { i + k < n && bytes[i + k] & 0xC0 == 0x80 }
        if c >= 0xC2 && c <= 0xDF {
            guard cont(1) else { return false }
            i += 2
        } else if c >= 0xE0 && c <= 0xEF {
            guard cont(1), cont(2) else { return false }
            let c1 = bytes[i + 1]
            if c == 0xE0 && c1 < 0xA0 { return false }  // overlong
            if c == 0xED && c1 > 0x9F { return false }  // surrogate
            i += 3
        } else if c >= 0xF0 && c <= 0xF4 {
            guard cont(1), cont(2), cont(3) else { return false }
            let c1 = bytes[i + 1]
            if c == 0xF0 && c1 < 0x90 { return false }
            if c == 0xF4 && c1 > 0x8F { return false }
            i += 4
        } else {
            return false
        }
    }
    return true
}
