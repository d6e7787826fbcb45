import Foundation
import Sensitivity
import Testing

@Suite("Keyed pseudonyms")
struct PseudonymizerTests {
    @Test("HMAC-SHA256 matches RFC 4231 test case 2")
    func rfc4231() {
        let mac = Pseudonymizer.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        let hex = mac.map { String(format: "%02x", $0) }.joined()
        #expect(hex == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("Same person, same pseudonym, whatever the spelling; different kind or key, different pseudonym")
    func stable() {
        let p = Pseudonymizer(key: Array("0123456789abcdef0123456789abcdef".utf8), keyID: "k1")
        let a = p.pseudonym("Marie Dupont", kind: "name")
        #expect(a == p.pseudonym("MARIE  DUPONT", kind: "name"))
        #expect(a == p.pseudonym("Marié Dupont", kind: "name"))
        #expect(a != p.pseudonym("Marie Dupont", kind: "street"))
        #expect(a != Pseudonymizer(key: Array("another key, rotated.............".utf8), keyID: "k2").pseudonym("Marie Dupont", kind: "name"))
        #expect(a.hasPrefix("ps_") && a.count == 25)
        #expect(a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
    }

    @Test("Pseudonyms do not change between versions: pinned against an independent HMAC (Python's hmac module)")
    func pinned() {
        // The same person must keep the same pseudonym across releases (joins in analysts' data,
        // the fraud-worker's consignee checks). Values from
        // hmac.new(key, b"name\x1fmarie dupont", hashlib.sha256), base64url, first 22 characters.
        let p = Pseudonymizer(key: Array("0123456789abcdef0123456789abcdef".utf8), keyID: "k1")
        #expect(p.pseudonym("Marie Dupont", kind: "name") == "ps_NGLTIrgFESDuPyhtlJrAUr")
        #expect(p.pseudonym("Rue de la Loi 16", kind: "street") == "ps_JnD-shxiKsFG6YAvVimHnO")
        // Every pseudonym starts from a copy of one keyed HMAC: using it must not change it.
        #expect(p.pseudonym("Marie Dupont", kind: "name") == "ps_NGLTIrgFESDuPyhtlJrAUr")
    }

    @Test("Normalising equals its definition (Unicode folding, then whitespace collapsed) for ASCII, accented, wide, non-Latin and odd-space values")
    func normalisedAsDefined() {
        func definition(_ v: String) -> String {
            v.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil)
                .split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        }
        let values = [
            "", " ", "Marie Dupont", "  MARIE\t\tDUPONT \r\n", "Zoë  Ğündüz", "ÉLODIE\u{00A0}Lefèvre", "Ｆｕｌｌ Ｗｉｄｔｈ ５",
            "Jürgen\u{2003}Weiß", "Łukasz Żółć", "Ærøskøbing", "张伟 北京", "Ιωάννης Παπαδόπουλος", "O\u{0301}scar  Nuñez ",
            "a\u{1C}b", "Straße 5\nHof", "İstanbul", "ǅemal", "x \u{301}y", "\u{FEFF}BOM", "Mañana\u{3000}Tarde",
        ]
        for v in values {
            #expect(Pseudonymizer.normalise(v) == definition(v), "\(v.debugDescription)")
        }
    }
}
