#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRdKafka
import KafkaShim
import Synchronization

/// A topic interned in a producer; cheap to copy, valid only for the producer that made it.
public struct ProducerTopic: Hashable, Sendable {
    public let name: String
    @usableFromInline let id: Int32
}

/// Messages to produce, packed into one byte arena so that building a batch of thousands costs a
/// few allocations, not thousands.
public struct OutgoingBatch: Sendable {
    // @usableFromInline/@inlinable so that the generic appends specialise in the caller's module:
    // unspecialised, each append paid a runtime generic-metadata lookup (seen in perf).
    @usableFromInline
    struct Entry: Sendable {
        var topic: Int32
        var partition: Int32
        var key: Range<Int>?
        var value: Range<Int>?
        var headers: Range<Int>
        var timestampMs: Int64
        var id: UInt64
        @usableFromInline
        init(topic: Int32, partition: Int32, key: Range<Int>?, value: Range<Int>?, headers: Range<Int>, timestampMs: Int64, id: UInt64) {
            (self.topic, self.partition, self.key, self.value, self.headers, self.timestampMs, self.id) = (topic, partition, key, value, headers, timestampMs, id)
        }
    }
    /// A header's name (NUL-terminated, as librdkafka takes it) and value, both in the arena:
    /// no C string per header per message.
    @usableFromInline
    struct Header: Sendable {
        var name: Int
        var value: Range<Int>
        @usableFromInline
        init(name: Int, value: Range<Int>) { (self.name, self.value) = (name, value) }
    }
    @usableFromInline var arena: [UInt8] = []
    @usableFromInline var entries: [Entry] = []
    @usableFromInline var headerEntries: [Header] = []
    /// Headers added for the message appended next (`addHeader`): where they begin.
    @usableFromInline var staged: (headers: Int, arena: Int)?

    public init(reservingBytes: Int = 0) { arena.reserveCapacity(reservingBytes) }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var byteCount: Int { arena.count }

    /// Gives every message in the batch the same delivery-report `id`.
    public mutating func setID(_ id: UInt64) {
        for i in entries.indices { entries[i].id = id }
    }

    public mutating func removeAll() {
        arena.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        headerEntries.removeAll(keepingCapacity: true)
        staged = nil
    }

    /// Adds a header to the message appended next, before those of its `headers:`: written
    /// straight into the arena, so a caller need not build a header array per message.
    @inlinable
    public mutating func addHeader<V: Collection<UInt8>>(_ name: String, _ value: V) {
        if staged == nil { staged = (headerEntries.count, arena.count) }
        headerEntries.append(Header(name: storeName(name), value: store(value)))
    }

    /// Adds a header whose value is a decimal integer (a partition, an offset).
    @inlinable
    public mutating func addHeader(_ name: String, decimal: Int64) {
        if staged == nil { staged = (headerEntries.count, arena.count) }
        let nameAt = storeName(name)
        let start = arena.count
        if decimal < 0 { arena.append(UInt8(ascii: "-")) }
        var magnitude = decimal.magnitude
        let digitsAt = arena.count
        repeat {
            arena.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        arena[digitsAt...].reverse()
        headerEntries.append(Header(name: nameAt, value: start..<arena.count))
    }

    /// Appends a message. `id` comes back in its delivery report.
    @inlinable
    public mutating func append<K: Collection<UInt8>, V: Collection<UInt8>>(
        topic: ProducerTopic, partition: Int32? = nil, key: K?, value: V?,
        headers: [(String, [UInt8])] = [], timestampMs: Int64 = 0, id: UInt64 = 0
    ) {
        let k = key.map { store($0) }
        let v = value.map { store($0) }
        appendEntry(topic: topic, partition: partition, key: k, value: v, headers: headers, timestampMs: timestampMs, id: id)
    }

    /// Appends a message whose value is written in place (no intermediate buffer).
    @inlinable
    public mutating func append<K: Collection<UInt8>>(
        topic: ProducerTopic, partition: Int32? = nil, key: K?, headers: [(String, [UInt8])] = [],
        timestampMs: Int64 = 0, id: UInt64 = 0, value write: (inout [UInt8]) throws -> Void
    ) rethrows {
        let k = key.map { store($0) }
        let start = arena.count
        do { try write(&arena) } catch {
            // Nothing of this message stays: neither its key nor the headers added for it.
            arena.removeSubrange((staged?.arena ?? k?.lowerBound ?? start)...)
            if let staged { headerEntries.removeSubrange(staged.headers...) }
            staged = nil
            throw error
        }
        appendEntry(topic: topic, partition: partition, key: k, value: start..<arena.count, headers: headers, timestampMs: timestampMs, id: id)
    }

    @inlinable
    mutating func store<C: Collection<UInt8>>(_ bytes: C) -> Range<Int> {
        let start = arena.count
        arena.append(contentsOf: bytes)
        return start..<arena.count
    }

    @inlinable
    mutating func storeName(_ name: String) -> Int {
        let start = arena.count
        arena.append(contentsOf: name.utf8)
        arena.append(0)
        return start
    }

    @inlinable
    mutating func appendEntry(topic: ProducerTopic, partition: Int32?, key: Range<Int>?, value: Range<Int>?,
                                      headers: [(String, [UInt8])], timestampMs: Int64, id: UInt64) {
        let hStart = staged?.headers ?? headerEntries.count
        staged = nil
        for (name, bytes) in headers { headerEntries.append(Header(name: storeName(name), value: store(bytes))) }
        entries.append(Entry(topic: topic.id, partition: partition ?? RD_KAFKA_PARTITION_UA, key: key, value: value,
                             headers: hStart..<headerEntries.count, timestampMs: timestampMs, id: id))
    }
}

public struct DeliveryReport: Sendable {
    public let id: UInt64
    public let partition: Int32
    public let offset: Int64
    /// nil when the broker acknowledged the message.
    public let error: KafkaError?
}

/// An idempotent (by default) producer that sends batches and reports per-message outcomes.
public final class KafkaProducer: Sendable {
    let core: ClientCore
    private let topics = Mutex<[String: ProducerTopic]>([:])

