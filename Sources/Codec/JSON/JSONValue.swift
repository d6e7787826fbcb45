/// A JSON document as a tree that keeps what the bytes said: member order, and numbers as their
/// original text. For records whose fields are edited by path (redaction) rather than decoded
/// into a model; re-encoding an unedited tree gives the compact form of the same document.
public indirect enum JSONValue: Equatable, Sendable {
    case object([Member])
    case array([JSONValue])
    case string(String)
    /// The number's text as it appeared (validated against the JSON grammar).
    case number(String)
    case bool(Bool)
    case null

    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: JSONValue
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    static let linearKeyCheckLimit = 16

    public init(json bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try JSONReader.decode(bytes) { (r: inout JSONReader) throws(DecodeError) in try JSONValue(from: &r) }
    }

    public init(from r: inout JSONReader) throws(DecodeError) {
        switch r.peekKind() {
        case .object:
            var members: [Member] = []
            // Records' objects are small: a linear scan finds a repeated key faster than hashing
            // every key into a set (which was a tenth of the sensitivity-worker's decode). Large
            // objects switch to a set.
            var seen: Set<String>? = nil
            try r.readObject { r, key throws(DecodeError) in
                let k = key.string
                if members.count < Self.linearKeyCheckLimit {
                    if members.contains(where: { $0.key == k }) { throw DecodeError("duplicate key \"\(k)\"") }
                } else {
                    if seen == nil { seen = Set(members.map(\.key)) }
                    if !seen!.insert(k).inserted { throw DecodeError("duplicate key \"\(k)\"") }
                }
                members.append(Member(k, try JSONValue(from: &r)))
            }
            self = .object(members)
        case .array:
            var items: [JSONValue] = []
            try r.readArray { r, _ throws(DecodeError) in items.append(try JSONValue(from: &r)) }
            self = .array(items)
        case .string: self = .string(try r.readString())
        case .number:
            let n = try r.scanNumber()
            self = .number(r.text(n.start..<n.end))
        case .bool: self = .bool(try r.readBool())
        case .null:
            _ = r.readNull()
            self = .null
        case .invalid, .end: throw r.mismatch("a value", r.peekKind())
        }
    }

    public func encode(to w: inout JSONWriter) {
        switch self {
        case .object(let members):
            w.beginObject()
            for m in members {
                w.key(m.key)
                m.value.encode(to: &w)
            }
            w.endObject()
        case .array(let items):
            w.beginArray()
            for i in items { i.encode(to: &w) }
            w.endArray()
        case .string(let s): w.string(s)
        case .number(let text): w.raw(Array(text.utf8))
        case .bool(let b): w.bool(b)
        case .null: w.null()
        }
    }

    public var jsonBytes: [UInt8] {
        var w = JSONWriter(capacity: 1024)
        encode(to: &w)
        return w.bytes
    }

    /// The member `key` of an object.
    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let members) = self else { return nil }
            return members.first { $0.key == key }?.value
        }
        set {
            guard case .object(var members) = self else { return }
            self = .null  // `members` is then the array's only owner: edited in place, not copied
            if let i = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append(Member(key, newValue))
            }
            self = .object(members)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var isNull: Bool { self == .null }

    /// Visits every value at a path such as `consignee.name` or `items[].description`
    /// (`[]`: every element), letting `body` replace it. Reports the concrete paths visited
    /// (`items[2].description`). Missing members are skipped.
    public mutating func update(path: String, _ body: (String, inout JSONValue) -> Void) {
        update(Path(path), body)
    }

    /// `update(path:)` with the path parsed once, for callers that apply the same paths to many records.
    public mutating func update(_ path: Path, _ body: (String, inout JSONValue) -> Void) {
        update(path.steps[...], prefix: "", body)
    }

    /// A parsed `a.b[].c` path.
    public struct Path: Sendable, Equatable {
        public struct Step: Sendable, Equatable {
            public let key: String
            /// `key[]`: every element of the array at `key`.
            public let each: Bool
        }
        public let steps: [Step]
        public let text: String

        public init(_ text: String) {
            self.text = text
            steps = text.split(separator: ".").map { part in
                part.hasSuffix("[]") ? Step(key: String(part.dropLast(2)), each: true) : Step(key: String(part), each: false)
            }
        }
    }

    private mutating func update(_ steps: ArraySlice<Path.Step>, prefix: String, _ body: (String, inout JSONValue) -> Void) {
        guard let step = steps.first else {
            body(prefix, &self)
            return
        }
        guard case .object(var members) = self, let i = members.firstIndex(where: { $0.key == step.key }) else { return }
        // Detach the members (and below, the items) from `self` so that they have one owner and
        // are edited in place: editing a copy made every level of every record copy its array.
        self = .null
        defer { self = .object(members) }
        let here = prefix.isEmpty ? step.key : prefix + "." + step.key
        let rest = steps.dropFirst()
        if step.each {
            guard case .array(var items) = members[i].value else { return }
            members[i].value = .null
            for j in items.indices { items[j].update(rest, prefix: "\(here)[\(j)]", body) }
            members[i].value = .array(items)
        } else {
            members[i].value.update(rest, prefix: here, body)
        }
    }
}

extension JSONReader {
    /// The byte range of the next value, skipped and checked as `JSONValue(from:)` reads it (a
    /// repeated key in any object inside is an error there too), for copying it as it is. Nil
    /// when a key inside is not valid UTF-8: `JSONValue` repairs such a key, so a copy of the
    /// bytes would not be what it reads.
    public mutating func checkedRawValueRange() throws(DecodeError) -> Range<Int>? {
        skipWhitespace()
        let start = index
        return try skipValueCheckingKeys() ? start..<index : nil
    }

    mutating func skipValueCheckingKeys() throws(DecodeError) -> Bool {
        switch peekKind() {
        case .object:
            var keys = KeyHashes()
            var copyable = true
            try readObject { r, key throws(DecodeError) in
                if !key.isValidUTF8 { copyable = false }
                try keys.insert(key)
                if try !r.skipValueCheckingKeys() { copyable = false }
            }
            return copyable
        case .array:
            var copyable = true
            try readArray { r, _ throws(DecodeError) in if try !r.skipValueCheckingKeys() { copyable = false } }
            return copyable
        default:
            try skipValue()
            return true
        }
    }
}
