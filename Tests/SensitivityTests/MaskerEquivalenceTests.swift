import Foundation
import Generator
@testable import Sensitivity
import Testing

/// The masker reads plain ASCII text as bytes and any other text as grapheme clusters. These
/// tests hold both to the grapheme-cluster masker it replaced (outputs pinned in
/// Fixtures/masker-cases.jsonl, written by that implementation at 48df668) and to each other.
@Suite("Free-text masking: the byte path and the character path agree")
struct MaskerEquivalenceTests {
    let masker = FreeTextMasker()

    /// Pieces of hostile free text: look-alikes of every kind the masker finds, separators, CR LF,
    /// combining marks, non-ASCII letters and digits, full-width forms, a Kelvin sign.
    static let asciiPieces = [
        "@", "(at)", "[at]", " at ", " dot ", "(dot)", "[dot]", ".", "-", "+", "+32", "0032", "0", "00", "06", "470", "12", "34 56", "78",
        " ", "  ", "/", "(", ")", ",", "BE68 5390 0754 7034", "DE89370400440532013000", "BE68", "HS ", "hs", "tariff ", "code ", "CN ",
        "marie", "Dupont", "MARIE", "dupont", "Rue", " de la ", "Loi", "16", "example", "be", "co.uk", "zoe", "muller", "x", "gift for ",
        "1.5", "kg", "RB123456785CN", "\n", "\t", "\r", "mail", "_", "%", "%2B", "0471 23 45 67", "+33 6 12 34 56 78", "NL91ABNA0417164300",
        " Marie Dupont ", " Dupont, Marie ", " zoe muller ", " Rue de la Loi 16 ", " hauptstrasse 5 ", " Kerkstraat 1 2B ", " ul dluga 12 3 ",
        " marie.dupont@example.be ", " m.d (at) mail (dot) eu ", " jl[at]shop[dot]fr ",
    ]
    static let otherPieces = ["é", "ü", "Zoë", "Müller", "Ｍａｒｉｅ", "张伟", "\r\n", "ß", "e\u{301}", "\u{301}", "٣", "Ⅻ", "\u{212A}", "İ", "ﬀ", "😀", "\u{00A0}", " ZOË MÜLLER ", " Hauptstraße 5 ", " Łukasz Żółw ", " 张伟 ", "marié dupônt"]
    static let names = ["Marie Dupont", "Zoë Müller", "Jean-Luc O'Neil", "张伟", "Ab", "Łukasz Żółw", "ＭＡＲＩＥ", "K\u{212A}ay Lee", "  ", ""]
    static let streets = ["Rue de la Loi 16", "Hauptstraße 5", "Ul. Długa 12/3", "16", "Kerkstraat 1\r\n2B"]

    struct Case {
        let text: String, names: [String], streets: [String]
    }

    /// Deterministic cases: `ascii` draws only the ASCII pieces (the byte path), otherwise any.
    static func cases(_ count: Int, seed: UInt64, ascii: Bool) -> [Case] {
        var rng = SeededRandom(seed: seed)
        let pieces = ascii ? asciiPieces : asciiPieces + otherPieces
        return (0..<count).map { _ in
            let text = (0..<Int.random(in: 1...14, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            let names = (0..<Int.random(in: 0...2, using: &rng)).map { _ in Self.names.randomElement(using: &rng)! }
            let streets = (0..<Int.random(in: 0...1, using: &rng)).map { _ in Self.streets.randomElement(using: &rng)! }
            return Case(text: text, names: names, streets: streets)
        }
    }

    static let pinnedCases = cases(600, seed: 2026, ascii: false) + cases(300, seed: 7, ascii: true)

    static func line(_ c: Case, _ r: FreeTextMasker.Result) -> String {
        let object: [String: Any] = ["text": c.text, "names": c.names, "streets": c.streets, "masked": r.text, "kinds": r.kinds.sorted()]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    @Test("Outputs equal those of the grapheme-cluster masker on 900 hostile texts")
    func pinned() throws {
        let results = Self.pinnedCases.map { c in masker.mask(c.text, names: c.names, streets: c.streets) }
        let lines = zip(Self.pinnedCases, results).map(Self.line)
        if let path = ProcessInfo.processInfo.environment["CARGOWATCH_WRITE_MASKER_CASES"] {
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let url = try #require(Bundle.module.url(forResource: "masker-cases", withExtension: "jsonl", subdirectory: "Fixtures"))
        let pinned = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(pinned.count == lines.count)
        var differing = 0
        for (got, want) in zip(lines, pinned) where got != want {
            differing += 1
            if differing <= 5 { Issue.record("masked differently:\n  got  \(got)\n  want \(want)") }
        }
        #expect(differing == 0)
        // The cases exercise every kind of find, so equality is not vacuous.
        #expect(Set(results.flatMap(\.kinds)) == ["email", "phone", "iban", "name", "street"])
    }

    @Test("On ASCII text, reading bytes gives what reading characters gives")
    func bytesAgreeWithCharacters() {
        var masked = 0
        for c in Self.cases(20_000, seed: 99, ascii: true) {
            let needles = FreeTextMasker.Needles(names: c.names, streets: c.streets)
            let bytes = masker.mask(c.text, needles: needles)
            let characters = masker.mask(c.text, needles: needles, readingCharacters: true)
            #expect(bytes == characters, "\(c)")
            if bytes.text != c.text { masked += 1 }
        }
        #expect(masked > 2_000)
    }
}
