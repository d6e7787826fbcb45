import Codec

/// Everything the join keeps per parcel_id, stored as one JSON value in the `parcels` store.
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

    func encode() -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        if let observation { w.key("obs"); observation.encode(to: &w) }
        if let declaration { w.key("decl"); declaration.encode(to: &w) }
        w.key("events"); w.beginArray(); for e in seenEvents { w.string(e) }; w.endArray()
        w.key("decls"); w.beginObject()
        for (id, hash) in seenDeclarations.sorted(by: { $0.key < $1.key }) { w.key(id); w.string(hash) }
        w.endObject()
        w.key("pending"); w.beginArray()
        for p in pending {
            w.beginObject()
            w.key("source"); p.provenance.encode(to: &w)
            w.key("lodged_at"); w.timestamp(p.lodgedAt)
            w.key("record"); w.raw(p.record)
            w.endObject()
        }
        w.endArray()
        w.key("last"); w.int(lastEventTime.millis)
        w.endObject()
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> JoinState {
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
