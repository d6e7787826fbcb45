import Codec
import WorkerRuntime

/// Deterministic 64-bit FNV-1a, hex: stable ids (alert ids) across processes and restarts.
func stableID(_ text: String) -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in text.utf8 {
        h ^= UInt64(b)
        h &*= 0x0000_0100_0000_01B3
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

func writeWindow(_ w: Window, to out: inout JSONWriter) {
    out.beginObject()
    out.key("start"); out.timestamp(w.start)
    out.key("end"); out.timestamp(w.end)
    out.endObject()
}

/// Task `parcels`: one fact per parcel, at its first ARRIVED event, re-keyed by its trade-flow
/// group (origin|destination|chapter) so that one partition holds each group's windows.
/// The `arrived` store remembers which parcels were counted (duplicates and later lifecycle
/// events are not), for `retention` of event time.
final class ParcelFlowRouter: StreamHandler {
    static let store = "arrived"
    let output: String
    var pruner: DedupPruner

    init(output: String, retention: Duration) {
        self.output = output
        pruner = DedupPruner(retention: retention)
    }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        let value = try record.requireValue()
        var parcelID: String?, type: String?, at: Timestamp?, grams: Int64?
        var origin: String?, destination: String?, valueEUR: Int64?, firstHS: String?
        try JSONReader.readRecord(value, schema: ParcelEvent.schema) { r, key throws(DecodeError) in
            if key == "parcel_id" { parcelID = try r.readNonEmptyString() }
            else if key == "event_type" { type = try r.readString() }
            else if key == "occurred_at" { at = try r.readTimestamp() }
            else if key == "weight_grams" { grams = try r.readCount() }
            else if key == "items" {
                try r.readArray { r, i throws(DecodeError) in
                    try r.readObject { r, key throws(DecodeError) in
                        if i == 0 && key == "hs_code" { firstHS = try r.readOptionalString() } else { try r.skipValue() }
                    }
                }
            } else if key == "enrichment" {
                if r.readNull() { return }
                try r.readObject { r, key throws(DecodeError) in
                    if key == "origin_country" { origin = try r.readOptionalString() }
                    else if key == "destination_country" { destination = try r.readOptionalString() }
                    else if key == "declared_value_eur" { valueEUR = r.readNull() ? nil : try r.readMicros() }
                    else { try r.skipValue() }
                }
            } else { try r.skipValue() }
        }
        let id = try required(parcelID, "parcel_id"), time = try required(at, "occurred_at")
        context.observe(eventTime: time)
        guard try required(type, "event_type") == "ARRIVED" else { return }
        let arrived = context.store(Self.store)
        guard arrived.get(id) == nil else { context.count("parcel_counted_already"); return }
        arrived.put(id, Array(String(time.millis).utf8))
        let dest = try required(destination, "enrichment.destination_country")
        let chapter = firstHS.flatMap { $0.utf8.count >= 2 ? String($0.prefix(2)) : nil }
        let group = [origin ?? "", dest, chapter ?? ""].joined(separator: "|")
        let mass = try required(grams, "weight_grams")
        context.emit(topic: output, key: group) { w in
            w.beginObject()
            w.key("parcel_id"); w.string(id)
            w.key("arrived_at"); w.timestamp(time)
            w.key("origin_country"); w.string(origin)
            w.key("destination_country"); w.string(dest)
            w.key("hs_chapter"); w.string(chapter)
            w.key("weight_grams"); w.int(mass)
            w.key("declared_value_eur"); w.micros(valueEUR ?? 0)
            w.endObject()
        }
    }

    func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws {
        pruner.prune(context.store(Self.store), partition: partition, at: time) { Int64(String(decoding: $0, as: UTF8.self)) }
    }
}

/// Forgets the entries of a dedup store older than the retention (event time), at most once per
/// hour of stream time per partition (the scan reads every entry).
struct DedupPruner {
    let retentionMs: Int64
    private var lastPrune: [Int32: Int64] = [:]

    init(retention: Duration) { retentionMs = retention.wholeMilliseconds }

    /// `timeOf`: the event time an entry was remembered at (nil: kept).
    mutating func prune(_ store: KeyValueStore, partition: Int32, at time: Timestamp, timeOf: ([UInt8]) -> Int64?) {
        guard time.millis - (lastPrune[partition] ?? 0) >= 3_600_000 else { return }
        lastPrune[partition] = time.millis
        var old: [String] = []
        store.forEach { k, v in if let t = timeOf(v), time.millis - t > retentionMs { old.append(k) } }
        for k in old { store.delete(k) }
    }
}

/// Task `flows`: exact trade-flow totals per window and group, final results only.
final class TradeFlowAggregator: StreamHandler {
    let windows: WindowedStore
    let output: String

