/// Who touched which data on the hub's platform (`access.logs`, key `principal.id`).
public struct AccessLog: Hashable, Sendable {
    public static let schema = SchemaVersion(name: "access.log", major: 1)

    public struct Principal: Hashable, Sendable {
        public var id: String
        /// `user` or `service`.
        public var kind: String
        public var org: String
        public var role: String?
        public init(id: String, kind: String, org: String, role: String?) {
            self.id = id
            self.kind = kind
            self.org = org
            self.role = role
        }
    }

    public struct Source: Hashable, Sendable {
        public var ip: String
        public var country: String?
        public var asn: Int64?
        public init(ip: String, country: String?, asn: Int64?) {
            self.ip = ip
            self.country = country
            self.asn = asn
        }
    }

    public struct Resource: Hashable, Sendable {
        /// `parcel`, `consignee`, `merchant`, `customs_declaration`, `manifest`, `flow_report`.
        public var kind: String
        public var id: String?
        public var filter: String?
        public init(kind: String, id: String?, filter: String?) {
            self.kind = kind
            self.id = id
            self.filter = filter
        }
    }

    public var schemaVersion: SchemaVersion = AccessLog.schema
    public var eventID: String
    public var occurredAt: Timestamp
    public var principal: Principal
    public var source: Source
    /// `login`, `read`, `query`, `export`, `update`, `delete`.
    public var action: String
    public var resource: Resource
    public var records: Int64
    public var bytes: Int64
    /// `allowed` or `denied`.
    public var outcome: String
    public var client: String?

    public init(eventID: String, occurredAt: Timestamp, principal: Principal, source: Source, action: String,
                resource: Resource, records: Int64, bytes: Int64, outcome: String, client: String?) {
        self.eventID = eventID
        self.occurredAt = occurredAt
        self.principal = principal
        self.source = source
        self.action = action
        self.resource = resource
        self.records = records
        self.bytes = bytes
        self.outcome = outcome
        self.client = client
    }

    public var denied: Bool { outcome == "denied" }
}

extension AccessLog: JSONRecord {
    public init(json bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try JSONReader.decode(bytes) { (r: inout JSONReader) throws(DecodeError) in try AccessLog(from: &r) }
    }

    public init(from r: inout JSONReader) throws(DecodeError) {
        var f = FieldSet()
        var schema: SchemaVersion?, eventID: String?, occurredAt: Timestamp?, principal: Principal?, source: Source?
        var action: String?, resource: Resource?, records: Int64?, bytes: Int64?, outcome: String?, client: String?
        try r.readObject { r, key throws(DecodeError) in
            if key == "schema" { try f.mark(0, "schema"); schema = try r.readSchema(expecting: AccessLog.schema) }
            else if key == "event_id" { try f.mark(1, "event_id"); eventID = try r.readNonEmptyString() }
            else if key == "occurred_at" { try f.mark(2, "occurred_at"); occurredAt = try r.readTimestamp() }
            else if key == "principal" { try f.mark(3, "principal"); principal = try AccessLog.readPrincipal(&r) }
            else if key == "source" { try f.mark(4, "source"); source = try AccessLog.readSource(&r) }
            else if key == "action" { try f.mark(5, "action"); action = try r.readNonEmptyString() }
            else if key == "resource" { try f.mark(6, "resource"); resource = try AccessLog.readResource(&r) }
            else if key == "records" { try f.mark(7, "records"); records = try r.readCount() }
            else if key == "bytes" { try f.mark(8, "bytes"); bytes = try r.readCount() }
            else if key == "outcome" {
                try f.mark(9, "outcome")
                let o = try r.readString()
                guard o == "allowed" || o == "denied" else { throw DecodeError("expected \"allowed\" or \"denied\", got \"\(o.prefix(20))\"") }
                outcome = o
            }
            else if key == "client" { try f.mark(10, "client"); client = try r.readOptionalString() }
            else { try r.skipValue() }
        }
        self.init(eventID: try required(eventID, "event_id"), occurredAt: try required(occurredAt, "occurred_at"),
                  principal: try required(principal, "principal"), source: try required(source, "source"),
                  action: try required(action, "action"), resource: try required(resource, "resource"),
                  records: try required(records, "records"), bytes: try required(bytes, "bytes"),
                  outcome: try required(outcome, "outcome"), client: client)
        schemaVersion = try required(schema, "schema")
    }

    static func readPrincipal(_ r: inout JSONReader) throws(DecodeError) -> Principal {
        var id: String?, kind: String?, org: String?, role: String?
        try r.readObject { r, key throws(DecodeError) in
            if key == "id" { id = try r.readNonEmptyString() }
            else if key == "kind" {
                let k = try r.readString()
                guard k == "user" || k == "service" else { throw DecodeError("expected \"user\" or \"service\", got \"\(k.prefix(20))\"") }
                kind = k
            }
            else if key == "org" { org = try r.readString() }
            else if key == "role" { role = try r.readOptionalString() }
            else { try r.skipValue() }
        }
        return Principal(id: try required(id, "id"), kind: try required(kind, "kind"), org: try required(org, "org"), role: role)
    }

    static func readSource(_ r: inout JSONReader) throws(DecodeError) -> Source {
        var ip: String?, country: String?, asn: Int64?
        try r.readObject { r, key throws(DecodeError) in
            if key == "ip" { ip = try r.readString() }
            else if key == "country" { country = r.readNull() ? nil : try r.readCountry() }
            else if key == "asn" { asn = r.readNull() ? nil : try r.readCount() }
            else { try r.skipValue() }
        }
        return Source(ip: try required(ip, "ip"), country: country, asn: asn)
    }

    static func readResource(_ r: inout JSONReader) throws(DecodeError) -> Resource {
        var kind: String?, id: String?, filter: String?
        try r.readObject { r, key throws(DecodeError) in
            if key == "kind" { kind = try r.readNonEmptyString() }
            else if key == "id" { id = try r.readOptionalString() }
            else if key == "filter" { filter = try r.readOptionalString() }
            else { try r.skipValue() }
        }
        return Resource(kind: try required(kind, "kind"), id: id, filter: filter)
    }

    public func encodeFields(to w: inout JSONWriter) {
        w.key("schema"); w.string(schemaVersion.description)
        w.key("event_id"); w.string(eventID)
        w.key("occurred_at"); w.timestamp(occurredAt)
        w.key("principal"); w.beginObject()
        w.key("id"); w.string(principal.id); w.key("kind"); w.string(principal.kind); w.key("org"); w.string(principal.org)
        w.key("role"); w.string(principal.role)
        w.endObject()
        w.key("source"); w.beginObject()
        w.key("ip"); w.string(source.ip); w.key("country"); w.string(source.country); w.key("asn"); w.int(source.asn)
        w.endObject()
        w.key("action"); w.string(action)
        w.key("resource"); w.beginObject()
        w.key("kind"); w.string(resource.kind); w.key("id"); w.string(resource.id); w.key("filter"); w.string(resource.filter)
        w.endObject()
        w.key("records"); w.int(records)
        w.key("bytes"); w.int(bytes)
        w.key("outcome"); w.string(outcome)
        w.key("client"); w.string(client)
    }

}
