import Codec
import Kafka
import ReferenceData

/// One consumed record as a handler sees it. The key and value are views into the consumed
/// message: valid during `handle` only.
public struct InputRecord {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let timestampMs: Int64?
    public let key: UnsafeRawBufferPointer?
    public let value: UnsafeRawBufferPointer?
    let message: ConsumerMessage?
    /// Headers of a record made without Kafka (handler tests).
    let givenHeaders: [(name: String, value: [UInt8])]

    public init(topic: String, partition: Int32, offset: Int64, timestampMs: Int64?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
                headers: [(name: String, value: [UInt8])] = []) {
        givenHeaders = headers
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestampMs = timestampMs
        self.key = key
        self.value = value
        message = nil
    }

    init(_ m: ConsumerMessage) {
        topic = m.topic
        partition = m.partition
        offset = m.offset
        timestampMs = m.timestampMs
        key = m.key
        value = m.value
        message = m
        givenHeaders = []
    }

    public var provenance: Provenance { Provenance(topic: topic, partition: partition, offset: offset) }

    public var headers: [(name: String, value: [UInt8])] { message?.headers ?? givenHeaders }

    /// The value of the last header called `name`, without building the others.
    public func header(_ name: String) -> [UInt8]? {
        if let message { return message.header(name) }
        return givenHeaders.last { $0.name == name }?.value
    }

    /// The value, or a decode error saying it is missing (a null value is not a record).
    public func requireValue() throws(DecodeError) -> UnsafeRawBufferPointer {
        guard let value else { throw DecodeError("record has no value (null)") }
        return value
    }

    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
}

/// A worker's logic: a plain object driven by the runtime, testable without Kafka
/// (see `HandlerHarness`). It keeps its state only in the stores it declares, so that the
/// runtime can roll state back with an aborted transaction, write it to the changelog and
/// move it with its partition.
public protocol StreamHandler: AnyObject {
    /// Processes one record: emit outputs and update state through `context`. Throwing sends
    /// the record to the dead-letter topic with the error as the reason; processing continues.
    func handle(_ record: InputRecord, _ context: HandlerContext) throws
    /// The stream time (highest event time seen) of a partition advanced: emit what became
    /// final (closed windows, expired joins). Default: nothing.
    func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws
}

extension StreamHandler {
    public func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws {}
}

/// Something a handler produced.
public struct OutputRecord {
    public var topic: String
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [(String, [UInt8])]
}

/// The handler's view of the runtime while it processes: outputs, state, event time, lateness.
/// One per task, reused for every record; single-threaded.
public final class HandlerContext {
    public let worker: String
    public internal(set) var reference: ReferenceSnapshot
    /// The partition being processed (state stores are per partition).
    public internal(set) var partition: Int32 = 0
    var stores: StoreSet
    var outputs: [OutputRecord] = []
    var eventTime: Timestamp?
    var lateReason: String?
    /// The partition's stream time before the current record (nil: no record yet). Windows use
    /// it to decide lateness.
    public internal(set) var streamTime: Timestamp?
    var writer = JSONWriter(capacity: 2048)
    /// Counters a handler bumps (e.g. unknown airport); exported as metrics by the runtime.
    public internal(set) var counters: [String: Int] = [:]
    /// Partition counts of the task's topics, read from the cluster at start (1 when unknown).
    /// For broadcasting a record to every partition of a topic.
    public var partitionCounts: [String: Int32] = [:]

    init(worker: String, reference: ReferenceSnapshot, stores: StoreSet) {
        self.worker = worker
        self.reference = reference
        self.stores = stores
    }

    func reset(partition: Int32) {
        self.partition = partition
        eventTime = nil
        lateReason = nil
    }

    /// Emits a JSON record written in place; nothing when `write` throws.
    public func emit<Failure: Error>(topic: String, key: String?, partition: Int32? = nil, headers: [(String, [UInt8])] = [],
                                     _ write: (inout JSONWriter) throws(Failure) -> Void) throws(Failure) {
        writer.removeAll()
        try write(&writer)
        outputs.append(OutputRecord(topic: topic, partition: partition, key: key.map { Array($0.utf8) }, value: writer.bytes, headers: headers))
    }

    /// Emits bytes as they are (repartitioning, pass-through).
    public func emitRaw(topic: String, key: [UInt8]?, value: [UInt8]?, partition: Int32? = nil, headers: [(String, [UInt8])] = []) {
        outputs.append(OutputRecord(topic: topic, partition: partition, key: key, value: value, headers: headers))
    }

    /// The record's event time: advances the partition's stream time after the record.
    public func observe(eventTime: Timestamp) {
        if let t = self.eventTime { self.eventTime = max(t, eventTime) } else { self.eventTime = eventTime }
    }

    /// Sends the current record to `late.<worker>` instead of processing it.
    public func markLate(_ reason: String) { lateReason = reason }

    public func count(_ name: String, by n: Int = 1) { counters[name, default: 0] += n }

    public func partitionCount(of topic: String) -> Int32 { max(1, partitionCounts[topic] ?? 1) }

    /// Emits the same bytes to every partition of `topic` (facts every partition's state needs,
    /// such as an inspection outcome whose owner is not known where it arrives).
    public func broadcast(topic: String, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = []) {
        for p in 0..<partitionCount(of: topic) {
            outputs.append(OutputRecord(topic: topic, partition: p, key: key, value: value, headers: headers))
        }
    }

    /// A state store of the current partition.
    public func store(_ name: String) -> KeyValueStore {
        guard let s = stores.store(name, partition: partition) else {
            preconditionFailure("store \(name) of partition \(partition) is not open (declare it in the worker's stores)")
        }
        return s
    }

    /// All partitions this instance holds state for.
    public var assignedPartitions: [Int32] { stores.partitions }
}
