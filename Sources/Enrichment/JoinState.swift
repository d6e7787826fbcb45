import Codec
import WorkerRuntime

/// Everything the join keeps per parcel_id, stored as one value in the `parcels` store: binary
/// (format byte 1, varints), about half the size of the JSON it replaced and cheaper to read and
/// write on every parcel event; state written as JSON before (it begins with `{`) still decodes.
struct JoinState {
    /// A declaration that arrived before any parcel event within the window: its own bytes and
    /// where it came from, held until a parcel event arrives or the window closes.
    struct Pending {
        var provenance: Provenance
        var lodgedAt: Timestamp
        var record: [UInt8]
    }

    var observation: HubObservation?
    var declaration: DeclarationSummary?
    /// Event ids already emitted (upstream duplicates are dropped); most recent last, bounded.
    var seenEvents: [String] = []
    /// declaration_id → content hash of what was emitted (an amended declaration is new content).
    var seenDeclarations: [String: String] = [:]
    var pending: [Pending] = []
    /// Highest event time that touched this parcel: the state expires a window after it.
    var lastEventTime: Timestamp

    static let maxSeenEvents = 64

    init(lastEventTime: Timestamp) { self.lastEventTime = lastEventTime }

    static let binaryFormat: UInt8 = 1

    func encode() -> [UInt8] {
        var w = BinaryStateWriter()
        w.bytes.reserveCapacity(encodedSize)
        w.bytes.append(Self.binaryFormat)
        w.varint((observation != nil ? 1 : 0) | (declaration != nil ? 2 : 0))
        func optional(_ s: String?) {
            w.bool(s != nil)
            if let s { w.shortString(s) }
        }
        if let o = observation {
            w.signedVarint(o.weightGrams); optional(o.originAirport); optional(o.originCountry)
            w.shortString(o.merchantID); w.shortString(o.parcelEventID); w.signedVarint(o.observedAt.millis)
        }
        if let d = declaration {
            w.shortString(d.declarationID); w.signedVarint(d.lodgedAt.millis); w.shortString(d.regime)
            w.bool(d.totalIntrinsicValueEUR != nil)
            if let v = d.totalIntrinsicValueEUR { w.signedVarint(v.micros) }
            w.varint(d.overLowValueThreshold.map { $0 ? 2 : 1 } ?? 0)  // unknown, false, true
        }
        w.varint(UInt64(seenEvents.count)); for e in seenEvents { w.shortString(e) }
        w.varint(UInt64(seenDeclarations.count))
        for (id, hash) in seenDeclarations.sorted(by: { $0.key < $1.key }) { w.shortString(id); w.shortString(hash) }
        w.varint(UInt64(pending.count))
        for p in pending {
            w.shortString(p.provenance.topic); w.signedVarint(Int64(p.provenance.partition)); w.signedVarint(p.provenance.offset)
            w.signedVarint(p.lodgedAt.millis); w.blob(p.record)
        }
        w.signedVarint(lastEventTime.millis)
        return w.bytes
    }

    /// What `encode` writes, exactly: the store keeps each value by the hundred thousand.
    var encodedSize: Int {
        typealias W = BinaryStateWriter
        func optional(_ s: String?) -> Int { 1 + (s.map(W.shortStringSize) ?? 0) }
        var n = 2 + W.signedVarintSize(lastEventTime.millis)
        if let o = observation {
            n += W.signedVarintSize(o.weightGrams) + optional(o.originAirport) + optional(o.originCountry) + W.shortStringSize(o.merchantID)
                + W.shortStringSize(o.parcelEventID) + W.signedVarintSize(o.observedAt.millis)
        }
        if let d = declaration {
            n += W.shortStringSize(d.declarationID) + W.signedVarintSize(d.lodgedAt.millis) + W.shortStringSize(d.regime) + 2
                + (d.totalIntrinsicValueEUR.map { W.signedVarintSize($0.micros) } ?? 0)
        }
        n += W.varintSize(UInt64(seenEvents.count)) + seenEvents.reduce(0) { $0 + W.shortStringSize($1) }
        n += W.varintSize(UInt64(seenDeclarations.count)) + seenDeclarations.reduce(0) { $0 + W.shortStringSize($1.key) + W.shortStringSize($1.value) }
        n += W.varintSize(UInt64(pending.count))
        for p in pending {
            n += W.shortStringSize(p.provenance.topic) + W.signedVarintSize(Int64(p.provenance.partition)) + W.signedVarintSize(p.provenance.offset)
                + W.signedVarintSize(p.lodgedAt.millis) + W.varintSize(UInt64(p.record.count)) + p.record.count
        }
        return n
    }

    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> JoinState {
        switch bytes.first {
        case binaryFormat: return try decodeBinary(bytes)
        case UInt8(ascii: "{"): return try decodeJSON(bytes)
        default: throw DecodeError("join state: unknown format \(bytes.first.map { String($0) } ?? "(empty)")")
        }
    }

