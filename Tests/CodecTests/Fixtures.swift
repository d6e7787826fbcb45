import Foundation

/// The hub's example records (copied from shared/contracts) and helpers to edit them.
enum Fixtures {
    static func bytes(_ name: String) -> [UInt8] {
        let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures")!
        return Array(try! Data(contentsOf: url)).filter { $0 != 0x0A }
    }

    static var parcel: [UInt8] { bytes("parcel.event") }
    static var declaration: [UInt8] { bytes("customs.declaration") }
    static var access: [UInt8] { bytes("access.log") }

    /// The fixture as text with one substring replaced (must occur).
    static func edited(_ bytes: [UInt8], _ replacements: [(String, String)]) -> [UInt8] {
        var text = String(decoding: bytes, as: UTF8.self)
        for (old, new) in replacements {
            precondition(text.contains(old), "fixture has no \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        return Array(text.utf8)
    }
}