    /// `enable.idempotence` defaults to true; pass "false" to turn it off.
    public init(properties: [String: String]) throws(KafkaError) {
        var props = properties
        if props["enable.idempotence"] == nil { props["enable.idempotence"] = "true" }
        core = try ClientCore(kind: CW_PRODUCER, properties: props)
    }

    public var brokers: String { core.brokers }

    public func topic(_ name: String) throws(KafkaError) -> ProducerTopic {
        try topics.withLock { (known: inout [String: ProducerTopic]) throws(KafkaError) -> ProducerTopic in
            if let t = known[name] { return t }
            var err = cw_error()
            let id = cw_topic_id(core.raw, name, &err)
            if id < 0 { throw KafkaError(err, brokers: core.brokers, topic: name) }
            let t = ProducerTopic(name: name, id: id)
            known[name] = t
            return t
        }
    }

    /// Enqueues every message of the batch, in order. When librdkafka's queue is full it serves
    /// delivery reports and retries (bounded memory: the caller is slowed, never buffered without
    /// limit). Throws on the first message that cannot be enqueued for another reason.
    public func send(_ batch: OutgoingBatch, queueFullTimeout: Duration = .seconds(60)) throws(KafkaError) {
        if batch.isEmpty { return }
        var err = cw_error()
        var failure: KafkaError?
        let clock = ContinuousClock()
        batch.arena.withUnsafeBytes { arena in
            let base = arena.baseAddress
            let cHeaders = batch.headerEntries.map { h in
                cw_header_view(name: base.map { ($0 + h.name).assumingMemoryBound(to: CChar.self) },
                               value: base.map { $0 + h.value.lowerBound }, value_len: h.value.count)
            }
            cHeaders.withUnsafeBufferPointer { headers in
                var records = [cw_produce_record]()
                records.reserveCapacity(batch.entries.count)
                for e in batch.entries {
                    records.append(cw_produce_record(
                        topic_id: e.topic, partition: e.partition,
                        key: e.key.flatMap { r in base.map { $0 + r.lowerBound } }, key_len: e.key?.count ?? 0,
                        value: e.value.flatMap { r in base.map { $0 + r.lowerBound } }, value_len: e.value?.count ?? 0,
                        headers: e.headers.isEmpty ? nil : headers.baseAddress! + e.headers.lowerBound,
                        header_count: e.headers.count, timestamp_ms: e.timestampMs, id: e.id))
                }
                var done = 0
                var deadline = clock.now + queueFullTimeout
                while done < records.count {
                    let n = records.withUnsafeBufferPointer { r in
                        cw_produce_batch(core.raw, r.baseAddress! + done, r.count - done, &err)
                    }
                    done += n
                    if done == records.count { break }
                    if err.code == KafkaError.queueFull && clock.now < deadline {
                        cw_poll(core.raw, 10)
                        if n > 0 { deadline = clock.now + queueFullTimeout }
                        continue
                    }
                    failure = KafkaError(err, brokers: core.brokers)
                    break
                }
            }
        }
        if let failure { throw failure }
    }

    /// Serves delivery reports and errors for up to `timeout`; returns the number of events served.
    @discardableResult
    public func poll(timeout: Duration = .zero) -> Int {
        Int(cw_poll(core.raw, timeout.milliseconds))
    }

    /// Delivery outcomes collected since the last call (serve them with `poll` or `flush`).
    public func drainDeliveryReports() -> [DeliveryReport] {
        var result: [DeliveryReport] = []
        withUnsafeTemporaryAllocation(of: cw_delivery_report.self, capacity: 4096) { buf in
            while true {
                let n = cw_drain_delivery_reports(core.raw, buf.baseAddress, buf.count)
                result.reserveCapacity(result.count + n)
                for i in 0..<n {
                    let r = buf[i]
                    let error = r.error == 0 ? nil : KafkaError(code: rd_kafka_resp_err_t(rawValue: r.error), context: "delivery failed", brokers: core.brokers)
                    result.append(DeliveryReport(id: r.id, partition: r.partition, offset: r.offset, error: error))
                }
                if n < buf.count { break }
            }
        }
        return result
    }

