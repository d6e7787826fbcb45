/// Compact binary encoding for state-store values: they go to the changelog with every
/// transaction, so they are kept small and cheap to decode.
public struct BinaryStateWriter {
    public var bytes: [UInt8] = []
    public init() {}
    public mutating func int(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func double(_ v: Double) { int(Int64(bitPattern: v.bitPattern)) }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func string(_ s: String) {
        let u = Array(s.utf8)
        int(Int64(u.count))
        bytes.append(contentsOf: u)
    }
}

public struct BinaryStateReader {
    let bytes: [UInt8]
    var index = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Whether everything has been read: a value written before a field was appended ends here.
    public var isAtEnd: Bool { index >= bytes.count }

    public struct Corrupt: Error, CustomStringConvertible {
        public init() {}
        public var description: String { "corrupt state value" }
    }

    public mutating func int() throws -> Int64 {
        guard index + 8 <= bytes.count else { throw Corrupt() }
        var v: Int64 = 0
        withUnsafeMutableBytes(of: &v) { $0.copyBytes(from: bytes[index..<index + 8]) }
        index += 8
        return Int64(littleEndian: v)
    }
    public mutating func double() throws -> Double { Double(bitPattern: UInt64(bitPattern: try int())) }
    public mutating func bool() throws -> Bool {
        guard index < bytes.count else { throw Corrupt() }
        index += 1
        return bytes[index - 1] != 0
    }
    public mutating func string() throws -> String {
        let n = Int(try int())
        guard n >= 0, index + n <= bytes.count else { throw Corrupt() }
        defer { index += n }
        return String(decoding: bytes[index..<index + n], as: UTF8.self)
    }
}

/// Variable-length integers (LEB128; signed ones zigzag-encoded) and length-prefixed strings and
/// bytes: for values stored by the million, where 8 bytes per small number would double them.
extension BinaryStateWriter {
    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
    public mutating func signedVarint(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    /// Bytes `varint` writes for v, and `shortString` for s: to reserve a value's exact size
    /// (a stored value keeps its array's capacity).
    public static func varintSize(_ v: UInt64) -> Int { max(1, (64 - v.leadingZeroBitCount + 6) / 7) }
    public static func signedVarintSize(_ v: Int64) -> Int { varintSize(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    public static func shortStringSize(_ s: String) -> Int { varintSize(UInt64(s.utf8.count)) + s.utf8.count }
    public mutating func shortString(_ s: String) {
        var s = s
        s.withUTF8 { u in
            varint(UInt64(u.count))
            bytes.append(contentsOf: u)
        }
    }
    public mutating func blob(_ b: [UInt8]) {
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }
}

extension BinaryStateReader {
    public mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard index < bytes.count, shift < 64 else { throw Corrupt() }
            let b = bytes[index]
            index += 1
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }
    public mutating func signedVarint() throws -> Int64 {
        let u = try varint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }
    private mutating func length() throws -> Int {
        let n = try varint()
        guard n <= UInt64(bytes.count - index) else { throw Corrupt() }
        return Int(n)
    }
    public mutating func shortString() throws -> String {
        let n = try length()
        defer { index += n }
        return String(decoding: bytes[index..<index + n], as: UTF8.self)
    }
    public mutating func blob() throws -> [UInt8] {
        let n = try length()
        defer { index += n }
        return Array(bytes[index..<index + n])
    }
}
