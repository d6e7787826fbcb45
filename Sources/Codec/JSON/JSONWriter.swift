#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes compact JSON deterministically: fields in the order written, no whitespace, numbers
/// in one canonical form. Same record, same bytes.
///
/// Owns a raw growable buffer rather than an Array: with `[UInt8]`, every small append paid a
/// uniqueness and capacity check, which dominated the encode profile (codec-bench, perf).
/// Noncopyable, so the buffer has exactly one owner.
public struct JSONWriter: ~Copyable {
    @usableFromInline var base: UnsafeMutablePointer<UInt8>
    @usableFromInline var capacity: Int
    @usableFromInline var length = 0
    public var count: Int { length }
    /// Bit d set: the container at depth d already has an element (so the next needs a comma).
    @usableFromInline var hasElement: UInt64 = 0
    @usableFromInline var depth = 0
    /// Set after a key: the value that follows takes no comma.
    @usableFromInline var afterKey = false

    public init(capacity: Int = 512) {
        self.capacity = Swift.max(16, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// A copy of what was written.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: length)) }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: length))
    }

    /// Where the writer stands; `rewind(to:)` discards what was written after it.
    public struct Mark: Sendable {
        let length: Int, hasElement: UInt64, depth: Int, afterKey: Bool
    }

    public var mark: Mark { Mark(length: length, hasElement: hasElement, depth: depth, afterKey: afterKey) }

    public mutating func rewind(to mark: Mark) {
        length = mark.length
        hasElement = mark.hasElement
        depth = mark.depth
        afterKey = mark.afterKey
    }

    /// Starts over, keeping the buffer.
    public mutating func removeAll() {
        length = 0
        hasElement = 0
        depth = 0
        afterKey = false
    }

    @usableFromInline
    mutating func grow(_ needed: Int) {
        let newCapacity = Swift.max(capacity * 2, length + needed)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: base, count: length)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    @inlinable @inline(__always)
    mutating func put(_ byte: UInt8) {
        if length == capacity { grow(1) }
        base[length] = byte
        length &+= 1
    }

    @inlinable @inline(__always)
    mutating func put(_ buffer: UnsafeBufferPointer<UInt8>) {
        let n = buffer.count
        guard n > 0, let src = buffer.baseAddress else { return }
        if length + n > capacity { grow(n) }
        (base + length).update(from: src, count: n)
        length &+= n
    }

    @inlinable
    mutating func put(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { put($0) }
    }

    /// Reserves `n` bytes and lets `body` fill them (fixed-size layouts such as timestamps).
    @inlinable
    mutating func put(exactly n: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Void) {
        if length + n > capacity { grow(n) }
        body(base + length)
        length &+= n
    }

    @inlinable @inline(__always)
    mutating func separator() {
        if afterKey {
            afterKey = false
            return
        }
        if depth > 0 {
            let bit: UInt64 = 1 << UInt64(depth & 63)
            if hasElement & bit != 0 { put(UInt8(ascii: ",")) } else { hasElement |= bit }
        }
    }

    @inlinable
    public mutating func beginObject() {
        separator()
        put(UInt8(ascii: "{"))
        depth += 1
        hasElement &= ~(1 << UInt64(depth & 63))
    }

    @inlinable
    public mutating func endObject() {
        depth -= 1
        put(UInt8(ascii: "}"))
    }

    @inlinable
    public mutating func beginArray() {
        separator()
        put(UInt8(ascii: "["))
        depth += 1
        hasElement &= ~(1 << UInt64(depth & 63))
    }

    @inlinable
    public mutating func endArray() {
        depth -= 1
        put(UInt8(ascii: "]"))
    }

    /// A key known at compile time (must need no escaping).
    @inlinable
    public mutating func key(_ name: StaticString) {
        separator()
        put(UInt8(ascii: "\""))
        put(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        put(UInt8(ascii: "\""))
        put(UInt8(ascii: ":"))
        afterKey = true
    }

    /// A key as read (a valid UTF-8 key without escapes is copied, needing none; see `JSONKey.isValidUTF8`).
    public mutating func key(_ key: JSONKey) {
        guard key.decoded == nil else { return self.key(key.decoded!) }
        separator()
        put(UInt8(ascii: "\""))
        put(UnsafeBufferPointer(start: key.start.assumingMemoryBound(to: UInt8.self), count: key.count))
        put(UInt8(ascii: "\""))
        put(UInt8(ascii: ":"))
        afterKey = true
    }

    /// A key computed at run time (escaped as needed).
    public mutating func key(_ name: String) {
        string(name)
        put(UInt8(ascii: ":"))
        afterKey = true
    }

    @inlinable
    public mutating func string(_ value: String) {
        separator()
        put(UInt8(ascii: "\""))
        let done: Void? = value.utf8.withContiguousStorageIfAvailable { utf8 in appendString(utf8) }
        if done == nil { appendString(Array(value.utf8)) }
        put(UInt8(ascii: "\""))
    }

    @inlinable
    mutating func appendString(_ utf8: UnsafeBufferPointer<UInt8>) {
        guard let p = utf8.baseAddress else { return }
        // Most strings need no escaping: find out with a scan, 8 bytes at a time, then copy once.
        if firstSpecialByte(p, utf8.count) == utf8.count { put(utf8) } else { appendEscaped(utf8) }
    }

    @inlinable
    mutating func appendString(_ utf8: [UInt8]) {
        utf8.withUnsafeBufferPointer { appendString($0) }
    }

    @inlinable
    mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        for i in 0..<utf8.count {
            let c = utf8[i]
            if c >= 0x20 && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") { continue }
            put(UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
            runStart = i + 1
            switch c {
            case UInt8(ascii: "\""): put([0x5C, 0x22])
            case UInt8(ascii: "\\"): put([0x5C, 0x5C])
            case 0x0A: put([0x5C, UInt8(ascii: "n")])
            case 0x0D: put([0x5C, UInt8(ascii: "r")])
            case 0x09: put([0x5C, UInt8(ascii: "t")])
            default:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                put([0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(c >> 4)], hex[Int(c & 15)]])
            }
        }
        put(UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
    }

    @inlinable
    public mutating func int<I: BinaryInteger>(_ value: I) {
        separator()
        appendDecimal(Int64(value))
    }

    @inlinable
    mutating func appendDecimal(_ value: Int64) {
        var v = value.magnitude
        var digits = 1
        var t = v
        while t >= 10 {
            t /= 10
            digits += 1
        }
        let n = digits + (value < 0 ? 1 : 0)
        put(exactly: n) { p in
            var i = n
            repeat {
                i -= 1
                p[i] = 0x30 &+ UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            } while v > 0
            if value < 0 { p[0] = UInt8(ascii: "-") }
        }
    }

    /// Fixed-point micro-units (1e-6) as a plain decimal: 23400000 → 23.4.
    @inlinable
    public mutating func micros(_ value: Int64) {
        separator()
        let whole = value / 1_000_000
        var fraction = (value % 1_000_000).magnitude
        if value < 0 && whole == 0 { put(UInt8(ascii: "-")) }
        appendDecimal(whole)
        if fraction == 0 { return }
        put(UInt8(ascii: "."))
        var divisor: UInt64 = 100_000
        while fraction > 0 {
            put(UInt8(ascii: "0") + UInt8(fraction / divisor))
            fraction %= divisor
            divisor /= 10
        }
    }

    /// A finite Double in the shortest form that reads back exactly (Swift's description);
    /// non-finite values are written as null (JSON has no NaN).
    public mutating func double(_ value: Double) {
        separator()
        guard value.isFinite else {
            put(Array("null".utf8))
            return
        }
        if value == value.rounded(), abs(value) < 1e15 {
            appendDecimal(Int64(value))
        } else {
            put(Array(value.description.utf8))
        }
    }

    @inlinable
    public mutating func bool(_ value: Bool) {
        separator()
        put(value ? [0x74, 0x72, 0x75, 0x65] : [0x66, 0x61, 0x6C, 0x73, 0x65])
    }

    @inlinable
    public mutating func null() {
        separator()
        put([0x6E, 0x75, 0x6C, 0x6C])
    }

    /// Pre-encoded JSON, copied as is (the caller vouches that it is one valid value).
    public mutating func raw(_ json: UnsafeRawBufferPointer) {
        separator()
        put(json.bindMemory(to: UInt8.self))
    }

    public mutating func raw(_ json: [UInt8]) {
        separator()
        put(json)
    }

    // Conveniences for optional fields: `null` when absent.
    public mutating func string(_ value: String?) { if let value { string(value) } else { null() } }
    public mutating func int(_ value: Int64?) { if let value { int(value) } else { null() } }
}

/// Index of the first byte that JSON strings must escape (`"`, `\\`, < 0x20), or `n`; `seen`
/// gets the OR of the bytes before it (its high bit says "not ASCII").
/// Word-at-a-time (SWAR): the byte-by-byte loop was the top of the encode profile.
@inlinable
func firstSpecialByte(_ p: UnsafePointer<UInt8>, _ n: Int, seen: inout UInt64) -> Int {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    @inline(__always) func hasZero(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
        let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        // (w - 0x20..) & ~w & 0x80.. flags bytes below 0x20 (bytes >= 0x80 are excluded by ~w).
        let control = (w &- ones &* 0x20) & ~w & highs != 0
        if control || hasZero(w ^ (ones &* 0x22)) || hasZero(w ^ (ones &* 0x5C)) { break }
        seen |= w
        i += 8
    }
    while i < n {
        let c = p[i]
        if c < 0x20 || c == 0x22 || c == 0x5C { return i }
        seen |= UInt64(c)
        i += 1
    }
    return n
}

@inlinable
func firstSpecialByte(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
    var seen: UInt64 = 0
    return firstSpecialByte(p, n, seen: &seen)
}
