import Codec

/// A window of event time, `[start, end)`.
public struct Window: Hashable, Sendable, Comparable {
    public let start: Timestamp
    public let end: Timestamp
    public init(start: Timestamp, end: Timestamp) {
        self.start = start
        self.end = end
    }
    public static func < (a: Window, b: Window) -> Bool { (a.start, a.end) < (b.start, b.end) }
}

/// Tumbling (advance == size) or hopping (advance < size) windows with a grace period, as in
/// Kafka Streams: a window is final once the partition's stream time reaches end + grace;
/// a record whose every window is final is late.
public struct WindowSpec: Sendable, Hashable {
    public let sizeMs: Int64
    public let advanceMs: Int64
    public let graceMs: Int64

    public init(size: Duration, advance: Duration? = nil, grace: Duration) {
        sizeMs = size.wholeMilliseconds
        advanceMs = (advance ?? size).wholeMilliseconds
        graceMs = grace.wholeMilliseconds
        precondition(sizeMs > 0 && advanceMs > 0 && advanceMs <= sizeMs, "window advance must be in (0, size]")
    }

    /// Every window that contains `t`, earliest first.
    public func windows(containing t: Timestamp) -> [Window] {
        let lastStart = t.millis.floorDiv(advanceMs) * advanceMs
        var result: [Window] = []
        var start = lastStart
        while start > t.millis - sizeMs {
            result.append(Window(start: Timestamp(millis: start), end: Timestamp(millis: start + sizeMs)))
            start -= advanceMs
        }
        return result.reversed()
    }

    public func isFinal(_ w: Window, streamTime: Timestamp?) -> Bool {
        guard let streamTime else { return false }
        return streamTime.millis >= w.end.millis + graceMs
    }
}

/// Windowed aggregates in a state store of the current partition, keyed by window and group.
/// The aggregate is opaque bytes (the handler encodes it). Final results only: `emitFinal`
/// hands each window once, when it is final, and deletes it.
public struct WindowedStore {
    public let storeName: String
    public let spec: WindowSpec

    public init(store: String, spec: WindowSpec) {
        storeName = store
        self.spec = spec
    }

    /// Store key: fixed-width start so that keys sort by window, then group.
    static func key(_ w: Window, _ group: String) -> String {
        let start = String(w.start.millis)
        return String(repeating: "0", count: max(0, 15 - start.count)) + start + "|" + String(w.end.millis - w.start.millis) + "|" + group
    }

    static func parse(_ key: String) -> (Window, String)? {
        let parts = key.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let start = Int64(parts[0]), let size = Int64(parts[1]) else { return nil }
        return (Window(start: Timestamp(millis: start), end: Timestamp(millis: start + size)), String(parts[2]))
    }

    /// Adds an event at `time` to every open window containing it. Returns false, changing
    /// nothing, when all of them are already final (the record is late: route it with
    /// `context.markLate`).
    public func add(_ context: HandlerContext, group: String, at time: Timestamp, update: (Window, inout [UInt8]?) -> Void) -> Bool {
        let open = spec.windows(containing: time).filter { !spec.isFinal($0, streamTime: context.streamTime) }
        guard !open.isEmpty else { return false }
        let store = context.store(storeName)
        for w in open {
            let k = Self.key(w, group)
            var value = store.get(k)
            update(w, &value)
            if let value { store.put(k, value) } else { store.delete(k) }
        }
        return true
    }

    /// Emits and removes every window of the current partition that is final at `streamTime`,
    /// in window order.
    public func emitFinal(_ context: HandlerContext, streamTime: Timestamp, emit: (Window, String, [UInt8]) -> Void) {
        let store = context.store(storeName)
        var finals: [(key: String, window: Window, group: String, value: [UInt8])] = []
        store.forEach { k, v in
            guard let (w, group) = Self.parse(k), spec.isFinal(w, streamTime: streamTime) else { return }
            finals.append((k, w, group, v))
        }
        for f in finals.sorted(by: { $0.key < $1.key }) {
            emit(f.window, f.group, f.value)
            store.delete(f.key)
        }
    }
}
