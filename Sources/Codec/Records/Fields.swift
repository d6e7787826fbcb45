/// Tracks which known fields an object had: a repeated known key is an error (which of two
/// values would be "the" weight?), a missing required one names itself.
@usableFromInline
struct FieldSet {
    @usableFromInline var seen: UInt64 = 0

    @inlinable init() {}

    @inlinable
    mutating func mark(_ bit: Int, _ name: StaticString) throws(DecodeError) {
        let mask: UInt64 = 1 << UInt64(bit)
        if seen & mask != 0 { throw DecodeError("duplicate key \"\(name)\"") }
        seen |= mask
    }
}

/// Keys of one object seen so far, as 64-bit FNV-1a hashes (no allocation per key): a repeated
/// key is an error. Objects of a record have tens of keys, so a linear scan is the fast path.
public struct KeyHashes {
    @usableFromInline var hashes: [UInt64] = []

    public init() {}

    public mutating func insert(_ key: JSONKey) throws(DecodeError) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        if let decoded = key.decoded {
            for b in decoded.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        } else {
            for i in 0..<key.count { h = (h ^ UInt64(key.start.load(fromByteOffset: i, as: UInt8.self))) &* 0x0000_0100_0000_01B3 }
        }
        if hashes.contains(h) { throw DecodeError("duplicate key \"\(key.string)\"") }
        hashes.append(h)
    }
}

/// The value of a required field, or an error naming it.
@inlinable
public func required<T>(_ value: T?, _ name: String) throws(DecodeError) -> T {
    guard let value else { throw DecodeError("missing required field", path: [.key(name)]) }
    return value
}

extension JSONReader {
    /// A non-negative integer (weights, counts, bytes).
    @inlinable
    public mutating func readCount() throws(DecodeError) -> Int64 {
        let v = try readInt()
        if v < 0 { throw DecodeError("must not be negative, got \(v)") }
        return v
    }

    /// An integer within `range` (deltas, small enumerations).
    @inlinable
    public mutating func readInt(in range: ClosedRange<Int64>) throws(DecodeError) -> Int64 {
        let v = try readInt()
        if !range.contains(v) { throw DecodeError("must be within \(range.lowerBound)…\(range.upperBound), got \(v)") }
        return v
    }

    /// A probability or score: a number within 0…1.
    public mutating func readProbability() throws(DecodeError) -> Double {
        let v = try readDouble()
        if !(0...1).contains(v) { throw DecodeError("must be within 0…1, got \(v)") }
        return v
    }

    /// A string or null.
    @inlinable
    public mutating func readOptionalString() throws(DecodeError) -> String? {
        readNull() ? nil : try readString()
    }

    /// A non-empty string.
    @inlinable
    public mutating func readNonEmptyString() throws(DecodeError) -> String {
        let s = try readString()
        if s.isEmpty { throw DecodeError("must not be empty") }
        return s
    }

    /// An HS code: 6 to 10 digits.
    public mutating func readHSCode() throws(DecodeError) -> String {
        let s = try readString()
        guard (6...10).contains(s.utf8.count), s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw DecodeError("expected HS code of 6 to 10 digits, got \"\(s.prefix(20))\"")
        }
        return s
    }

    public mutating func readCountry() throws(DecodeError) -> String {
        try readCode(letters: 2, uppercase: true, what: "ISO 3166-1 alpha-2 country code")
    }

    /// Reads a whole record object of which the caller wants only some fields (a projection of a
    /// derived or internal topic). The rules of the full decoders still hold: `schema` must be
    /// present and readable as `schema` when one is given, no key may repeat, and nothing may
    /// follow the object. `body` sees every other key and must read or skip its value.
    public static func readRecord(_ bytes: UnsafeRawBufferPointer, schema: SchemaVersion?,
                                  _ body: (inout JSONReader, JSONKey) throws(DecodeError) -> Void) throws(DecodeError) {
        var reader = JSONReader(bytes)
        var keys = KeyHashes()
        var schemaSeen = false
        try reader.readObject { r, key throws(DecodeError) in
            try keys.insert(key)
            if let schema, key == "schema" {
                _ = try r.readSchema(expecting: schema)
                schemaSeen = true
            } else {
                try body(&r, key)
            }
        }
        if schema != nil && !schemaSeen { throw DecodeError("missing required field", path: [.key("schema")]) }
        try reader.expectEnd()
    }

    /// Decodes a whole record from bytes: one JSON object, nothing after it.
    public static func decode<T>(_ bytes: UnsafeRawBufferPointer, _ body: (inout JSONReader) throws(DecodeError) -> T) throws(DecodeError) -> T {
        var reader = JSONReader(bytes)
        let value = try body(&reader)
        try reader.expectEnd()
        return value
    }
}

/// Where a derived record came from: the input record's coordinates, for audit.
public struct Provenance: Hashable, Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public func encode(to w: inout JSONWriter) {
        w.beginObject()
        w.key("topic"); w.string(topic)
        w.key("partition"); w.int(partition)
        w.key("offset"); w.int(offset)
        w.endObject()
    }

    public static func decode(from r: inout JSONReader) throws(DecodeError) -> Provenance {
        var topic: String?, partition: Int64?, offset: Int64?
        try r.readObject { r, key throws(DecodeError) in
            if key == "topic" { topic = try r.readString() }
            else if key == "partition" { partition = try r.readCount() }
            else if key == "offset" { offset = try r.readCount() }
            else { try r.skipValue() }
        }
        return Provenance(topic: try required(topic, "topic"), partition: Int32(clamping: try required(partition, "partition")),
                          offset: try required(offset, "offset"))
    }
}

/// A record written as one JSON object; `encodeFields` writes its fields, so that derived
/// records can extend them.
public protocol JSONRecord {
    func encodeFields(to w: inout JSONWriter)
}

extension JSONRecord {
    public func encode(to w: inout JSONWriter) {
        w.beginObject()
        encodeFields(to: &w)
        w.endObject()
    }

    /// The record's canonical bytes (deterministic).
    public var jsonBytes: [UInt8] {
        var w = JSONWriter(capacity: 1024)
        encode(to: &w)
        return w.bytes
    }
}
