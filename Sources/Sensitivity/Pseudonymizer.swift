import Crypto
import Foundation

/// Keyed pseudonyms (HMAC-SHA256, GDPR Art. 4(5) / EDPB 01/2025): the same person gets the same
/// pseudonym in every topic, so joins and split-consignment checks still work, while whoever
/// reads the pseudonyms cannot reverse them without the key. Values are normalised first
/// (case, accents, spacing) so that "MARIE  DUPONT" and "Marie Dupont" agree; the field kind is
/// part of the message, so a name and a street never share a pseudonym.
public struct Pseudonymizer: Sendable {
    public let keyID: String
    private let keyed: KeyedHMAC

    /// An HMAC that has absorbed the key. Setting one up hashes the key's two padded blocks,
    /// a third of each pseudonym's cost, so every pseudonym starts from a copy of this one
    /// (the hash state is copy-on-write; the original is never changed, so sharing it between
    /// threads is safe, though Crypto does not declare HMAC Sendable).
    private struct KeyedHMAC: @unchecked Sendable {
        let hmac: HMAC<SHA256>
    }

    public init(key: [UInt8], keyID: String) {
        keyed = KeyedHMAC(hmac: HMAC<SHA256>(key: SymmetricKey(data: key)))
        self.keyID = keyID
    }

    /// `ps_` + 22 base64url characters (132 bits of the MAC).
    public func pseudonym(_ value: String, kind: String) -> String {
        // kind, U+001F, the normalised value: built as bytes (joining Strings first was a
        // twentieth of the pseudonym's cost).
        var message: [UInt8] = []
        message.reserveCapacity(kind.utf8.count + 1 + value.utf8.count)
        message += kind.utf8
        message.append(0x1F)
        Self.appendNormalised(value, to: &message)
        var hmac = keyed.hmac
        hmac.update(data: message)
        return hmac.finalize().withUnsafeBytes { Self.base64URLPrefix($0, characters: 22, prefix: "ps_") }
    }

    static let base64URL = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The first `characters` base64url characters of `bytes` (no padding), after `prefix`.
    static func base64URLPrefix(_ bytes: UnsafeRawBufferPointer, characters: Int, prefix: String) -> String {
        var out = Array(prefix.utf8)
        let end = out.count + characters
        out.reserveCapacity(end)
        var i = 0
        while out.count < end {
            let b0 = UInt32(bytes[i]), b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0, b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            for k in 0..<4 where out.count < end { out.append(base64URL[Int(group >> UInt32(18 - 6 * k) & 63)]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Folds case, accents and width and collapses whitespace to single spaces: by definition
    /// `folding([.caseInsensitive, .diacriticInsensitive, .widthInsensitive])`, then split on
    /// whitespace characters and joined by one space.
    public static func normalise(_ value: String) -> String {
        var bytes: [UInt8] = []
        appendNormalised(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func appendNormalised(_ value: String, to out: inout [UInt8]) {
        // ASCII (most values): folding is lower-casing, so skip Foundation's Unicode folding.
        if isASCII(value) { return appendCollapsingASCIISpaces(value, lowercasing: true, to: &out) }
        let folded = value.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil)
        // Folding usually leaves ASCII ("Zoë" → "zoe"): then a byte scan does what splitting
        // into grapheme clusters would, at a fraction of the cost.
        if isASCII(folded) { return appendCollapsingASCIISpaces(folded, lowercasing: false, to: &out) }
        out += folded.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ").utf8
    }

    private static func isASCII(_ s: String) -> Bool { s.utf8.allSatisfy { $0 < 0x80 } }

    /// ASCII whitespace (the White_Space characters below 0x80: tab to carriage return, space)
    /// trimmed and collapsed to single spaces.
    private static func appendCollapsingASCIISpaces(_ value: String, lowercasing: Bool, to out: inout [UInt8]) {
        let start = out.count
        var pendingSpace = false
        for b in value.utf8 {
            if b == 0x20 || (b >= 0x09 && b <= 0x0D) { pendingSpace = out.count > start; continue }
            if pendingSpace { out.append(0x20); pendingSpace = false }
            out.append(lowercasing && b >= 0x41 && b <= 0x5A ? b + 32 : b)
        }
    }

    /// Raw HMAC-SHA256, for checking the implementation against published test vectors.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }
}