    static func decodeBinary(_ bytes: [UInt8]) throws(DecodeError) -> JoinState {
        var r = BinaryStateReader(bytes)
        do {
            _ = try r.bool()  // the format byte
            let present = try r.varint()
            var state = JoinState(lastEventTime: Timestamp(millis: 0))
            func optional() throws -> String? { try r.bool() ? try r.shortString() : nil }
            if present & 1 != 0 {
                state.observation = HubObservation(weightGrams: try r.signedVarint(), originAirport: try optional(), originCountry: try optional(),
                                                   merchantID: try r.shortString(), parcelEventID: try r.shortString(),
                                                   observedAt: Timestamp(millis: try r.signedVarint()))
            }
            if present & 2 != 0 {
                let id = try r.shortString(), lodged = Timestamp(millis: try r.signedVarint()), regime = try r.shortString()
                let total = try r.bool() ? Amount(micros: try r.signedVarint()) : nil
                let over: Bool? = switch try r.varint() { case 0: nil; case 1: false; default: true }
                state.declaration = DeclarationSummary(declarationID: id, lodgedAt: lodged, regime: regime, totalIntrinsicValueEUR: total,
                                                       overLowValueThreshold: over)
            }
            for _ in 0..<(try r.varint()) { state.seenEvents.append(try r.shortString()) }
            for _ in 0..<(try r.varint()) { let id = try r.shortString(); state.seenDeclarations[id] = try r.shortString() }
            for _ in 0..<(try r.varint()) {
                let source = Provenance(topic: try r.shortString(), partition: Int32(clamping: try r.signedVarint()), offset: try r.signedVarint())
                state.pending.append(Pending(provenance: source, lodgedAt: Timestamp(millis: try r.signedVarint()), record: try r.blob()))
            }
            state.lastEventTime = Timestamp(millis: try r.signedVarint())
            guard r.isAtEnd else { throw BinaryStateReader.Corrupt() }
            return state
        } catch {
            throw DecodeError("join state: \(error)")
        }
    }

    /// State written before the binary format (session 14).
    static func decodeJSON(_ bytes: [UInt8]) throws(DecodeError) -> JoinState {
        var state = JoinState(lastEventTime: Timestamp(millis: 0))
        let result: Result<Void, DecodeError> = bytes.withUnsafeBytes { raw in
            var r = JSONReader(raw)
            do {
                try r.readObject { r, key throws(DecodeError) in
                    if key == "obs" { state.observation = try HubObservation.decode(from: &r) }
                    else if key == "decl" { state.declaration = try DeclarationSummary.decode(from: &r) }
                    else if key == "events" { try r.readArray { r, _ throws(DecodeError) in state.seenEvents.append(try r.readString()) } }
                    else if key == "decls" { try r.readObject { r, k throws(DecodeError) in state.seenDeclarations[k.string] = try r.readString() } }
                    else if key == "pending" {
                        try r.readArray { r, _ throws(DecodeError) in
                            var source: Provenance?, lodged: Timestamp?, record: [UInt8]?
                            try r.readObject { r, k throws(DecodeError) in
                                if k == "source" { source = try Provenance.decode(from: &r) }
                                else if k == "lodged_at" { lodged = try r.readTimestamp() }
                                else if k == "record" {
                                    let range = try r.rawValueRange()
                                    record = Array(raw[range])
                                } else { try r.skipValue() }
                            }
                            state.pending.append(Pending(provenance: try required(source, "source"), lodgedAt: try required(lodged, "lodged_at"),
                                                         record: try required(record, "record")))
                        }
                    }
                    else if key == "last" { state.lastEventTime = Timestamp(millis: try r.readInt()) }
                    else { try r.skipValue() }
                }
                return .success(())
            } catch let error as DecodeError {
                return .failure(error)
            } catch {
                return .failure(DecodeError("\(error)"))
            }
        }
        try result.get()
        return state
    }

    /// The event time at which the sweep has something to do: the first pending declaration's
    /// window closes, or, with none pending, the state expires (it is kept while any is pending).
    func nextDeadline(windowMs: Int64) -> Int64 {
        (pending.map(\.lodgedAt.millis).min() ?? lastEventTime.millis) + windowMs
    }

    mutating func noteEvent(_ id: String) {
        seenEvents.append(id)
        if seenEvents.count > Self.maxSeenEvents { seenEvents.removeFirst(seenEvents.count - Self.maxSeenEvents) }
    }
}

/// A stable 64-bit FNV-1a hash of bytes, as hex (dedup of declaration content).
func contentHash(_ bytes: UnsafeRawBufferPointer) -> String {
    var h: UInt64 = 0xcbf29ce484222325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
    return String(h, radix: 16)
}
