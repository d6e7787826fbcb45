import Codec
import ReferenceData

/// What became of one input record.
enum RecordOutcome {
    case processed
    case deadLetter(kind: String, reason: String)
    case late(reason: String)
}

/// Drives a handler over records: per-record state savepoints, dead-letter and late
/// decisions, stream time per partition. Shared by the Kafka loop (`StreamTask`) and the
/// Kafka-free `HandlerHarness`, so tests exercise the same rules the workers run.
final class RecordProcessor {
    let handler: StreamHandler
    let stores: StoreSet
    let context: HandlerContext
    /// Stream time reached by records of the current batch, per partition (applied by `finishBatch`).
    private var advanced: [Int32: Timestamp] = [:]

    init(handler: StreamHandler, stores: [StoreDefinition], worker: String, reference: ReferenceSnapshot) {
        self.handler = handler
        self.stores = StoreSet(stores + [StoreDefinition(RuntimeStore.name)])
        context = HandlerContext(worker: worker, reference: reference, stores: self.stores)
    }

    /// Runs the handler on one record; its outputs are in `context.outputs` when `.processed`.
    func process(_ record: InputRecord) -> RecordOutcome {
        let p = record.partition
        context.reset(partition: p)
        context.streamTime = advanced[p] ?? streamTime(p)
        context.outputs.removeAll(keepingCapacity: true)
        stores.beginRecord(partition: p)
        do {
            try handler.handle(record, context)
        } catch {
            stores.rollbackRecord(partition: p)
            context.outputs.removeAll(keepingCapacity: true)
            return .deadLetter(kind: error is DecodeError ? "decode" : "handler", reason: String(describing: error))
        }
        if let reason = context.lateReason {
            stores.rollbackRecord(partition: p)
            context.outputs.removeAll(keepingCapacity: true)
            return .late(reason: reason)
        }
        if let t = context.eventTime, t > (advanced[p] ?? streamTime(p) ?? Timestamp(millis: .min)) {
            advanced[p] = t
        }
        return .processed
    }

    /// After a batch: records the new stream times and lets the handler emit what became final.
    /// `emit` receives each partition's outputs; handler errors are returned, not thrown (there
    /// is no single record to dead-letter).
    func finishBatch(_ emit: ([OutputRecord]) throws -> Void) rethrows -> [(partition: Int32, error: Error)] {
        var failures: [(Int32, Error)] = []
        let moved = advanced.sorted { $0.key < $1.key }
        advanced.removeAll(keepingCapacity: true)
        for (partition, time) in moved {
            setStreamTime(partition, time)
            context.reset(partition: partition)
            context.outputs.removeAll(keepingCapacity: true)
            do {
                try handler.streamTimeAdvanced(partition: partition, to: time, context)
            } catch {
                failures.append((partition, error))
                continue
            }
            try emit(context.outputs)
        }
        return failures
    }

    /// Highest event time seen on a partition (kept in the runtime store: it rolls back and
    /// restores with the rest of the state).
    func streamTime(_ partition: Int32) -> Timestamp? {
        guard let bytes = stores.store(RuntimeStore.name, partition: partition)?.get(RuntimeStore.streamTimeKey),
              let millis = Int64(String(decoding: bytes, as: UTF8.self)) else { return nil }
        return Timestamp(millis: millis)
    }

    private func setStreamTime(_ partition: Int32, _ t: Timestamp) {
        stores.store(RuntimeStore.name, partition: partition)?.put(RuntimeStore.streamTimeKey, Array(String(t.millis).utf8))
    }

    func abort() {
        stores.abortAll()
        advanced.removeAll()
    }
}