    init(spec: WindowSpec, output: String) {
        windows = WindowedStore(store: "flows", spec: spec)
        self.output = output
    }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        var at: Timestamp?, origin: String?, dest: String?, chapter: String?, grams: Int64 = 0, micros: Int64 = 0
        try JSONReader.readRecord(try record.requireValue(), schema: nil) { r, key throws(DecodeError) in
            if key == "arrived_at" { at = try r.readTimestamp() }
            else if key == "origin_country" { origin = try r.readOptionalString() }
            else if key == "destination_country" { dest = try r.readString() }
            else if key == "hs_chapter" { chapter = try r.readOptionalString() }
            else if key == "weight_grams" { grams = try r.readCount() }
            else if key == "declared_value_eur" { micros = try r.readMicros() }
            else { try r.skipValue() }
        }
        let t = try required(at, "arrived_at")
        context.observe(eventTime: t)
        let group = [origin ?? "", try required(dest, "destination_country"), chapter ?? ""].joined(separator: "|")
        let added = windows.add(context, group: group, at: t) { _, value in
            var parcels: Int64 = 0, g: Int64 = 0, m: Int64 = 0
            if let value {
                var rr = BinaryStateReader(value)
                parcels = (try? rr.int()) ?? 0; g = (try? rr.int()) ?? 0; m = (try? rr.int()) ?? 0
            }
            var w = BinaryStateWriter()
            w.int(parcels + 1); w.int(g + grams); w.int(m + micros)
            value = w.bytes
        }
        if !added { context.markLate("its trade-flow window closed (arrived \(t), stream time \(context.streamTime.map { "\($0)" } ?? "-"))") }
    }

    func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws {
        windows.emitFinal(context, streamTime: time) { window, group, value in
            let parts = group.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            var r = BinaryStateReader(value)
            let parcels = (try? r.int()) ?? 0, grams = (try? r.int()) ?? 0, micros = (try? r.int()) ?? 0
            context.emit(topic: output, key: "\(window.start)|\(group)") { w in
                w.beginObject()
                w.key("schema"); w.string("agg.trade-flow/1")
                w.key("window"); writeWindow(window, to: &w)
                w.key("origin_country"); if parts[0].isEmpty { w.null() } else { w.string(parts[0]) }
                w.key("destination_country"); w.string(parts[1])
                w.key("hs_chapter"); if parts[2].isEmpty { w.null() } else { w.string(parts[2]) }
                w.key("parcels"); w.int(parcels)
                w.key("gross_mass_kg"); w.micros(grams * 1000)
                w.key("declared_value_eur"); w.micros(micros)
                w.endObject()
            }
        }
    }
}

/// Task `risk-facts`: turns scores (a declaration may be re-scored) into deltas keyed by
/// destination|chapter, so that each declaration counts once with its latest score. The
/// `scored` store remembers each declaration's last score for `retention` of event time.
final class RiskFactRouter: StreamHandler {
    static let store = "scored"
    let output: String
    var pruner: DedupPruner

    init(output: String, retention: Duration) {
        self.output = output
        pruner = DedupPruner(retention: retention)
    }

    func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws {
        pruner.prune(context.store(Self.store), partition: partition, at: time) { bytes in
            var r = BinaryStateReader(bytes)
            guard (try? r.double()) != nil, (try? r.string()) != nil else { return nil }
            return try? r.int()
        }
    }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        var id: String?, score: Double?, band: String?, lodged: Timestamp?, dest: String?, chapter: String?, value: Int64?
        try JSONReader.readRecord(try record.requireValue(), schema: .customsRisk) { r, key throws(DecodeError) in
            if key == "declaration_id" { id = try r.readNonEmptyString() }
            else if key == "score" { score = try r.readProbability() }
            else if key == "band" { band = try r.readString() }
            else if key == "lodged_at" { lodged = try r.readTimestamp() }
            else if key == "scored_at" { _ = try r.readTimestamp() }
            else if key == "destination_country" { dest = try r.readString() }
            else if key == "hs_chapter" { chapter = try r.readOptionalString() }
            else if key == "total_intrinsic_value_eur" { value = r.readNull() ? nil : try r.readMicros() }
            else { try r.skipValue() }
        }
        let declaration = try required(id, "declaration_id"), s = try required(score, "score"), b = try required(band, "band")
        guard ["low", "medium", "high"].contains(b) else { throw DecodeError("expected low, medium or high, got \"\(b.prefix(20))\"", path: [.key("band")]) }
        let t = try required(lodged, "lodged_at"), d = try required(dest, "destination_country")
        context.observe(eventTime: t)
        let store = context.store(Self.store)
        var count: Int64 = 1, high: Int64 = b == "high" ? 1 : 0, medium: Int64 = b == "medium" ? 1 : 0
        var scoreDelta = s, valueDelta = value ?? 0
        if let previous = store.get(declaration) {
            var p = BinaryStateReader(previous)
            let oldScore = try p.double(), oldBand = try p.string()
            if oldScore == s && oldBand == b { return }  // a duplicate: nothing changed
            count = 0; valueDelta = 0; scoreDelta = s - oldScore
            high -= oldBand == "high" ? 1 : 0
            medium -= oldBand == "medium" ? 1 : 0
        }
        var state = BinaryStateWriter()
        state.double(s); state.string(b); state.int(t.millis)
        store.put(declaration, state.bytes)
        context.emit(topic: output, key: "\(d)|\(chapter ?? "")") { w in
            w.beginObject()
            w.key("declaration_id"); w.string(declaration)
            w.key("lodged_at"); w.timestamp(t)
            w.key("destination_country"); w.string(d)
            w.key("hs_chapter"); w.string(chapter)
            w.key("declarations"); w.int(count)
            w.key("high"); w.int(high)
            w.key("medium"); w.int(medium)
            w.key("intrinsic_value_eur"); w.micros(valueDelta)
            w.key("score"); w.double(scoreDelta)
            w.endObject()
        }
    }
}

