import Codec
import Foundation

/// The reference tables (HS nomenclature, strategic-goods prefixes, countries, airports, FX
/// rates), loaded once from `reference/` and swapped whole on reload: a value, so a handler
/// always sees one consistent version.
public struct ReferenceSnapshot: Sendable {
    public struct Country: Sendable, Hashable {
        public let code: String
        public let name: String
        /// `eu`, `eea` or `other`.
        public let region: String
        public let isoNumeric: String
        /// The 3-digit code in IOSS numbers (EU member states and `900` for Northern Ireland).
        public let iossCode: String?
    }

    public struct Airport: Sendable, Hashable {
        public let iata: String
        public let name: String
        public let city: String
        public let country: String
    }

    public struct StrategicFlag: Sendable, Hashable {
        public let prefix: String
        public let category: String
        public let basis: String
        /// `listed`, `heuristic` or `unverified`.
        public let confidence: String
    }

    public struct FXRate: Sendable, Hashable {
        /// EUR value of one unit of the currency.
        public let eurPerUnit: Amount
        /// The ECB publication date of the rate used.
        public let rateDate: String
        /// `identity` (EUR), `customs_monthly` (Art. 146 IA: penultimate Wednesday of the
        /// previous month), or `latest_available` (no customs rate for that month in the table:
        /// the latest rate on or before the date, else the earliest known).
        public let rule: String
    }

    public let version: String
    public let hsChapters: [String: String]
    public let hsHeadings: [String: String]
    public let strategic: [StrategicFlag]
    public let countries: [String: Country]
    public let airports: [String: Airport]
    /// currency → [(date, rate)] sorted by date.
    let fx: [String: [(date: String, eurPerUnit: Amount)]]
    /// Precomputed per snapshot, because every parcel and declaration asks (reference lookups
    /// were 11 % of the enricher's CPU, BENCHMARKS.md session 7): month (`YYYY-MM`) → its
    /// customs rate date, and currency → rate by date (the first, should a date repeat).
    let customsDateByMonth: [Substring: String]
    let fxByDate: [String: [String: Amount]]
    /// Strategic flags by prefix, and the prefix lengths, longest first: a few hash lookups per
    /// HS code instead of a scan of the list.
    let strategicByPrefix: [Substring: StrategicFlag]
    let strategicPrefixLengths: [Int]

    public static let empty = ReferenceSnapshot(version: "empty", hsChapters: [:], hsHeadings: [:], strategic: [], countries: [:],
                                                airports: [:], fx: [:], customsMonthDates: [])

    init(version: String, hsChapters: [String: String], hsHeadings: [String: String], strategic: [StrategicFlag],
         countries: [String: Country], airports: [String: Airport], fx: [String: [(date: String, eurPerUnit: Amount)]],
         customsMonthDates: Set<String>) {
        self.version = version
        self.hsChapters = hsChapters
        self.hsHeadings = hsHeadings
        self.strategic = strategic.sorted { $0.prefix.count > $1.prefix.count }  // longest prefix first
        self.countries = countries
        self.airports = airports
        self.fx = fx
        var byMonth: [Substring: String] = [:]
        for date in customsMonthDates {
            // The rate of the penultimate Wednesday of month M serves month M + 1.
            let parts = date.split(separator: "-")
            guard parts.count == 3, var year = Int(parts[0]), var month = Int(parts[1]),
                  Self.penultimateWednesday(year: year, month: month) == date else { continue }
            month += 1
            if month == 13 { month = 1; year += 1 }
            byMonth[Substring(String(format: "%04d-%02d", year, month))] = date
        }
        customsDateByMonth = byMonth
        strategicByPrefix = Dictionary(self.strategic.map { (Substring($0.prefix), $0) }, uniquingKeysWith: { first, _ in first })
        strategicPrefixLengths = Set(self.strategic.map(\.prefix.utf8.count)).sorted(by: >)
        fxByDate = fx.mapValues { Dictionary($0.map { ($0.date, $0.eurPerUnit) }, uniquingKeysWith: { first, _ in first }) }
    }

    public func country(_ code: String) -> Country? { countries[code] }
    public func airport(_ iata: String) -> Airport? { airports[iata] }
    public func chapterName(_ chapter: String) -> String? { hsChapters[chapter] }
    public func headingName(_ heading: String) -> String? { hsHeadings[heading] }

    /// The strategic-goods flag of an HS code (longest matching prefix), if any. A flag routes
    /// goods for review; it never classifies them as controlled.
    public func strategicFlag(hsCode: String) -> StrategicFlag? {
        let length = hsCode.utf8.count
        for n in strategicPrefixLengths where n <= length {
            if let flag = strategicByPrefix[hsCode.prefix(n)] { return flag }
        }
        return nil
    }

    /// `eu`, `eea`, `other`, or nil for an unknown country.
    public func region(of country: String) -> String? { countries[country]?.region }

    /// The rate for converting an amount in `currency` on `date` (`YYYY-MM-DD`) to EUR.
    public func fxRate(currency: String, date: String) -> FXRate? {
        if currency == "EUR" { return FXRate(eurPerUnit: Amount(units: 1), rateDate: date, rule: "identity") }
        guard let series = fx[currency], !series.isEmpty else { return nil }
        if let customs = customsRateDate(for: date), let rate = fxByDate[currency]?[customs] {
            return FXRate(eurPerUnit: rate, rateDate: customs, rule: "customs_monthly")
        }
        // The latest on or before the date (binary search: the series is sorted), else the earliest.
        var low = 0, high = series.count
        while low < high {
            let mid = (low + high) / 2
            if series[mid].date <= date { low = mid + 1 } else { high = mid }
        }
        let onOrBefore = series[max(low - 1, 0)]
        return FXRate(eurPerUnit: onOrBefore.eurPerUnit, rateDate: onOrBefore.date, rule: "latest_available")
    }

    /// Penultimate Wednesday of the month before `date`'s month, if the table has rates for it.
    func customsRateDate(for date: String) -> String? {
        customsDateByMonth[date.utf8.count >= 7 ? date.prefix(7) : Substring(date)]
    }

    /// `YYYY-MM-DD` of the penultimate Wednesday of a month.
    static func penultimateWednesday(year: Int, month: Int) -> String {
        // Day of week of the last day of that month (Zeller-free: via days since epoch; 1970-01-01 was a Thursday).
        let lastDay = Timestamp.daysIn(month: month, year: year)
        let days = Timestamp.daysFromCivil(year: year, month: month, day: lastDay)
        let weekday = ((days % 7) + 7 + 3) % 7  // 0 = Monday
        let lastWednesday = lastDay - ((weekday - 2 + 7) % 7)
        return String(format: "%04d-%02d-%02d", year, month, lastWednesday - 7)
    }
}
