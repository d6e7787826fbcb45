import Codec

/// The policy's rules for one kind of record, arranged by path step, so that a record can be
/// redacted straight from its bytes to the output's: what no rule reaches is copied as it is,
/// and no tree is built. Building, re-encoding and freeing the tree was about a third of the
/// sensitivity-worker's handler (perf, BENCHMARKS.md).
///
/// The result is the same JSON as `Redactor.redact(_:kind:…)` on the tree (same members in the
/// same order, same values; copied parts keep their own spelling of escapes and whitespace). A
/// policy whose rules interact, where one rule would see another's edit, has no plan: those
/// records take the tree.
struct RedactionPlan: Sendable {
    struct Node: Sendable {
        /// The rules whose path ends here (indexes into the kind's rules, in policy order).
        var rules: [Int] = []
        /// Below: `key` (a member of the object here) and `key[]` (each element of the array at
        /// `key`). A handful each: found by comparing bytes, without hashing a String per member.
        var members: [(key: [UInt8], node: Int)] = []
        var elements: [(key: [UInt8], node: Int)] = []
        var isLeaf: Bool { members.isEmpty && elements.isEmpty }

        func member(_ key: JSONKey) -> Int? { members.first { key.matches($0.key) }?.node }
        func elements(_ key: JSONKey) -> Int? { elements.first { key.matches($0.key) }?.node }
    }

    let rules: [SensitivityPolicy.FieldRule]
    private(set) var nodes = [Node()]

    /// Top-level members the redactor writes itself: a rule on them would see its own output.
    static let written: Set<String> = ["source", "upstream_source", "pseudonymisation", "sensitivity"]

    init?(rules: [SensitivityPolicy.FieldRule]) {
        self.rules = rules
        let keys = rules.map { $0.steps.steps.map(\.key) }
        for (i, rule) in rules.enumerated() {
            let steps = rule.steps.steps
            guard let first = steps.first, !Self.written.contains(first.key) else { return nil }
            // The consignee's unknown keys are pseudonymised after the rules: a rule must not reach them.
            if first.key == "consignee" && (first.each || steps.count < 2 || !Redactor.consigneeKnown.contains(steps[1].key)) { return nil }
            // A rule that changes a value must be the only one to reach it or anything inside it.
            if rule.action != .keep && keys.indices.contains(where: { $0 != i && keys[$0].starts(with: keys[i]) }) { return nil }
            var node = 0
            for step in steps {
                let key = Array(step.key.utf8)
                let next = (step.each ? nodes[node].elements : nodes[node].members).first { $0.key == key }?.node
                if let next { node = next; continue }
                nodes.append(Node())
                if step.each { nodes[node].elements.append((key, nodes.count - 1)) } else { nodes[node].members.append((key, nodes.count - 1)) }
                node = nodes.count - 1
            }
            nodes[node].rules.append(i)
        }
    }
}

extension Redactor {
    /// Redacts the record in `json` into `w`: on its bytes when the policy allows it (see
    /// `RedactionPlan`), else through the tree. A malformed record throws, as decoding it would.
    public func redact(json: UnsafeRawBufferPointer, kind: String, source: Provenance, withContact: Bool, into w: inout JSONWriter) throws(DecodeError) {
        if let plan = plans[kind] {
            let mark = w.mark
            var pass = RedactionPass(redactor: self, plan: plan, json: json)
            do {
                try JSONReader.decode(json) { (r: inout JSONReader) throws(DecodeError) in
                    try pass.record(&r, &w, source: source, withContact: withContact)
                }
                return
            } catch {
                guard pass.needsTree else { throw error }
                w.rewind(to: mark)
            }
        }
        var tree = try JSONValue(json: json)
        redact(&tree, kind: kind, source: source, withContact: withContact)
        tree.encode(to: &w)
    }
}

/// One record's way through a plan.
struct RedactionPass {
    let redactor: Redactor
    let plan: RedactionPlan
    let json: UnsafeRawBufferPointer
    /// Set (with a thrown error) when the record has something only the tree handles.
    private(set) var needsTree = false
    /// The fields noted, keyed by where they go in `sensitivity.fields` (see `appendField`).
    private var fields: [(order: Int, path: String, classes: [String])] = []
    /// The consignee's name and street, as they were before any rule: free text is searched for them.
    private var consigneeValues: (name: String?, street: String?)?
    private var needles: FreeTextMasker.Needles?

