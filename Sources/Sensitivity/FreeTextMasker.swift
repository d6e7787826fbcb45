import Foundation

/// Finds and masks personal data inside free text (item descriptions, resource filters):
/// e-mail addresses (also written with "(at)"/"[at]"), phone numbers in E.164 and common EU
/// national formats, IBANs (checksum-verified), and the consignee's own name or street, matched
/// ignoring case, accents and spacing. Deliberately not phones: HS codes, weights, tracking
/// numbers (see the tests' near misses).
public struct FreeTextMasker: Sendable {
    public struct Result: Equatable, Sendable {
        public let text: String
        /// What was masked: `email`, `phone`, `iban`, `name`, `street`.
        public let kinds: Set<String>
    }

    public init() {}

    /// The record's own consignee values, folded as `occurrences` compares them: prepared once
    /// per record, not once per free-text field.
    public struct Needles: Sendable {
        let variants: [(units: [Character], kind: String)]

        public init(names: [String] = [], streets: [String] = []) {
            variants = names.flatMap { Self.variants(of: $0).map { ($0, "name") } }
                + streets.flatMap { Self.variants(of: $0).map { ($0, "street") } }
        }

        /// `value` folded, in its word order and reversed ("Dupont Marie"); fewer than 3 units
        /// would match too much.
        static func variants(of value: String) -> [[Character]] {
            // Folding works character by character, so each word is folded once for both orders.
            let words = value.split(whereSeparator: { !FreeTextMasker.isWordCharacter($0) }).map { FreeTextMasker.folded(Array($0)).units }
            guard !words.isEmpty else { return [] }
            let forward = Array(words.joined()), backward = Array(words.reversed().joined())
            return (forward == backward ? [forward] : [forward, backward]).filter { $0.count >= 3 }
        }
    }

    /// Masks `text`; `names` and `streets` are the record's own consignee values.
    public func mask(_ text: String, names: [String] = [], streets: [String] = []) -> Result {
        mask(text, needles: Needles(names: names, streets: streets))
    }

    public func mask(_ text: String, needles: Needles) -> Result {
        var chars = Array(text)
        var kinds: Set<String> = []
        var spans: [(Range<Int>, String)] = []
        spans += emails(chars).map { ($0, "email") }
        spans += ibans(chars).map { ($0, "iban") }
        spans += phones(chars).map { ($0, "phone") }
        if !needles.variants.isEmpty {
            let folded = Self.folded(chars)
            for (needle, kind) in needles.variants { spans += occurrences(of: needle, in: chars, folded: folded).map { ($0, kind) } }
        }
        guard !spans.isEmpty else { return Result(text: text, kinds: []) }
        // Replace from the end so earlier ranges stay valid; overlapping spans merge.
        spans.sort { $0.0.lowerBound < $1.0.lowerBound }
        var merged: [(Range<Int>, String)] = []
        for s in spans {
            if let last = merged.last, s.0.lowerBound < last.0.upperBound {
                merged[merged.count - 1].0 = last.0.lowerBound..<max(last.0.upperBound, s.0.upperBound)
            } else {
                merged.append(s)
            }
            kinds.insert(s.1)
        }
        for (range, kind) in merged.reversed() {
            chars.replaceSubrange(range, with: Array("[\(kind)]"))
        }
        return Result(text: String(chars), kinds: kinds)
    }

    /// `isLetter || isNumber`, without the Unicode property lookup for ASCII (most text): the
    /// lookups were a twentieth of the sensitivity-worker's CPU.
    @inline(__always) static func isWordCharacter(_ c: Character) -> Bool {
        if let a = c.asciiValue { return (a | 0x20 >= 0x61 && a | 0x20 <= 0x7A) || (a >= 0x30 && a <= 0x39) }
        return c.isLetter || c.isNumber
    }

    @inline(__always) static func isLetter(_ c: Character) -> Bool {
        if let a = c.asciiValue { return a | 0x20 >= 0x61 && a | 0x20 <= 0x7A }
        return c.isLetter
    }

    // MARK: - E-mail

