import Foundation
import Codec
import WorkerRuntime

/// One signal that fired for a declaration.
struct Finding: Equatable {
    var code: RiskCode
    /// How far past the signal's threshold the evidence is, in (0, 1].
    var strength: Double
    /// Duty and VAT the declaration would evade if the finding is right (policy `tax`), EUR.
    var taxAtRiskEUR: Double
    /// Officer-readable, with the figures; never personal data.
    var detail: String
}

/// What the scorer remembers of a scored declaration: enough to re-score it (a split discovered
/// later) and to learn from its inspection.
struct DeclarationMemo {
    var parcelID: String
    var sellerID: String
    var lodgedAt: Int64
    var destination: String
    var hsChapter: String
    var totalValueEUR: Double
    var source: Provenance
    var findings: [Finding]
    var inspected: Bool

    func encode() -> [UInt8] {
        var w = BinaryStateWriter()
        w.string(parcelID); w.string(sellerID); w.int(lodgedAt); w.string(destination); w.string(hsChapter); w.double(totalValueEUR)
        w.string(source.topic); w.int(Int64(source.partition)); w.int(source.offset)
        w.bool(inspected)
        w.int(Int64(findings.count))
        for f in findings { w.string(f.code.rawValue); w.double(f.strength); w.double(f.taxAtRiskEUR); w.string(f.detail) }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> DeclarationMemo {
        var r = BinaryStateReader(bytes)
        let parcel = try r.string(), seller = try r.string(), lodged = try r.int(), destination = try r.string(), chapter = try r.string()
        let total = try r.double()
        let source = Provenance(topic: try r.string(), partition: Int32(clamping: try r.int()), offset: try r.int())
        let inspected = try r.bool()
        var findings: [Finding] = []
        for _ in 0..<max(0, try r.int()) {
            guard let code = RiskCode(rawValue: try r.string()) else { throw BinaryStateReader.Corrupt() }
            findings.append(Finding(code: code, strength: try r.double(), taxAtRiskEUR: try r.double(), detail: try r.string()))
        }
        return DeclarationMemo(parcelID: parcel, sellerID: seller, lodgedAt: lodged, destination: destination, hsChapter: chapter,
                              totalValueEUR: total, source: source, findings: findings, inspected: inspected)
    }
}

/// Per seller: its inspection history.
struct SellerState {
    var inspections: Int64 = 0
    var frauds: Int64 = 0

    func encode() -> [UInt8] {
        var w = BinaryStateWriter()
        w.int(inspections); w.int(frauds)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> SellerState {
        var r = BinaryStateReader(bytes)
        return SellerState(inspections: try r.int(), frauds: try r.int())
    }
}

/// Per seller and consignee (keyed pseudonym): their declarations within the split window.
/// Kept per pair, not per seller: a busy seller has thousands of declarations in the window,
/// and re-encoding them all for every declaration was a third of the scorer's time (profile).
struct RecentDeclarations {
    struct Entry {
        var lodgedAt: Int64
        var valueEUR: Double
        var declarationID: String
    }

    var entries: [Entry] = []

    static func key(seller: String, consignee: String) -> String { seller + "|" + consignee }

    func encode() -> [UInt8] {
        var w = BinaryStateWriter()
        w.int(Int64(entries.count))
        for e in entries { w.int(e.lodgedAt); w.double(e.valueEUR); w.string(e.declarationID) }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> RecentDeclarations {
        var r = BinaryStateReader(bytes)
        var s = RecentDeclarations()
        for _ in 0..<max(0, try r.int()) { s.entries.append(Entry(lodgedAt: try r.int(), valueEUR: try r.double(), declarationID: try r.string())) }
        return s
    }

    /// The newest lodging time, for expiry.
    var newest: Int64 { entries.map(\.lodgedAt).max() ?? .min }
}

/// Robust statistics of log10(EUR per kg) for one HS heading: a fixed histogram (0.05-decade bins
/// from 0.01 to 100,000 EUR/kg) from which median and MAD are read. Fixed size, order-free, and
/// exact to the bin width — unlike a running mean it is not dragged by the undervalued tail.
struct ValueHistogram {
    static let low = -2.0, width = 0.05, bins = 140
    var counts: [Float]