    /// Counts delivery reports and failures without materialising them (hot-path friendly).
    public func drainDeliveryCounts() -> (delivered: Int, failed: [KafkaError]) {
        drainDeliveries { _ in }
    }

    /// Like `drainDeliveryCounts`, and calls `acknowledged` with the `id` of each message the
    /// broker acknowledged.
    public func drainDeliveries(_ acknowledged: (UInt64) -> Void) -> (delivered: Int, failed: [KafkaError]) {
        var delivered = 0
        var failed: [KafkaError] = []
        withUnsafeTemporaryAllocation(of: cw_delivery_report.self, capacity: 4096) { buf in
            while true {
                let n = cw_drain_delivery_reports(core.raw, buf.baseAddress, buf.count)
                for i in 0..<n {
                    if buf[i].error == 0 {
                        delivered += 1
                        acknowledged(buf[i].id)
                    } else {
                        failed.append(KafkaError(code: rd_kafka_resp_err_t(rawValue: buf[i].error), context: "delivery failed", brokers: core.brokers))
                    }
                }
                if n < buf.count { break }
            }
        }
        return (delivered, failed)
    }

    /// Messages not yet acknowledged (or reports not yet served).
    public var inFlight: Int { Int(rd_kafka_outq_len(core.handle)) }

    /// Waits until every enqueued message is delivered or failed.
    public func flush(timeout: Duration = .seconds(30)) throws(KafkaError) {
        let code = rd_kafka_flush(core.handle, timeout.milliseconds)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: code, context: "flush (\(inFlight) messages still in flight)", brokers: core.brokers)
        }
    }

    public func drainErrors() -> [KafkaError] { core.drainErrors() }
    public func drainLogs() -> [KafkaLogEntry] { core.drainLogs() }

    public func metadata(timeout: Duration = .seconds(10)) throws(KafkaError) -> ClusterMetadata {
        try core.metadata(timeout: timeout)
    }
}

/// A producer with a `transactional.id`: consume–transform–produce with exactly-once semantics.
///
/// Every method throws `KafkaError`, classified: `isRetriable` (call again), `requiresAbort`
/// (call `abortTransaction` and reprocess from the last committed offsets), `isFatal` (fenced or
/// broken: recreate the producer and the consumer).
public final class TransactionalProducer: Sendable {
    public let producer: KafkaProducer
    public let transactionalID: String

    public init(properties: [String: String]) throws(KafkaError) {
        guard let id = properties["transactional.id"], !id.isEmpty else {
            throw KafkaError(code: KafkaError.invalidArgument, message: "property \"transactional.id\" is required for a transactional producer",
                             brokers: properties["bootstrap.servers"])
        }
        transactionalID = id
        producer = try KafkaProducer(properties: properties)
    }

    private func check(_ rc: Int32, _ err: cw_error) throws(KafkaError) {
        if rc != 0 { throw KafkaError(err, brokers: producer.brokers) }
    }

    /// Registers the transactional id, fencing any older producer with the same id.
    public func initTransactions(timeout: Duration = .seconds(30)) throws(KafkaError) {
        var err = cw_error()
        try check(cw_txn_init(producer.core.raw, timeout.milliseconds, &err), err)
    }

    public func beginTransaction() throws(KafkaError) {
        var err = cw_error()
        try check(cw_txn_begin(producer.core.raw, &err), err)
    }

    /// Adds the consumer's offsets (next offset to read) to the transaction, with its group metadata.
    public func sendOffsetsToTransaction(_ offsets: [TopicPartition: Int64], consumer: KafkaConsumer,
                                         timeout: Duration = .seconds(30)) throws(KafkaError) {
        if offsets.isEmpty { return }
        let list = PartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        var err = cw_error()
        try check(cw_txn_send_offsets(producer.core.raw, consumer.core.raw, list, timeout.milliseconds, &err), err)
    }

    public func commitTransaction(timeout: Duration = .seconds(30)) throws(KafkaError) {
        var err = cw_error()
        try check(cw_txn_commit(producer.core.raw, timeout.milliseconds, &err), err)
    }

    public func abortTransaction(timeout: Duration = .seconds(30)) throws(KafkaError) {
        var err = cw_error()
        try check(cw_txn_abort(producer.core.raw, timeout.milliseconds, &err), err)
    }

    public func topic(_ name: String) throws(KafkaError) -> ProducerTopic { try producer.topic(name) }
    public func send(_ batch: OutgoingBatch) throws(KafkaError) { try producer.send(batch) }
}