/// Task `risk`: declarations, high/medium counts, intrinsic value and mean score per window
/// (by lodged_at) × destination × chapter of the first item; final results only.
final class CustomsRiskAggregator: StreamHandler {
    let windows: WindowedStore
    let output: String

    init(spec: WindowSpec, output: String) {
        windows = WindowedStore(store: "risk", spec: spec)
        self.output = output
    }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        var at: Timestamp?, dest: String?, chapter: String?, n: Int64 = 0, high: Int64 = 0, medium: Int64 = 0, value: Int64 = 0, score = 0.0
        // Deltas (RiskFactRouter): a declaration counts once (0 or 1), a band moves by -1, 0 or 1.
        try JSONReader.readRecord(try record.requireValue(), schema: nil) { r, key throws(DecodeError) in
            if key == "lodged_at" { at = try r.readTimestamp() }
            else if key == "destination_country" { dest = try r.readString() }
            else if key == "hs_chapter" { chapter = try r.readOptionalString() }
            else if key == "declarations" { n = try r.readInt(in: 0...1) }
            else if key == "high" { high = try r.readInt(in: -1...1) }
            else if key == "medium" { medium = try r.readInt(in: -1...1) }
            else if key == "intrinsic_value_eur" { value = try r.readMicros() }
            else if key == "score" { score = try r.readDouble(); guard abs(score) <= 1 else { throw DecodeError("a score change must be within -1…1, got \(score)") } }
            else { try r.skipValue() }
        }
        let t = try required(at, "lodged_at")
        context.observe(eventTime: t)
        let added = windows.add(context, group: "\(try required(dest, "destination_country"))|\(chapter ?? "")", at: t) { _, stored in
            var a = (n: Int64(0), h: Int64(0), m: Int64(0), v: Int64(0), s: 0.0)
            if let stored {
                var rr = BinaryStateReader(stored)
                a = ((try? rr.int()) ?? 0, (try? rr.int()) ?? 0, (try? rr.int()) ?? 0, (try? rr.int()) ?? 0, (try? rr.double()) ?? 0)
            }
            var w = BinaryStateWriter()
            w.int(a.n + n); w.int(a.h + high); w.int(a.m + medium); w.int(a.v + value); w.double(a.s + score)
            stored = w.bytes
        }
        if !added { context.markLate("its customs-risk window closed (lodged \(t))") }
    }

    func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws {
        windows.emitFinal(context, streamTime: time) { window, group, value in
            let parts = group.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            var r = BinaryStateReader(value)
            let n = (try? r.int()) ?? 0, high = (try? r.int()) ?? 0, medium = (try? r.int()) ?? 0, micros = (try? r.int()) ?? 0, sum = (try? r.double()) ?? 0
            guard n > 0 else { return }
            context.emit(topic: output, key: "\(window.start)|\(group)") { w in
                w.beginObject()
                w.key("schema"); w.string("agg.customs-risk/1")
                w.key("window"); writeWindow(window, to: &w)
                w.key("destination_country"); w.string(parts[0])
                w.key("hs_chapter"); if parts[1].isEmpty { w.null() } else { w.string(parts[1]) }
                w.key("declarations"); w.int(n)
                w.key("high"); w.int(high)
                w.key("medium"); w.int(medium)
                w.key("intrinsic_value_eur"); w.micros(micros)
                w.key("mean_score"); w.double((sum / Double(n) * 10_000).rounded() / 10_000)
                w.endObject()
            }
        }
    }
}
