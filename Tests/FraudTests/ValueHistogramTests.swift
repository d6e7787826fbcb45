@testable import Fraud
@testable import Generator
import Testing

@Suite("fraud-worker: value-per-kg histograms")
struct ValueHistogramTests {
    /// The straightforward definition: the weighted median of the bin centres, then the weighted
    /// median of every centre's distance from it, sorted.
    static func reference(_ h: ValueHistogram) -> (median: Double, mad: Double)? {
        let n = h.total
        guard n > 0 else { return nil }
        func quantile(_ weights: [(x: Double, w: Double)], _ q: Double) -> Double {
            var acc = 0.0
            for (x, w) in weights {
                acc += w
                if acc >= q { return x }
            }
            return weights.last?.x ?? 0
        }
        let median = quantile((0..<ValueHistogram.bins).map { (ValueHistogram.center($0), Double(h.counts[$0])) }, n / 2)
        let deviations = (0..<ValueHistogram.bins).map { (x: abs(ValueHistogram.center($0) - median), w: Double(h.counts[$0])) }.sorted { $0.x < $1.x }
        return (median, quantile(deviations, n / 2))
    }

    @Test("Median and MAD equal the sorted definition: empty, one bin, both edges, priors, sparse and dense random histograms")
    func medianAndMAD() {
        var cases: [ValueHistogram] = [ValueHistogram()]
        for bin in [0, 1, 69, ValueHistogram.bins - 1] {
            var h = ValueHistogram()
            h.counts[bin] = 3
            cases.append(h)
        }
        cases.append(ValueHistogram(prior: .init(log10Median: 1.2, spread: 0.3), weight: 20))
        cases.append(ValueHistogram(prior: .init(log10Median: -1.9, spread: 0.05), weight: 5))
        var rng = SeededRandom(seed: 7)
        for round in 0..<2000 {
            var h = round % 3 == 0 ? ValueHistogram(prior: .init(log10Median: rng.unit() * 6 - 2, spread: 0.05 + rng.unit()), weight: 10) : ValueHistogram()
            let observations = Int(rng.next() % 60)
            let centre = rng.unit() * 7 - 2, spread = rng.unit() * 1.5
            for _ in 0..<observations { h.add(centre + (rng.unit() - 0.5) * 2 * spread) }
            cases.append(h)
        }
        var mismatches = 0
        for h in cases {
            let got = h.medianAndMAD(), want = Self.reference(h)
            if got?.median != want?.median || got?.mad != want?.mad { mismatches += 1 }
        }
        #expect(mismatches == 0, "\(mismatches) of \(cases.count) histograms differ from the sorted definition")
        #expect(ValueHistogram().medianAndMAD() == nil)
    }

    @Test("The stored layout is little-endian Float32 per bin (changelogs written before keep decoding); a wrong length is corrupt")
    func storedLayout() throws {
        var h = ValueHistogram()
        h.counts[0] = 1
        h.counts[1] = 0.5
        h.counts[ValueHistogram.bins - 1] = 3
        let bytes = h.encode()
        #expect(bytes.count == ValueHistogram.bins * 4)
        #expect(Array(bytes[0..<8]) == [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x3F])
        #expect(Array(bytes.suffix(4)) == [0x00, 0x00, 0x40, 0x40])
        #expect(try ValueHistogram.decode(bytes).counts == h.counts)
        #expect(throws: (any Error).self) { try ValueHistogram.decode(Array(bytes.dropLast())) }
    }
}
