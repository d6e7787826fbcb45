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
        /// The folded variants that are plain ASCII, as bytes, in the order the masker tries
        /// them: the only ones an ASCII text can contain (its folded units are ASCII letters and
        /// digits, and no other character is canonically equivalent to one of those).
        let ascii: [(units: [UInt8], kind: String)]
        /// The values themselves: a text that is not plain ASCII compares grapheme clusters and
        /// folds these again (rare: most descriptions are ASCII).
        let names: [String], streets: [String]

        public init(names: [String] = [], streets: [String] = []) {
            self.names = names
            self.streets = streets
            var ascii: [(units: [UInt8], kind: String)] = []
            for (values, kind) in [(names, "name"), (streets, "street")] {
                for value in values {
                    if let bytes = FreeTextMasker.plainASCII(value) {
                        ascii += Self.variants(ofASCII: bytes).map { ($0, kind) }
                    } else {
                        // Folding often leaves ASCII ("Zoë" → "zoe").
                        for v in Self.variants(of: value) where v.allSatisfy({ $0.asciiValue != nil }) { ascii.append((v.map { $0.asciiValue! }, kind)) }
                    }
                }
            }
            self.ascii = ascii
        }

        /// Every variant as characters, for a text that is not plain ASCII.
        var characterVariants: [(units: [Character], kind: String)] {
            names.flatMap { Self.variants(of: $0).map { ($0, "name") } } + streets.flatMap { Self.variants(of: $0).map { ($0, "street") } }
        }

        /// `value` folded, in its word order and reversed ("Dupont Marie"); fewer than 3 units
        /// would match too much.
        static func variants(of value: String) -> [[Character]] {
            // Words (runs of letters and digits) folded in one pass over the characters, each
            // word once for both orders.
            var words: [[Character]] = [], word: [Character] = [], inWord = false
            for ch in value {
                if let a = ch.asciiValue {
                    let u = FreeTextMasker.unit(ch)
                    if FreeTextMasker.isWordCharacter(u) {
                        word.append(FreeTextMasker.isUppercase(a) ? Character(Unicode.Scalar(a + 32)) : ch)
                        inWord = true
                        continue
                    }
                } else if FreeTextMasker.isWordCharacter(FreeTextMasker.unit(ch)) {
                    word += FreeTextMasker.foldedUnits(of: ch)
                    inWord = true
                    continue
                }
                if inWord { words.append(word); word = []; inWord = false }
            }
            if inWord { words.append(word) }
            guard !words.isEmpty else { return [] }
            let forward = Array(words.joined()), backward = Array(words.reversed().joined())
            return (forward == backward ? [forward] : [forward, backward]).filter { $0.count >= 3 }
        }

        /// `variants(of:)` of a plain ASCII value: its letters and digits lower-cased, by word.
        static func variants(ofASCII value: [UInt8]) -> [[UInt8]] {
            let words = value.split(whereSeparator: { !FreeTextMasker.isWordCharacter($0) }).map { $0.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 } }
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
        mask(text, needles: needles, readingCharacters: false)
    }

    /// `readingCharacters`: split even a plain ASCII text into grapheme clusters (for the tests
    /// that hold the two paths to each other).
    func mask(_ text: String, needles: Needles, readingCharacters: Bool) -> Result {
        // Plain ASCII (most descriptions): one byte is one character, so the scanners read the
        // bytes. Splitting every text into grapheme clusters was most of the masker's cost.
        let bytes = readingCharacters ? nil : Self.plainASCII(text)
        let characters = bytes == nil ? Array(text) : nil
        let units = bytes ?? characters!.map(Self.unit)
        var spans: [(Range<Int>, String)] = []
        spans += emails(units).map { ($0, "email") }
        spans += ibans(units).map { ($0, "iban") }
        spans += phones(units, characters).map { ($0, "phone") }
        if let characters {
            let variants = needles.characterVariants
            if !variants.isEmpty {
                let folded = Self.folded(characters)
                for (needle, kind) in variants { spans += occurrences(of: needle, in: units, folded: folded).map { ($0, kind) } }
            }
        } else if !needles.ascii.isEmpty {
            let folded = Self.foldedASCII(units)
            for (needle, kind) in needles.ascii { spans += occurrences(of: needle, in: units, folded: folded).map { ($0, kind) } }
        }
        guard !spans.isEmpty else { return Result(text: text, kinds: []) }
        // Overlapping spans merge (sorted by start; the first span's kind names the merged one).
        spans.sort { $0.0.lowerBound < $1.0.lowerBound }
        var kinds: Set<String> = []
        var merged: [(Range<Int>, String)] = []
        for s in spans {
            if let last = merged.last, s.0.lowerBound < last.0.upperBound {
                merged[merged.count - 1].0 = last.0.lowerBound..<max(last.0.upperBound, s.0.upperBound)
            } else {
                merged.append(s)
            }
            kinds.insert(s.1)
        }
        if var characters {
            // Replace from the end so earlier ranges stay valid.
            for (range, kind) in merged.reversed() { characters.replaceSubrange(range, with: Array("[\(kind)]")) }
            return Result(text: String(characters), kinds: kinds)
        }
        var out: [UInt8] = []
        out.reserveCapacity(units.count + 8 * merged.count)
        var from = 0
        for (range, kind) in merged {
            out += units[from..<range.lowerBound]
            out.append(0x5B)
            out += kind.utf8
            out.append(0x5D)
            from = range.upperBound
        }
        out += units[from...]
        return Result(text: String(decoding: out, as: UTF8.self), kinds: kinds)
    }

    /// The bytes of `text` when each is one character: ASCII without a carriage return (CR LF is
    /// one grapheme cluster).
    static func plainASCII(_ text: String) -> [UInt8]? {
        var plain = true
        for b in text.utf8 where b >= 0x80 || b == 0x0D { plain = false; break }
        return plain ? Array(text.utf8) : nil
    }

    // MARK: - Units: what the scanners read, one per character

    /// An ASCII character reads as its value (CR LF, one character, as LF, as `asciiValue` has
    /// it); any other as one of these three, which is all the scanners ask of it.
    static let otherLetter: UInt8 = 0x80, otherNumber: UInt8 = 0x81, otherCharacter: UInt8 = 0x82

    @inline(__always) static func unit(_ c: Character) -> UInt8 {
        if let a = c.asciiValue { return a }
        return c.isLetter ? otherLetter : c.isNumber ? otherNumber : otherCharacter
    }

    @inline(__always) static func isDigit(_ u: UInt8) -> Bool { u >= 0x30 && u <= 0x39 }
    @inline(__always) static func isUppercase(_ u: UInt8) -> Bool { u >= 0x41 && u <= 0x5A }
    @inline(__always) static func isASCIILetter(_ u: UInt8) -> Bool { u < 0x80 && u | 0x20 >= 0x61 && u | 0x20 <= 0x7A }
    /// A letter (of any script).
    @inline(__always) static func isLetter(_ u: UInt8) -> Bool { isASCIILetter(u) || u == otherLetter }
    /// A letter or digit (of any script): `isLetter || isNumber`.
    @inline(__always) static func isWordCharacter(_ u: UInt8) -> Bool { isASCIILetter(u) || isDigit(u) || u == otherLetter || u == otherNumber }

    // MARK: - E-mail

    static func isLocalPart(_ u: UInt8) -> Bool {
        isASCIILetter(u) || isDigit(u) || u == 0x2E || u == 0x5F || u == 0x25 || u == 0x2B || u == 0x2D // . _ % + -
    }
    static func isDomainPart(_ u: UInt8) -> Bool { isASCIILetter(u) || isDigit(u) || u == 0x2E || u == 0x2D } // . -

    func emails(_ c: [UInt8]) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var i = 0
        while i < c.count {
            // "@", or an obfuscated "(at)" / "[at]" / " at " between two address-like words.
            var atStart = -1, atEnd = -1
            if c[i] == 0x40 { (atStart, atEnd) = (i, i + 1) }
            else if let n = Self.obfuscatedAt(c, i) { (atStart, atEnd) = (i, i + n) }
            guard atStart >= 0 else { i += 1; continue }
            var s = atStart
            while s > 0 && Self.isLocalPart(c[s - 1]) { s -= 1 }
            var e = atEnd
            var dots = 0
            while e < c.count {
                if Self.isDomainPart(c[e]) {
                    if c[e] == 0x2E { dots += 1 }
                    e += 1
                } else if let n = Self.obfuscatedDot(c, e) {
                    dots += 1
                    e += n
                } else { break }
            }
            while e > atEnd && (c[e - 1] == 0x2E || c[e - 1] == 0x2D) { e -= 1 }
            // The top-level label (after the last dot) must be 2+ letters.
            var tld = 0
            var k = e - 1
            while k >= atEnd && Self.isLetter(c[k]) { tld += 1; k -= 1 }
            if s < atStart && dots >= 1 && tld >= 2 && k >= atEnd {
                found.append(s..<e)
                i = e
            } else {
                i = atEnd
            }
        }
        return found
    }

    /// Whether `c` at `i` reads `form` (lower-case ASCII), ignoring ASCII case.
    static func matches(_ c: [UInt8], _ i: Int, _ form: StaticString) -> Bool {
        let n = form.utf8CodeUnitCount
        guard i >= 0, i + n <= c.count else { return false }
        let bytes = form.utf8Start
        for k in 0..<n {
            let a = c[i + k]
            if (isUppercase(a) ? a + 32 : a) != bytes[k] { return false }
        }
        return true
    }

    static func obfuscatedAt(_ c: [UInt8], _ i: Int) -> Int? {
        // Every form starts with "(", "[" or " ".
        guard c[i] == 0x28 || c[i] == 0x5B || c[i] == 0x20 else { return nil }
        if matches(c, i, "(at)") || matches(c, i, "[at]") { return 4 }
        if matches(c, i, " (at) ") || matches(c, i, " [at] ") { return 6 }
        if matches(c, i, " at "), i > 0, isLocalPart(c[i - 1]), i + 4 < c.count, isDomainPart(c[i + 4]) {
            // "name at example dot be": only with a " dot " (or ".") after the domain word.
            var j = i + 4
            while j < c.count && isLetter(c[j]) { j += 1 }
            if matches(c, j, " dot ") || (j < c.count && c[j] == 0x2E) { return 4 }
        }
        return nil
    }

    static func obfuscatedDot(_ c: [UInt8], _ i: Int) -> Int? {
        guard c[i] == 0x28 || c[i] == 0x5B || c[i] == 0x20 else { return nil }
        if matches(c, i, "(dot)") || matches(c, i, "[dot]") || matches(c, i, " dot ") { return 5 }
        return nil
    }

    // MARK: - Phone

    /// Separators inside a phone number: space - . / ( )
    @inline(__always) static func isPhoneSeparator(_ u: UInt8) -> Bool {
        u == 0x20 || u == 0x2D || u == 0x2E || u == 0x2F || u == 0x28 || u == 0x29
    }

    /// `characters`: the text's grapheme clusters when it is not plain ASCII (for `hsContext`).
    func phones(_ c: [UInt8], _ characters: [Character]?) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var i = 0
        while i < c.count {
            let startsPlus = c[i] == 0x2B && i + 1 < c.count && Self.isDigit(c[i + 1])
            let startsDigit = Self.isDigit(c[i])
            let boundary = i == 0 || !Self.isWordCharacter(c[i - 1])
            guard (startsPlus || startsDigit) && boundary else { i += 1; continue }
            var j = startsPlus ? i + 1 : i
            // Only the count and the first two digits matter.
            var n = 0, first: UInt8 = 0, second: UInt8 = 0, separators = 0, lastDigit = j
            while j < c.count {
                if Self.isDigit(c[j]) {
                    if n == 0 { first = c[j] } else if n == 1 { second = c[j] }
                    n += 1
                    lastDigit = j
                    j += 1
                } else if Self.isPhoneSeparator(c[j]) {
                    // A short run of separators ("-", " ", ") ", " / ") followed by a digit.
                    var k = j
                    while k < c.count && k - j < 3 && Self.isPhoneSeparator(c[k]) { k += 1 }
                    guard k < c.count, Self.isDigit(c[k]) else { break }
                    separators += 1
                    j = k
                } else { break }
            }
            let end = lastDigit + 1
            let followedByLetter = end < c.count && Self.isLetter(c[end])
            var phone = false
            if !followedByLetter {
                if startsPlus { phone = (8...15).contains(n) }
                else if n >= 2 && first == 0x30 && second == 0x30 { phone = (10...15).contains(n) }
                else if first == 0x30, n >= 2, second != 0x30 {
                    phone = (9...11).contains(n) && (separators > 0 || n == 10) && !Self.hsContext(c, characters, before: i)
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
    static func hsContext(_ c: [UInt8], _ characters: [Character]?, before i: Int) -> Bool {
        let from = max(0, i - 14)
        if let characters {
            let window = String(characters[from..<i]).lowercased()
            return window.contains("hs") || window.contains("tariff") || window.contains("code") || window.contains("cn ")
        }
        for p in from..<i {
            if (p + 2 <= i && matches(c, p, "hs")) || (p + 6 <= i && matches(c, p, "tariff")) || (p + 4 <= i && matches(c, p, "code"))
                || (p + 3 <= i && matches(c, p, "cn ")) { return true }
        }
        return false
    }

    // MARK: - IBAN

    func ibans(_ c: [UInt8]) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var i = 0
        while i + 15 <= c.count {
            let boundary = i == 0 || !Self.isWordCharacter(c[i - 1])
            guard boundary, Self.isUppercase(c[i]), Self.isUppercase(c[i + 1]), Self.isDigit(c[i + 2]), Self.isDigit(c[i + 3]) else { i += 1; continue }
            var j = i, compact: [UInt8] = []
            while j < c.count && compact.count < 34 {
                if Self.isDigit(c[j]) || Self.isUppercase(c[j]) { compact.append(c[j]); j += 1 }
                else if c[j] == 0x20 && j + 1 < c.count && (Self.isDigit(c[j + 1]) || Self.isUppercase(c[j + 1])) { j += 1 }
                else { break }
            }
            // Try the longest prefix that passes the checksum (text may follow with a space).
            var matched = false
            var length = compact.count
            while length >= 15 {
                if Self.validIBAN(compact[0..<length]) {
                    var consumed = 0, k = i
                    while consumed < length { if c[k] != 0x20 { consumed += 1 }; k += 1 }
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

    /// ISO 13616 mod-97 check of upper-case letters and digits.
    static func validIBAN(_ s: ArraySlice<UInt8>) -> Bool {
        guard s.count > 4 else { return false }
        var remainder = 0
        for a in s.dropFirst(4) + s.prefix(4) {
            if isDigit(a) { remainder = (remainder * 10 + Int(a - 0x30)) % 97 }
            else if isUppercase(a) { remainder = (remainder * 100 + Int(a) - 55) % 97 }
            else { return false }
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
            // ASCII folds without Foundation: per-character String.folding was the whole cost of
            // the PII bar test (~9 ms a record).
            if let a = ch.asciiValue {
                if a >= 65 && a <= 90 { units.append(Character(Unicode.Scalar(a + 32))); index.append(i) }
                else if (a >= 97 && a <= 122) || (a >= 48 && a <= 57) { units.append(ch); index.append(i) }
                continue
            }
            for u in foldedUnits(of: ch) {
                units.append(u)
                index.append(i)
            }
        }
        return (units, index)
    }

    /// The letters and digits of one character, folded (Foundation's folding).
    static func foldedUnits(of ch: Character) -> [Character] {
        // Latin letters with accents (most non-ASCII in EU names): folded once, then looked up.
        if ch.unicodeScalars.count == 1, let v = ch.unicodeScalars.first?.value, v >= latinFolds.first, v < latinFolds.first + UInt32(latinFolds.units.count) {
            return latinFolds.units[Int(v - latinFolds.first)]
        }
        return foldedByFoundation(ch)
    }

    static func foldedByFoundation(_ ch: Character) -> [Character] {
        Array(String(ch).folding(options: [.diacriticInsensitive, .caseInsensitive, .widthInsensitive], locale: nil)).filter { $0.isLetter || $0.isNumber }
    }

    /// `foldedByFoundation` of U+0080 to U+024F (Latin-1 Supplement, Latin Extended-A and -B),
    /// made once: folding each accented letter of a name anew was a third of preparing it.
    static let latinFolds: (first: UInt32, units: [[Character]]) = (0x80, (UInt32(0x80)..<0x250).map { foldedByFoundation(Character(Unicode.Scalar($0)!)) })

    /// `folded` of a plain ASCII text.
    static func foldedASCII(_ c: [UInt8]) -> (units: [UInt8], index: [Int]) {
        var units: [UInt8] = [], index: [Int] = []
        units.reserveCapacity(c.count)
        index.reserveCapacity(c.count)
        for (i, a) in c.enumerated() where isASCIILetter(a) || isDigit(a) {
            units.append(isUppercase(a) ? a + 32 : a)
            index.append(i)
        }
        return (units, index)
    }

    /// Every occurrence of a folded needle, on word boundaries (so ignoring case, accents,
    /// punctuation and spacing). `c`: the text's units; `folded`: its folded units and where each
    /// came from.
    func occurrences<Unit: Equatable>(of needle: [Unit], in c: [UInt8], folded: (units: [Unit], index: [Int])) -> [Range<Int>] {
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
