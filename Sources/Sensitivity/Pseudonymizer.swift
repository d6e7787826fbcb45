import Crypto
import Foundation

/// Keyed pseudonyms (HMAC-SHA256, GDPR Art. 4(5) / EDPB 01/2025): the same person gets the same
/// pseudonym in every topic, so joins and split-consignment checks still work, while whoever
/// reads the pseudonyms cannot reverse them without the key. Values are normalised first
/// (case, accents, spacing) so that "MARIE  DUPONT" and "Marie Dupont" agree; the field kind is
/// part of the message, so a name and a street never share a pseudonym.
public struct Pseudonymizer: Sendable {
    public let keyID: String
    /// Kept as bytes: Crypto's SymmetricKey is not Sendable.
    private let key: [UInt8]

    public init(key: [UInt8], keyID: String) {
        self.key = key
        self.keyID = keyID
    }

    /// `ps_` + 22 base64url characters (132 bits of the MAC).
    public func pseudonym(_ value: String, kind: String) -> String {
        let message = Array((kind + "\u{1F}" + Self.normalise(value)).utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
        let b64 = Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return "ps_" + b64.prefix(22)
    }

    public static func normalise(_ value: String) -> String {
        value.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil)
            .split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// Raw HMAC-SHA256, for checking the implementation against published test vectors.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }
}
