import Codec

/// Turns an enriched record into its analyst-safe form, as the policy says: personal fields
/// pseudonymised, postcodes generalised, free text masked; every record gets its
/// `sensitivity` classification and `pseudonymisation` note.
public struct Redactor: Sendable {
    public let policy: SensitivityPolicy
    public let pseudonymizer: Pseudonymizer
    let masker = FreeTextMasker()
    static let consigneeKnown: Set<String> = ["name", "street", "email", "phone", "postal_code", "city", "country"]

    /// Per record kind, how to redact on the bytes (none: that kind's rules need the tree).
    let plans: [String: RedactionPlan]

    public init(policy: SensitivityPolicy, pseudonymizer: Pseudonymizer) {
        self.policy = policy
        self.pseudonymizer = pseudonymizer
        plans = policy.records.compactMapValues { RedactionPlan(rules: $0) }
    }

    /// `kind`: `parcel` or `declaration` (the policy's record sections).
    public func redact(_ record: inout JSONValue, kind: String, source: Provenance, withContact: Bool) {
        // The consignee's own values, before anything is replaced: free text is searched for them.
        let consignee = record["consignee"]
        // Prepared once per record (a record has one description per item), and only for a
        // record that has free text.
        var needles: FreeTextMasker.Needles?
        var fields: [(String, [String])] = []
        for rule in policy.records[kind] ?? [] {
            record.update(rule.steps) { path, value in
                guard !value.isNull else { return }
                var classes = rule.classes
                switch rule.action {
                case .keep: break
                case .drop: value = .null
                case .pseudonymise:
                    if case .string(let s) = value { value = .string(pseudonymizer.pseudonym(s, kind: rule.kind ?? rule.path)) } else { value = .null }
                case .postalRegion:
                    if case .string(let s) = value { value = .string(Self.postalRegion(s)) }
                case .maskFreeText:
                    if case .string(let s) = value {
                        if needles == nil {
                            needles = FreeTextMasker.Needles(names: [consignee?["name"]?.stringValue].compactMap { $0 },
                                                             streets: [consignee?["street"]?.stringValue].compactMap { $0 })
                        }
                        let r = masker.mask(s, needles: needles!)
                        value = .string(r.text)
                        if !r.kinds.isEmpty && !classes.contains("personal_data") { classes.append("personal_data") }
                    }
                }
                fields.append((path, classes))
            }
        }
        // Consignee keys the policy doesn't know are personal data by default: pseudonymised.
        if case .object(var members)? = record["consignee"] {
            for i in members.indices where !Self.consigneeKnown.contains(members[i].key) {
                if case .string(let s) = members[i].value {
                    members[i].value = .string(pseudonymizer.pseudonym(s, kind: members[i].key))
                } else {
                    members[i].value = .null
                }
                fields.append(("consignee.\(members[i].key)", ["personal_data"]))
            }
            if withContact {
                for key in ["email", "phone"] where !members.contains(where: { $0.key == key }) { members.append(.init(key, .null)) }
            }
            record["consignee"] = .object(members)
        }
        if let upstream = record["source"] { record["upstream_source"] = upstream }
        // `source` and the notes are written as the bytes path writes them (`Provenance.encode`,
        // `writeNotes`), then read back: the tree is the rare path.
        var w = JSONWriter()
        w.beginObject()
        w.key("source")
        source.encode(to: &w)
        writeNotes(fields: fields, to: &w)
        w.endObject()
        guard case .object(let written)? = w.withBytes({ try? JSONValue(json: $0) }) else { preconditionFailure("the JSON writer wrote invalid JSON") }
        for member in written { record[member.key] = member.value }
    }

    /// What every redacted record says about itself, as its last two members: the pseudonyms'
    /// key and algorithm, and its classification (`fields`: each field the policy reached, with
    /// its classes).
    func writeNotes(fields: [(String, [String])], to w: inout JSONWriter) {
        let classes = Array(Set(fields.flatMap(\.1))).sorted()
        w.key("pseudonymisation")
        w.beginObject()
        w.key("key_id"); w.string(pseudonymizer.keyID)
        w.key("algorithm"); w.string("HMAC-SHA256")
        w.endObject()
        w.key("sensitivity")
        w.beginObject()
        w.key("level"); w.string(policy.level(of: classes))
        w.key("classes"); Self.writeStrings(classes, to: &w)
        w.key("fields")
        w.beginArray()
        for (path, classes) in fields {
            w.beginObject()
            w.key("path"); w.string(path)
            w.key("classes"); Self.writeStrings(classes, to: &w)
            w.endObject()
        }
        w.endArray()
        w.key("policy_version"); w.string(policy.version)
        w.endObject()
    }

    static func writeStrings(_ strings: [String], to w: inout JSONWriter) {
        w.beginArray()
        for s in strings { w.string(s) }
        w.endArray()
    }

    /// The region part of a postcode: its first two letters or digits ("75001" → "75",
    /// "00-001" → "00", "D01 F5P2" → "D0").
    public static func postalRegion(_ code: String) -> String {
        String(code.filter { $0.isLetter || $0.isNumber }.prefix(2)).uppercased()
    }
}
