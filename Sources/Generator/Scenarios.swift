import Codec

/// Personal data written into free text, and hostile records.
extension TrafficGenerator {
    static let piiForms = ["email", "email_obfuscated", "phone_e164", "phone_national", "iban", "name", "name_reordered",
                           "name_uppercase", "name_unaccented", "street"]

    /// A note a buyer or seller might put into an item description, carrying the consignee's data.
    mutating func piiText(_ c: Consignee) -> (form: String, text: String) {
        let form = rng.element(TrafficGenerator.piiForms)
        let email = c.email ?? "buyer@example.eu", phone = c.phone ?? "+32470000000"
        let parts = c.name.split(separator: " ")
        switch form {
        case "email": return (form, "invoice to " + email)
        case "email_obfuscated":
            let style = rng.chance(0.5) ? (" (at) ", " (dot) ") : ("[at]", "[dot]")
            let obfuscated = email.replacingOccurrences("@", style.0).replacingOccurrences(".", style.1)
            return (form, "contact " + obfuscated)
        case "phone_e164": return (form, "call " + phone)
        case "phone_national":
            // +32 471 23 45 67 → 0471 23 45 67
            let digits = Array(phone.dropFirst(3))
            var text = "0" + String(digits.prefix(3))
            for k in stride(from: 3, to: digits.count, by: 2) { text += " " + String(digits[k..<min(k + 2, digits.count)]) }
            return (form, "tel " + text)
        case "iban": return (form, "refund to " + belgianIBAN())
        case "name": return (form, "Gift for " + c.name)
        case "name_reordered": return (form, "for " + parts.reversed().joined(separator: ", "))
        case "name_uppercase": return (form, "FOR " + c.name.uppercased())
        case "name_unaccented":
            let folded = fold(c.name)
            return folded == c.name ? ("name_lowercase", "for " + c.name.lowercased()) : (form, "for " + folded)
        default: return ("street", "leave at " + c.street)
        }
    }

    /// A well-formed Belgian IBAN (national and IBAN check digits right), grouped by four.
    mutating func belgianIBAN() -> String {
        let first10 = rng.int64(5_390_000_000...5_399_999_999)
        let national = first10 % 97 == 0 ? 97 : first10 % 97
        let bban = String(first10) + pad(Int(national), 2)
        var remainder = 0
        for ch in bban + "111400" { remainder = (remainder * 10 + Int(ch.asciiValue! - 48)) % 97 }
        let iban = "BE" + pad(98 - remainder, 2) + bban
        return stride(from: 0, to: iban.count, by: 4).map { k in
            String(iban.dropFirst(k).prefix(4))
        }.joined(separator: " ")
    }

    static let hostileForms = ["truncated_json", "invalid_utf8", "bom", "deep_nesting", "duplicate_keys", "huge_value", "number_overflow",
                               "nan_text", "negative_weight", "negative_amount", "year_0", "year_9999", "empty_key", "binary_headers",
                               "wrong_schema", "not_json", "empty_value", "missing_field"]
    /// Forms whose value is still a valid record: consumers must notice them by key, headers or size.
    public static let hostileFormsThatDecode: Set<String> = ["empty_key", "binary_headers", "huge_value"]

