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

