#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A record's `schema` field: `name/major[.minor]`. Known name and major decode (a newer minor
/// only adds optional fields); an unknown major is an error, never a guess.
public struct SchemaVersion: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let major: Int
    public let minor: Int
    /// `name/major[.minor]`, kept so that encoding and matching don't rebuild it per record.
    public let description: String

    public init(name: String, major: Int, minor: Int = 0) {
        self.name = name
        self.major = major
        self.minor = minor
        description = minor == 0 ? "\(name)/\(major)" : "\(name)/\(major).\(minor)"
    }

    /// True when `raw` is exactly this version's text.
    func matches(_ raw: UnsafeBufferPointer<UInt8>) -> Bool {
        var text = description
        return text.withUTF8 { $0.count == raw.count && memcmp($0.baseAddress!, raw.baseAddress!, raw.count) == 0 }
    }

    /// `customs.risk` (fraud-worker's scores), read by the aggregation-worker.
    public static let customsRisk = SchemaVersion(name: "customs.risk", major: 1)

    public static func parse(_ text: String) -> SchemaVersion? {
        guard let slash = text.lastIndex(of: "/") else { return nil }
        let name = String(text[..<slash])
        let version = text[text.index(after: slash)...].split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, (1...2).contains(version.count), let major = Int(version[0]), major >= 0 else { return nil }
        let minor = version.count == 2 ? Int(version[1]) : 0
        guard let minor, minor >= 0 else { return nil }
        return SchemaVersion(name: name, major: major, minor: minor)
    }
}

extension JSONReader {
    /// Reads `schema` and checks it against what this build understands.
    public mutating func readSchema(expecting known: SchemaVersion) throws(DecodeError) -> SchemaVersion {
        let start = index
        if let raw = try readUnescapedBytes(), known.matches(raw) { return known }  // the common case, no allocation
        index = start
        let text = try readString()
        guard let v = SchemaVersion.parse(text) else { throw DecodeError("malformed schema \"\(text.prefix(40))\" (expected \(known))") }
        guard v.name == known.name else { throw DecodeError("schema \"\(v.name)\" is not \"\(known.name)\"") }
        guard v.major == known.major else {
            throw DecodeError("unknown major version \(v.major) of \(known.name) (this build reads \(known.major))")
        }
        return v
    }
}