    /// A malformed or hostile twin of a regular record (a new record; the original still goes out).
    mutating func makeHostile(from record: GeneratedRecord, eventID: String) -> GeneratedRecord {
        let kind = record.kind
        // Field names by record kind: a count, a timestamp, the id, a free text.
        let (countKey, timeKey, idKey, textKey): (String, String, String, String) = switch kind {
        case .declaration: ("gross_mass_grams", "lodged_at", "declaration_id", "description")
        case .accessLog: ("records", "occurred_at", "event_id", "client")
        default: ("weight_grams", "occurred_at", "event_id", "description")
        }
        var forms = TrafficGenerator.hostileForms
        if kind != .declaration { forms.removeAll { $0 == "negative_amount" } }
        if kind == .accessLog { forms.removeAll { $0 == "negative_weight" } }
        let form = rng.element(forms)
        var v = record.value
        var key = record.key
        var headers: [(String, [UInt8])] = []
        // Valid-looking twins get their own id, so they are not mistaken for the original.
        func renameID() { v.replaceValue(of: idKey, with: "\"H-" + eventID + "\"") }
        switch form {
        case "truncated_json": v = Array(v.prefix(rng.int(1...(v.count - 2))))
        case "invalid_utf8": v.insert(contentsOf: [0xC3, 0x28, 0xFF], at: v.valueRange(of: textKey).map { $0.lowerBound + 1 } ?? 2)
        case "bom": v.insert(contentsOf: [0xEF, 0xBB, 0xBF], at: 0)
        case "deep_nesting":
            let depth = 10_000
            v = Array("{\"deep\":".utf8) + [UInt8](repeating: 0x5B, count: depth) + [UInt8](repeating: 0x5D, count: depth) + [0x2C] + v.dropFirst()
        case "duplicate_keys": v.insert(contentsOf: Array("\"\(idKey)\":\"X-\(eventID)\",".utf8), at: 1)
        case "huge_value":
            renameID()
            v.insert(contentsOf: [UInt8](repeating: 0x41, count: 900_000), at: v.valueRange(of: textKey).map { $0.lowerBound + 1 } ?? 2)
        case "number_overflow": v.replaceValue(of: countKey, with: "123456789012345678901234567890")
        case "nan_text": v.replaceValue(of: countKey, with: rng.element(["NaN", "Infinity", "-Infinity"]))
        case "negative_weight": v.replaceValue(of: countKey, with: "-" + String(rng.int(1...5_000)))
        case "negative_amount": v.replaceValue(of: "amount", with: "-" + String(rng.int(1...200)) + ".5")
        case "year_0", "year_9999":
            if let r = v.valueRange(of: timeKey) { v.replaceSubrange(r.lowerBound + 1..<r.lowerBound + 5, with: Array((form == "year_0" ? "0000" : "9999").utf8)) }
        case "empty_key":
            renameID()
            key = ""
        case "binary_headers":
            renameID()
            headers = [("x-trace", (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) } + [0x00, 0xFF]), ("x-\u{00E9}tat", [0xC0, 0x80, 0xFE])]
        case "wrong_schema":
            if let r = v.valueRange(of: "schema") { v.replaceSubrange(r.upperBound - 2..<r.upperBound - 1, with: Array("7".utf8)) }
        case "not_json": v = Array("<html><body><h1>502 Bad Gateway</h1></body></html>".utf8)
        case "empty_value": v = []
        default:  // missing_field: the id key misspelt, so the record lacks it
            if let r = v.range(of: Array("\"\(idKey)\":".utf8)) { v.insert(0x5F, at: r.lowerBound + 1) }
        }
        var hostile = GeneratedRecord(topic: record.topic, key: key, value: v, time: record.time, kind: .hostile)
        hostile.headers = headers
        hostile.hostileForm = form
        hostile.truth = [.hostile(id: nextScenarioID("H"), topic: record.topic, key: key, form: form)]
        return hostile
    }
}

extension [UInt8] {
    func range(of pattern: [UInt8]) -> Range<Int>? {
        guard pattern.count <= count, let first = pattern.first else { return nil }
        var i = 0
        while i + pattern.count <= count {
            if self[i] == first && self[i..<i + pattern.count].elementsEqual(pattern) { return i..<i + pattern.count }
            i += 1
        }
        return nil
    }

    /// The scalar value after the first `"key":` (a string with its quotes, or a number/literal).
    func valueRange(of key: String) -> Range<Int>? {
        guard let k = range(of: Array("\"\(key)\":".utf8)) else { return nil }
        let start = k.upperBound
        guard start < count else { return nil }
        var i = start
        if self[i] == 0x22 {
            i += 1
            while i < count && self[i] != 0x22 { i += self[i] == 0x5C ? 2 : 1 }
            return start..<Swift.min(i + 1, count)
        }
        if self[i] == 0x7B || self[i] == 0x5B { return nil }
        while i < count && ![0x2C, 0x7D, 0x5D].contains(self[i]) { i += 1 }
        return start..<i
    }

    mutating func replaceValue(of key: String, with text: String) {
        if let r = valueRange(of: key) { replaceSubrange(r, with: Array(text.utf8)) }
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