/// Runs a handler without Kafka, with the runtime's own rules (state rollback on errors, late
/// records, stream time, commit/abort of state). For handler unit tests.
public final class HandlerHarness {
    public struct Emitted: Equatable {
        public let topic: String
        public let key: String?
        public let value: String?
        /// The partition the handler chose (nil: by key); not part of equality.
        public var partition: Int32?
        /// Header values as text; not part of equality.
        public var headers: [(name: String, value: [UInt8])] = []
        public init(topic: String, key: String?, value: String?) {
            self.topic = topic
            self.key = key
            self.value = value
        }
        public static func == (a: Emitted, b: Emitted) -> Bool { a.topic == b.topic && a.key == b.key && a.value == b.value }
    }

    public enum Result: Equatable {
        case emitted([Emitted])
        case deadLetter(kind: String, reason: String)
        case late(reason: String)
    }

    let processor: RecordProcessor
    private var offsets: [String: Int64] = [:]

    public init(handler: StreamHandler, stores: [StoreDefinition] = [], worker: String = "test-worker",
                reference: ReferenceSnapshot = .empty, partitions: [Int32] = [0]) {
        processor = RecordProcessor(handler: handler, stores: stores, worker: worker, reference: reference)
        for p in partitions { processor.stores.open(partition: p) }
    }

    public var context: HandlerContext { processor.context }

    /// Feeds one record (and, as the runtime does after each batch, advances stream time).
    /// `aborted`: its transaction aborts afterwards (state and stream time roll back).
    @discardableResult
    public func send(topic: String, key: String?, value: String?, partition: Int32 = 0, timestampMs: Int64? = nil,
                     headers: [(name: String, value: [UInt8])] = [], aborted: Bool = false) -> [Result] {
        send(topic: topic, keyBytes: key.map { Array($0.utf8) }, valueBytes: value.map { Array($0.utf8) }, partition: partition,
             timestampMs: timestampMs, headers: headers, aborted: aborted)
    }

    /// Feeds raw bytes (for input that is not valid UTF-8).
    @discardableResult
    public func send(topic: String, keyBytes: [UInt8]?, valueBytes: [UInt8]?, partition: Int32 = 0, timestampMs: Int64? = nil,
                     headers: [(name: String, value: [UInt8])] = [], aborted: Bool = false) -> [Result] {
        let offset = offsets["\(topic)/\(partition)", default: 0]
        offsets["\(topic)/\(partition)"] = offset + 1
        let outcome: RecordOutcome = withOptionalBytes(keyBytes) { k in
            withOptionalBytes(valueBytes) { v in
                processor.process(InputRecord(topic: topic, partition: partition, offset: offset, timestampMs: timestampMs, key: k, value: v, headers: headers))
            }
        }
        var results: [Result]
        switch outcome {
        case .processed: results = [.emitted(processor.context.outputs.map(Self.emitted))]
        case .deadLetter(let kind, let reason): results = [.deadLetter(kind: kind, reason: reason)]
        case .late(let reason): results = [.late(reason: reason)]
        }
        var windowOutputs: [Emitted] = []
        _ = processor.finishBatch { windowOutputs += $0.map(Self.emitted) }
        if !windowOutputs.isEmpty { results.append(.emitted(windowOutputs)) }
        if aborted {
            processor.abort()
        } else {
            processor.stores.mergeAll()  // each record its own committed transaction
        }
        return results
    }

    /// Everything emitted by one `send`, flattened.
    public func outputs(of results: [Result]) -> [Emitted] {
        results.flatMap { if case .emitted(let e) = $0 { return e } else { return [] } }
    }

    public func store(_ name: String, partition: Int32 = 0) -> KeyValueStore? { processor.stores.store(name, partition: partition) }

    public func streamTime(partition: Int32 = 0) -> Timestamp? { processor.streamTime(partition) }

    static func emitted(_ o: OutputRecord) -> Emitted {
        var e = Emitted(topic: o.topic, key: o.key.map { String(decoding: $0, as: UTF8.self) }, value: o.value.map { String(decoding: $0, as: UTF8.self) })
        e.partition = o.partition
        e.headers = o.headers.map { (name: $0.0, value: $0.1) }
        return e
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}