    init(redactor: Redactor, plan: RedactionPlan, json: UnsafeRawBufferPointer) {
        self.redactor = redactor
        self.plan = plan
        self.json = json
    }

    private mutating func fallBack() -> DecodeError {
        needsTree = true
        return DecodeError("needs the tree")
    }

    mutating func record(_ r: inout JSONReader, _ w: inout JSONWriter, source: Provenance, withContact: Bool) throws(DecodeError) {
        guard r.peekKind() == .object else { throw fallBack() }
        var keys = KeyHashes()
        var upstream: Range<Int>?
        w.beginObject()
        try r.readObject { r, key throws(DecodeError) in
            try newKey(key, &keys)
            if key == "upstream_source" || key == "pseudonymisation" || key == "sensitivity" { throw fallBack() }
            w.key(key)
            if key == "source" {
                upstream = try copyableRange(&r)
                source.encode(to: &w)
            } else if key == "consignee" && r.peekKind() == .object {
                try consignee(&r, &w, node: plan.nodes[0].member(key), withContact: withContact)
            } else {
                try member(&r, &w, parent: 0, key: key, path: "")
            }
        }
        // As the tree does it: `upstream_source` added after the record's own members, `source`
        // replaced where it stood (added when there was none), then the two notes.
        if let upstream {
            w.key("upstream_source")
            w.raw(UnsafeRawBufferPointer(rebasing: json[upstream]))
        } else {
            w.key("source")
            source.encode(to: &w)
        }
        fields.sort { $0.order < $1.order }
        redactor.writeNotes(fields: fields.map { ($0.path, $0.classes) }, to: &w)
        w.endObject()
    }

    /// Refuses a key the object already had, as the tree's decoding does. A key that is not
    /// UTF-8 is left to the tree, which repairs it.
    private mutating func newKey(_ key: JSONKey, _ keys: inout KeyHashes) throws(DecodeError) {
        guard key.isValidUTF8 else { throw fallBack() }
        try keys.insert(key)
    }

    /// Fields go out in rule order, then document order (the tree applies one rule after the
    /// other), the consignee's unknown keys last: the order key is the rule's index with the
    /// document order in its low bits (`sort` is not stable).
    private mutating func appendField(rule: Int, path: String, classes: [String]) {
        fields.append((rule << 32 | fields.count, path, classes))
    }

    /// The next value's byte range, checked as the tree's decoding would check it.
    private mutating func copyableRange(_ r: inout JSONReader) throws(DecodeError) -> Range<Int> {
        guard let range = try r.checkedRawValueRange() else { throw fallBack() }
        return range
    }

    private mutating func copy(_ r: inout JSONReader, _ w: inout JSONWriter) throws(DecodeError) {
        let range = try copyableRange(&r)
        w.raw(UnsafeRawBufferPointer(rebasing: json[range]))
    }

    /// The member `key` of an object at node `parent`.
    private mutating func member(_ r: inout JSONReader, _ w: inout JSONWriter, parent: Int, key: JSONKey, path: String) throws(DecodeError) {
        let m = plan.nodes[parent].member(key), e = plan.nodes[parent].elements(key)
        if m == nil && e == nil { return try copy(&r, &w) }
        try value(&r, &w, node: m, elements: e, path: path.isEmpty ? key.string : path + "." + key.string)
    }

    /// A value that the rules at `node` apply to, and whose elements (when it is an array) the
    /// rules at `elements` apply to.
    private mutating func value(_ r: inout JSONReader, _ w: inout JSONWriter, node: Int?, elements: Int?, path: String) throws(DecodeError) {
        let kind = r.peekKind()
        if let node {
            let rules = plan.nodes[node].rules
            // A rule that changes the value is the only one here and has nothing below (the plan's condition).
            if let first = rules.first, plan.rules[first].action != .keep { return try act(&r, &w, rule: first, path: path) }
            if kind != .null { for i in rules { appendField(rule: i, path: path, classes: plan.rules[i].classes) } }
            if kind == .object && !plan.nodes[node].isLeaf {
                var keys = KeyHashes()
                w.beginObject()
                try r.readObject { r, key throws(DecodeError) in
                    try newKey(key, &keys)
                    w.key(key)
                    try member(&r, &w, parent: node, key: key, path: path)
                }
                w.endObject()
                return
            }
        }
        if let elements, kind == .array {
            w.beginArray()
            try r.readArray { r, j throws(DecodeError) in try value(&r, &w, node: elements, elements: nil, path: "\(path)[\(j)]") }
            w.endArray()
            return
        }
        try copy(&r, &w)
    }

