import Sensitivity
import Testing

@Suite("Personal data in free text is masked; look-alikes are not")
struct FreeTextMaskerTests {
    let masker = FreeTextMasker()

    @Test("E-mail addresses, plain and obfuscated", arguments: [
        ("contact marie.dupont@example.be please", "contact [email] please"),
        ("mail: Marie.Dupont+shop@mail.example.co.uk.", "mail: [email]."),
        ("write to marie.dupont(at)example(dot)be", "write to [email]"),
        ("write to marie.dupont [at] example.be", "write to [email]"),
        ("reach me marie at example dot be", "reach me [email]"),
    ])
    func emails(input: String, expected: String) {
        #expect(masker.mask(input).text == expected)
    }

    @Test("Phone numbers: E.164 and common EU national formats", arguments: [
        ("call +32470123456", "call [phone]"),
        ("call +32 470 12 34 56 now", "call [phone] now"),
        ("tel (+33) 6 12 34 56 78", "tel ([phone]"),
        ("tel 0033 6 12 34 56 78", "tel [phone]"),
        ("gsm 0470 12 34 56", "gsm [phone]"),
        ("mobile 06-12-34-56-78", "mobile [phone]"),
        ("Handy 0171/1234567", "Handy [phone]"),
        ("ring 0612345678 after 6", "ring [phone] after 6"),
    ])
    func phones(input: String, expected: String) {
        #expect(masker.mask(input).text == expected)
    }

    @Test("Near misses stay as they are", arguments: [
        "Bluetooth earphones HS 851762",
        "Coffee beans, HS code 0901 21 00 00",
        "Tariff 0901210000 roasted",
        "Weight 412 g, 1.25 kg gross",
        "Tracking RB123456785CN via PostNL",
        "MAWB 160-12345675",
        "Set of 2 cables 1.5 m, 3 pcs",
        "Order 2026-11-27 ref 48151623",
        "LED strip 5m 300 LEDs 12V",
        "Size EU 42 / US 9",
    ])
    func nearMisses(input: String) {
        #expect(masker.mask(input).text == input)
    }

    @Test("IBANs with a valid checksum, spaced or not; an invalid one is left")
    func ibans() {
        #expect(masker.mask("pay BE68 5390 0754 7034 thanks").text == "pay [iban] thanks")
        #expect(masker.mask("IBAN DE89370400440532013000").text == "IBAN [iban]")
        #expect(masker.mask("ref BE68 5390 0754 7035").text == "ref BE68 5390 0754 7035")
    }

    @Test("The consignee's own name and street, ignoring case, accents and spacing")
    func ownNameAndStreet() {
        let names = ["Marie Dupont"], streets = ["Rue de la Loi 16"]
        let cases: [(String, String)] = [
            ("Gift for Marie Dupont", "Gift for [name]"),
            ("GIFT FOR MARIE DUPONT!", "GIFT FOR [name]!"),
            ("for marie   dupont", "for [name]"),
            ("for Dupont, Marie", "for [name]"),
            ("for MarieDupont", "for [name]"),
            ("to Marié Dupônt", "to [name]"),
            ("deliver Rue de la Loi 16, 1000 Bruxelles", "deliver [street], 1000 Bruxelles"),
            ("deliver rue de la loi 16", "deliver [street]"),
            ("Mariette Duponte brand", "Mariette Duponte brand"),
        ]
        for (input, expected) in cases {
            #expect(masker.mask(input, names: names, streets: streets).text == expected, "\(input)")
        }
        let r = masker.mask("Marie Dupont, +32470123456, marie@example.be", names: names)
        #expect(r.kinds == ["name", "phone", "email"])
        #expect(!r.text.contains("Dupont") && !r.text.contains("470") && !r.text.contains("@"))
    }
}