    static func isLocalPart(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || "._%+-".contains(c)) }
    static func isDomainPart(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || ".-".contains(c)) }

    func emails(_ c: [Character]) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var i = 0
        while i < c.count {
            // "@", or an obfuscated "(at)" / "[at]" / " at " between two address-like words.
            var atStart = -1, atEnd = -1
            if c[i] == "@" { (atStart, atEnd) = (i, i + 1) }
            else if let n = Self.obfuscatedAt(c, i) { (atStart, atEnd) = (i, i + n) }
            guard atStart >= 0 else { i += 1; continue }
            var s = atStart
            while s > 0 && Self.isLocalPart(c[s - 1]) { s -= 1 }
            var e = atEnd
            var dots = 0
            while e < c.count {
                if Self.isDomainPart(c[e]) {
                    if c[e] == "." { dots += 1 }
                    e += 1
                } else if let n = Self.obfuscatedDot(c, e) {
                    dots += 1
                    e += n
                } else { break }
            }
            while e > atEnd && (c[e - 1] == "." || c[e - 1] == "-") { e -= 1 }
            // The top-level label (after the last dot) must be 2+ letters.
            var tld = 0
            var k = e - 1
            while k >= atEnd && c[k].isLetter { tld += 1; k -= 1 }
            if s < atStart && dots >= 1 && tld >= 2 && k >= atEnd {
                found.append(s..<e)
                i = e
            } else {
                i = atEnd
            }
        }
        return found
    }

    /// Whether `c` at `i` reads `form` (lower-case ASCII), ignoring ASCII case. Compares in place:
    /// this runs at every position of every description, and building a lower-cased String
    /// there was 40 % of the sensitivity-worker's CPU (perf, 71k samples).
    static func matches(_ c: [Character], _ i: Int, _ form: StaticString) -> Bool {
        let n = form.utf8CodeUnitCount
        guard i >= 0, i + n <= c.count else { return false }
        let bytes = form.utf8Start
        for k in 0..<n {
            guard let a = c[i + k].asciiValue else { return false }
            let lowered = a >= 0x41 && a <= 0x5A ? a + 32 : a
            if lowered != bytes[k] { return false }
        }
        return true
    }

    static func obfuscatedAt(_ c: [Character], _ i: Int) -> Int? {
        // Every form starts with "(", "[" or " ".
        guard c[i] == "(" || c[i] == "[" || c[i] == " " else { return nil }
        if matches(c, i, "(at)") || matches(c, i, "[at]") { return 4 }
        if matches(c, i, " (at) ") || matches(c, i, " [at] ") { return 6 }
        if matches(c, i, " at "), i > 0, isLocalPart(c[i - 1]), i + 4 < c.count, isDomainPart(c[i + 4]) {
            // "name at example dot be": only with a " dot " (or ".") after the domain word.
            var j = i + 4
            while j < c.count && c[j].isLetter { j += 1 }
            if matches(c, j, " dot ") || (j < c.count && c[j] == ".") { return 4 }
        }
        return nil
    }

    static func obfuscatedDot(_ c: [Character], _ i: Int) -> Int? {
        guard c[i] == "(" || c[i] == "[" || c[i] == " " else { return nil }
        if matches(c, i, "(dot)") || matches(c, i, "[dot]") || matches(c, i, " dot ") { return 5 }
        return nil
    }

    // MARK: - Phone

    func phones(_ c: [Character]) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var i = 0
        while i < c.count {
            let startsPlus = c[i] == "+" && i + 1 < c.count && c[i + 1].isASCII && c[i + 1].isNumber
            let startsDigit = c[i].isASCII && c[i].isNumber
            let boundary = i == 0 || !Self.isWordCharacter(c[i - 1])
            guard (startsPlus || startsDigit) && boundary else { i += 1; continue }
            var j = startsPlus ? i + 1 : i
            var digits = "", separators = 0, lastDigit = j
            while j < c.count {
                if c[j].isASCII && c[j].isNumber {
                    digits.append(c[j])
                    lastDigit = j
                    j += 1
                } else if " -./()".contains(c[j]) {
                    // A short run of separators ("-", " ", ") ", " / ") followed by a digit.
                    var k = j
                    while k < c.count && k - j < 3 && " -./()".contains(c[k]) { k += 1 }
                    guard k < c.count, c[k].isASCII, c[k].isNumber else { break }
                    separators += 1
                    j = k
                } else { break }
            }
            let end = lastDigit + 1
            let followedByLetter = end < c.count && Self.isLetter(c[end])
            let n = digits.count
            var phone = false
            if !followedByLetter {
                if startsPlus { phone = (8...15).contains(n) }
                else if digits.hasPrefix("00") { phone = (10...15).contains(n) }
                else if digits.hasPrefix("0"), n >= 2, digits.dropFirst().first != "0" {
                    phone = (9...11).contains(n) && (separators > 0 || n == 10) && !Self.hsContext(c, before: i)
                }
            }
            if phone {
                found.append(i..<end)
                i = end
            } else {
                i = max(i + 1, end)
            }
        }
        return found
    }

    /// "HS 0901 21 00 00", "tariff code 0902…": a number right after such words is a commodity code.
    static func hsContext(_ c: [Character], before i: Int) -> Bool {
        let from = max(0, i - 14)
        let window = String(c[from..<i]).lowercased()
        return window.contains("hs") || window.contains("tariff") || window.contains("code") || window.contains("cn ")
    }

    // MARK: - IBAN

    func ibans(_ c: [Character]) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var i = 0
        while i + 15 <= c.count {
            let boundary = i == 0 || !Self.isWordCharacter(c[i - 1])
            guard boundary, c[i].isASCII, c[i].isUppercase, c[i + 1].isASCII, c[i + 1].isUppercase,
                  c[i + 2].isASCII, c[i + 2].isNumber, c[i + 3].isASCII, c[i + 3].isNumber else { i += 1; continue }
            var j = i, compact = ""
            while j < c.count && compact.count < 34 {
                if c[j].isASCII && (c[j].isNumber || c[j].isUppercase) { compact.append(c[j]); j += 1 }
                else if c[j] == " " && j + 1 < c.count && c[j + 1].isASCII && (c[j + 1].isNumber || c[j + 1].isUppercase) { j += 1 }
                else { break }
            }
            // Try the longest prefix that passes the checksum (text may follow with a space).
            var matched = false
            var length = compact.count
            while length >= 15 {
                if Self.validIBAN(String(compact.prefix(length))) {
                    var consumed = 0, k = i
                    while consumed < length { if c[k] != " " { consumed += 1 }; k += 1 }
                    found.append(i..<k)
                    i = k
                    matched = true
                    break
                }
                length -= 1
            }
            if !matched { i += 1 }
        }
        return found
    }

    /// ISO 13616 mod-97 check.
    static func validIBAN(_ s: String) -> Bool {
        let chars = Array(s.dropFirst(4) + s.prefix(4))
        var remainder = 0
        for ch in chars {
            if let d = ch.wholeNumberValue, ch.isASCII {
                remainder = (remainder * 10 + d) % 97
            } else if let a = ch.asciiValue, ch.isUppercase {
                remainder = (remainder * 100 + Int(a) - 55) % 97
            } else {
                return false
            }
        }
        return remainder == 1
    }

    // MARK: - The consignee's own name and street

    /// Folds to lower-case letters and digits without accents; maps each kept unit back to its
    /// character index.
    static func folded(_ c: [Character]) -> (units: [Character], index: [Int]) {
        var units: [Character] = [], index: [Int] = []
        units.reserveCapacity(c.count)
        index.reserveCapacity(c.count)
        for (i, ch) in c.enumerated() {
            // ASCII (most text) folds without Foundation: per-character String.folding was the
            // whole cost of the PII bar test (~9 ms a record).
            if let a = ch.asciiValue {
                if a >= 65 && a <= 90 { units.append(Character(Unicode.Scalar(a + 32))); index.append(i) }
                else if (a >= 97 && a <= 122) || (a >= 48 && a <= 57) { units.append(ch); index.append(i) }
                continue
            }
            let f = String(ch).folding(options: [.diacriticInsensitive, .caseInsensitive, .widthInsensitive], locale: nil)
            for u in f where u.isLetter || u.isNumber {
                units.append(u)
                index.append(i)
            }
        }
        return (units, index)
    }

    /// Every occurrence of a folded needle, on word boundaries (so ignoring case, accents,
    /// punctuation and spacing).
    func occurrences(of needle: [Character], in c: [Character], folded: (units: [Character], index: [Int])) -> [Range<Int>] {
        let (units, index) = folded
        guard needle.count <= units.count else { return [] }
        var found: [Range<Int>] = []
        var i = 0
        while i + needle.count <= units.count {
            if units[i] == needle[0] && units[i..<(i + needle.count)].elementsEqual(needle) {
                let start = index[i], end = index[i + needle.count - 1] + 1
                let before = start == 0 || !Self.isWordCharacter(c[start - 1])
                let after = end == c.count || !Self.isWordCharacter(c[end])
                if before && after {
                    found.append(start..<end)
                    i += needle.count
                    continue
                }
            }
            i += 1
        }
        return found
    }
}
