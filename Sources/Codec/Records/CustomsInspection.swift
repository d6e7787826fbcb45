/// An officer's inspection outcome (`customs.inspections`, schema customs.inspection/1): the
/// label the fraud scorer learns from.
public struct CustomsInspection: Hashable, Sendable {
    public static let schema = SchemaVersion(name: "customs.inspection", major: 1)

    public enum Outcome: String, Sendable { case compliant, fraud }

    public var schemaVersion: SchemaVersion = CustomsInspection.schema
    public var declarationID: String
    public var inspectedAt: Timestamp
    public var outcome: Outcome
    public var findings: [String]
    public var correctedValue: Money?

    public init(declarationID: String, inspectedAt: Timestamp, outcome: Outcome, findings: [String], correctedValue: Money?) {
        self.declarationID = declarationID
        self.inspectedAt = inspectedAt
        self.outcome = outcome
        self.findings = findings
        self.correctedValue = correctedValue
    }
}

extension CustomsInspection: JSONRecord {
    public init(json bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try JSONReader.decode(bytes) { (r: inout JSONReader) throws(DecodeError) in try CustomsInspection(from: &r) }
    }

    public init(from r: inout JSONReader) throws(DecodeError) {
        var f = FieldSet()
        var schema: SchemaVersion?, id: String?, at: Timestamp?, outcome: Outcome?, findings: [String] = [], corrected: Money?
        try r.readObject { r, key throws(DecodeError) in
            if key == "schema" { try f.mark(0, "schema"); schema = try r.readSchema(expecting: CustomsInspection.schema) }
            else if key == "declaration_id" { try f.mark(1, "declaration_id"); id = try r.readNonEmptyString() }
            else if key == "inspected_at" { try f.mark(2, "inspected_at"); at = try r.readTimestamp() }
            else if key == "outcome" {
                try f.mark(3, "outcome")
                let text = try r.readString()
                guard let o = Outcome(rawValue: text) else { throw DecodeError("expected \"compliant\" or \"fraud\", got \"\(text)\"") }
                outcome = o
            }
            else if key == "findings" {
                try f.mark(4, "findings")
                try r.readArray { r, _ throws(DecodeError) in findings.append(try r.readNonEmptyString()) }
            }
            else if key == "corrected_value" { try f.mark(5, "corrected_value"); corrected = r.readNull() ? nil : try r.readNonNegativeMoney() }
            else { try r.skipValue() }
        }
        self.init(declarationID: try required(id, "declaration_id"), inspectedAt: try required(at, "inspected_at"),
                  outcome: try required(outcome, "outcome"), findings: findings, correctedValue: corrected)
        schemaVersion = try required(schema, "schema")
    }

    public func encodeFields(to w: inout JSONWriter) {
        w.key("schema"); w.string(schemaVersion.description)
        w.key("declaration_id"); w.string(declarationID)
        w.key("inspected_at"); w.timestamp(inspectedAt)
        w.key("outcome"); w.string(outcome.rawValue)
        w.key("findings"); w.beginArray(); for c in findings { w.string(c) }; w.endArray()
        w.key("corrected_value"); w.money(correctedValue)
    }
}