    init() { counts = Array(repeating: 0, count: Self.bins) }

    /// Seeded with `weight` observations of a normal distribution in log space.
    init(prior: FraudPolicy.Prior, weight: Double) {
        self.init()
        var mass: [Double] = []
        for i in 0..<Self.bins {
            let x = Self.center(i)
            let z = (x - prior.log10Median) / prior.spread
            mass.append(exp(-0.5 * z * z))
        }
        let total = mass.reduce(0, +)
        for i in 0..<Self.bins { counts[i] = Float(weight * mass[i] / total) }
    }

    static func center(_ i: Int) -> Double { low + (Double(i) + 0.5) * width }
    static func bin(_ x: Double) -> Int { min(bins - 1, max(0, Int(((x - low) / width).rounded(.down)))) }

    var total: Double { counts.reduce(0) { $0 + Double($1) } }

    mutating func add(_ log10Value: Double) { counts[Self.bin(log10Value)] += 1 }

    /// Median and median absolute deviation, in decades. Called for every line of every
    /// declaration: no allocation. The deviations from a bin centre grow outwards on both sides,
    /// so merging the two sides visits them in sorted order, as sorting all of them would.
    func medianAndMAD() -> (median: Double, mad: Double)? {
        let n = total
        guard n > 0 else { return nil }
        let half = n / 2
        var acc = 0.0, m = Self.bins - 1
        for i in 0..<Self.bins {
            acc += Double(counts[i])
            if acc >= half { m = i; break }
        }
        let median = Self.center(m)
        var left = m, right = m + 1, mad = 0.0
        acc = 0
        while left >= 0 || right < Self.bins {
            let dl = left >= 0 ? abs(Self.center(left) - median) : .infinity
            let dr = right < Self.bins ? abs(Self.center(right) - median) : .infinity
            let i: Int
            if dl <= dr { i = left; left -= 1; mad = dl } else { i = right; right += 1; mad = dr }
            acc += Double(counts[i])
            if acc >= half { return (median, mad) }
        }
        return (median, mad)
    }

    // Stored as little-endian Float32 bit patterns, 4 bytes per bin.
    func encode() -> [UInt8] {
        #if _endian(little)
        return counts.withUnsafeBytes { Array($0) }
        #else
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.bins * 4)
        for c in counts { withUnsafeBytes(of: c.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
        #endif
    }

    static func decode(_ bytes: [UInt8]) throws -> ValueHistogram {
        guard bytes.count == bins * 4 else { throw BinaryStateReader.Corrupt() }
        var h = ValueHistogram()
        #if _endian(little)
        bytes.withUnsafeBytes { source in h.counts.withUnsafeMutableBytes { $0.copyMemory(from: source) } }
        #else
        for i in 0..<bins {
            let b = UInt32(bytes[4 * i]) | UInt32(bytes[4 * i + 1]) << 8 | UInt32(bytes[4 * i + 2]) << 16 | UInt32(bytes[4 * i + 3]) << 24
            h.counts[i] = Float(bitPattern: b)
        }
        #endif
        return h
    }
}

/// Inspection outcomes of declarations on which a signal fired: the signal's observed precision.
struct SignalRecord {
    var inspected: Double = 0
    var frauds: Double = 0

    func encode() -> [UInt8] {
        var w = BinaryStateWriter()
        w.double(inspected); w.double(frauds)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> SignalRecord {
        var r = BinaryStateReader(bytes)
        return SignalRecord(inspected: try r.double(), frauds: try r.double())
    }
}

/// Per signal: how far its tax-at-risk estimate was from what inspections found, for frauds whose
/// officer corrected the value (log of realised over estimated, summed). Kept in `learning`.
struct StakeRecord {
    var count: Double = 0
    var sumLogRatio: Double = 0

    /// Geometric mean of realised / estimated, shrunk towards 1 by `priorStrength` pseudo-inspections.
    func multiplier(priorStrength: Double) -> Double { exp(sumLogRatio / (count + priorStrength)) }

    func encode() -> [UInt8] {
        var w = BinaryStateWriter()
        w.double(count); w.double(sumLogRatio)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> StakeRecord {
        var r = BinaryStateReader(bytes)
        return StakeRecord(count: try r.double(), sumLogRatio: try r.double())
    }
}