    /// Applies a rule that changes the value (`keep` rules only note it).
    private mutating func act(_ r: inout JSONReader, _ w: inout JSONWriter, rule index: Int, path: String) throws(DecodeError) {
        let rule = plan.rules[index]
        if r.readNull() { w.null(); return }
        var classes = rule.classes
        let text = r.peekKind() == .string ? try r.readString() : nil
        switch rule.action {
        case .keep: preconditionFailure("keep rules do not act")
        case .drop:
            if text == nil { _ = try copyableRange(&r) }
            w.null()
        case .pseudonymise:
            if let text { w.string(redactor.pseudonymizer.pseudonym(text, kind: rule.kind ?? rule.path)) } else { _ = try copyableRange(&r); w.null() }
        case .postalRegion:
            if let text { w.string(Redactor.postalRegion(text)) } else { try copy(&r, &w) }
        case .maskFreeText:
            if let text {
                let masked = redactor.masker.mask(text, needles: try consigneeNeedles())
                w.string(masked.text)
                if !masked.kinds.isEmpty && !classes.contains("personal_data") { classes.append("personal_data") }
            } else { try copy(&r, &w) }
        }
        appendField(rule: index, path: path, classes: classes)
    }

    /// Prepared once per record, and only for a record with free text.
    private mutating func consigneeNeedles() throws(DecodeError) -> FreeTextMasker.Needles {
        if let needles { return needles }
        // The consignee may come after the free text: then read it ahead.
        if consigneeValues == nil { consigneeValues = try Self.readConsignee(json) }
        let made = FreeTextMasker.Needles(names: [consigneeValues?.name].compactMap { $0 }, streets: [consigneeValues?.street].compactMap { $0 })
        needles = made
        return made
    }

    static func readConsignee(_ json: UnsafeRawBufferPointer) throws(DecodeError) -> (name: String?, street: String?) {
        var found: (name: String?, street: String?) = (nil, nil)
        var r = JSONReader(json)
        try r.readObject { r, key throws(DecodeError) in
            guard key == "consignee", r.peekKind() == .object else { return try r.skipValue() }
            try r.readObject { r, key throws(DecodeError) in
                if key == "name" && r.peekKind() == .string { found.name = try r.readString() }
                else if key == "street" && r.peekKind() == .string { found.street = try r.readString() }
                else { try r.skipValue() }
            }
        }
        return found
    }

    /// The consignee object: the policy's rules, then its keys the policy does not know,
    /// pseudonymised; with `withContact`, `email` and `phone` always present.
    private mutating func consignee(_ r: inout JSONReader, _ w: inout JSONWriter, node: Int?, withContact: Bool) throws(DecodeError) {
        var keys = KeyHashes()
        var unknown: [String] = []
        var values: (name: String?, street: String?) = (nil, nil)
        var hasEmail = false, hasPhone = false
        w.beginObject()
        try r.readObject { r, key throws(DecodeError) in
            try newKey(key, &keys)
            w.key(key)
            let isName = key == "name", isStreet = key == "street"
            if isName || isStreet || key == "email" || key == "phone" || key == "postal_code" || key == "city" || key == "country" {
                // (`Redactor.consigneeKnown`, without hashing each key.)
                if (isName || isStreet) && r.peekKind() == .string {
                    var ahead = r
                    let text = try ahead.readString()
                    if isName { values.name = text } else { values.street = text }
                }
                if key == "email" { hasEmail = true } else if key == "phone" { hasPhone = true }
                guard let node else { return try copy(&r, &w) }
                try member(&r, &w, parent: node, key: key, path: "consignee")
            } else {
                let k = key.string
                if r.peekKind() == .string { w.string(redactor.pseudonymizer.pseudonym(try r.readString(), kind: k)) } else { _ = try copyableRange(&r); w.null() }
                unknown.append("consignee." + k)
            }
        }
        if withContact {
            if !hasEmail { w.key("email"); w.null() }
            if !hasPhone { w.key("phone"); w.null() }
        }
        w.endObject()
        if consigneeValues == nil { consigneeValues = values }
        // After every rule's fields, whatever their order in the record.
        for path in unknown { appendField(rule: plan.rules.count, path: path, classes: ["personal_data"]) }
    }
}
