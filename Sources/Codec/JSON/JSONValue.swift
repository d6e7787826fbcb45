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

    public init(json bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try JSONReader.decode(bytes) { (r: inout JSONReader) throws(DecodeError) in try JSONValue(from: &r) }
    }

    public init(from r: inout JSONReader) throws(DecodeError) {
        switch r.peekKind() {
        case .object:
            var members: [Member] = []
            var seen = Set<String>()
            try r.readObject { r, key throws(DecodeError) in
                let k = key.string
                if !seen.insert(k).inserted { throw DecodeError("duplicate key \"\(k)\"") }
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
        update(Array(path.split(separator: ".").map(String.init)), prefix: "", body)
    }

    private mutating func update(_ parts: [String], prefix: String, _ body: (String, inout JSONValue) -> Void) {
        guard let first = parts.first else {
            body(prefix, &self)
            return
        }
        let rest = Array(parts.dropFirst())
        let each = first.hasSuffix("[]")
        let key = each ? String(first.dropLast(2)) : first
        let here = prefix.isEmpty ? key : "\(prefix).\(key)"
        guard case .object(var members) = self, let i = members.firstIndex(where: { $0.key == key }) else { return }
        if each {
            guard case .array(var items) = members[i].value else { return }
            for j in items.indices { items[j].update(rest, prefix: "\(here)[\(j)]", body) }
            members[i].value = .array(items)
        } else {
            members[i].value.update(rest, prefix: here, body)
        }
        self = .object(members)
    }
}
