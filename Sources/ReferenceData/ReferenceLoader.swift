import Codec
import Foundation
import Synchronization

public struct ReferenceDataError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

public enum ReferenceLoader {
    static let files = ["hs-chapters.csv", "hs-headings.csv", "hs-strategic.csv", "countries.csv", "airports.csv", "fx-rates.csv"]

    /// Finds `reference/`: the given directory, else next to the executable's package root or the
    /// current directory, else `/opt/cargowatch/reference` (the container image).
    public static func locate(_ configured: String?) -> String? {
        var candidates: [String] = []
        if let configured, !configured.isEmpty { candidates.append(configured) }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        var dir = exe
        for _ in 0..<5 {
            candidates.append(dir.appendingPathComponent("reference").path)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/reference")
        candidates.append("/opt/cargowatch/reference")
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/countries.csv") }
    }

    /// Latest modification time of the reference files (nil entries for missing files).
    public static func modificationStamp(_ directory: String) -> [Date?] {
        files.map { (try? FileManager.default.attributesOfItem(atPath: directory + "/" + $0))?[.modificationDate] as? Date }
    }

    public static func load(directory: String) throws -> ReferenceSnapshot {
        func read(_ name: String, _ columns: [String]) throws -> [[String: String]] {
            let path = directory + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ReferenceDataError(message: "reference data: cannot read \(path)")
            }
            return try CSV.parse(text, file: path, columns: columns)
        }
        let chapters = try read("hs-chapters.csv", ["chapter", "name"])
        let headings = try read("hs-headings.csv", ["heading", "name"])
        let strategic = try read("hs-strategic.csv", ["prefix", "category", "basis", "confidence"])
        let countries = try read("countries.csv", ["code", "name", "region", "iso_numeric", "ioss_code"])
        let airports = try read("airports.csv", ["iata", "name", "city", "country"])
        let fx = try read("fx-rates.csv", ["date", "currency", "eur_per_unit"])

        var series: [String: [(date: String, eurPerUnit: Amount)]] = [:]
        for (i, r) in fx.enumerated() {
            guard let rate = Amount(r["eur_per_unit"]!), rate > .zero else {
                throw ReferenceDataError(message: "\(directory)/fx-rates.csv:\(i + 2): bad rate \(r["eur_per_unit"]!)")
            }
            series[r["currency"]!, default: []].append((r["date"]!, rate))
        }
        for k in series.keys { series[k]!.sort { $0.date < $1.date } }
        // Customs-month source dates are the penultimate Wednesdays the README's table lists;
        // recognising them by weekday keeps the rule in code, not in a second table.
        let dates = Set(fx.map { $0["date"]! })

        var digest: UInt64 = 1469598103934665603  // FNV-1a over the files: the snapshot's version
        for name in files {
            if let data = FileManager.default.contents(atPath: directory + "/" + name) {
                for b in data { digest = (digest ^ UInt64(b)) &* 1099511628211 }
            }
        }
        return ReferenceSnapshot(
            version: String(digest, radix: 16),
            hsChapters: Dictionary(chapters.map { ($0["chapter"]!, $0["name"]!) }, uniquingKeysWith: { a, _ in a }),
            hsHeadings: Dictionary(headings.map { ($0["heading"]!, $0["name"]!) }, uniquingKeysWith: { a, _ in a }),
            strategic: strategic.map { .init(prefix: $0["prefix"]!, category: $0["category"]!, basis: $0["basis"]!, confidence: $0["confidence"]!) },
            countries: Dictionary(countries.map { ($0["code"]!, ReferenceSnapshot.Country(code: $0["code"]!, name: $0["name"]!, region: $0["region"]!,
                                                                                        isoNumeric: $0["iso_numeric"]!, iossCode: $0["ioss_code"]!.isEmpty ? nil : $0["ioss_code"]!)) },
                                  uniquingKeysWith: { a, _ in a }),
            airports: Dictionary(airports.map { ($0["iata"]!, ReferenceSnapshot.Airport(iata: $0["iata"]!, name: $0["name"]!, city: $0["city"]!, country: $0["country"]!)) },
                                 uniquingKeysWith: { a, _ in a }),
            fx: series, customsMonthDates: dates)
    }
}

/// Holds the current snapshot; `reload()` swaps in a new one (on SIGHUP, or when the files
/// change) without a restart. A failed reload keeps the old snapshot.
public final class ReferenceStore: Sendable {
    private let current: Mutex<ReferenceSnapshot>
    public let directory: String

    public init(directory: String) throws {
        self.directory = directory
        current = Mutex(try ReferenceLoader.load(directory: directory))
    }

    public var snapshot: ReferenceSnapshot { current.withLock { $0 } }

    @discardableResult
    public func reload() throws -> ReferenceSnapshot {
        let fresh = try ReferenceLoader.load(directory: directory)
        current.withLock { $0 = fresh }
        return fresh
    }
}
