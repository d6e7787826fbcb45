import CRdKafka
import KafkaShim
import Synchronization

/// A change of the consumer's assignment, handed to the caller *before* it takes effect.
///
/// For `.revoked` the partitions are still owned: finish the work for them (commit the
/// transaction, flush state), then call `KafkaConsumer.completeRebalance()` or simply poll again.
/// For `.lost` they are already gone elsewhere: abort, don't commit. For `.assigned`, prepare
/// (restore state) before completing; no message of those partitions arrives before that.
public enum RebalanceEvent: Sendable, Equatable {
    case assigned([TopicPartition])
    case revoked([TopicPartition])
    case lost([TopicPartition])
}

public struct PollResult {
    /// Messages now in the batch.
    public let count: Int
    /// A pending assignment change; see `RebalanceEvent`.
    public let rebalance: RebalanceEvent?
    /// Non-fatal consumer errors seen during the poll (fatal ones are thrown).
    public let errors: [KafkaError]
}

/// A reusable buffer of consumed messages, filled by `KafkaConsumer.poll(into:timeout:)`.
///
/// Messages are views into librdkafka's memory: their `key` and `value` buffers are valid until
/// the batch is polled into again or released. Copy (`keyBytes`, `valueBytes`) what must outlive it.
public final class MessageBatch {
    let raw: OpaquePointer
    public let capacity: Int
    public private(set) var count = 0
    private var topicNames: [UnsafePointer<CChar>: String] = [:]
    /// The client whose messages the batch holds: librdkafka cannot be destroyed while messages
    /// are outstanding, so the batch keeps it alive until they are given back.
    private var owner: ClientCore?
    private var namesClient: ObjectIdentifier?

    public init(capacity: Int = 1000) {
        self.capacity = Swift.max(1, capacity)
        raw = cw_batch_new(self.capacity)!
    }

    deinit {
        cw_batch_free(raw)
        owner = nil  // only now may the client go
    }

    func filled(_ n: Int, by client: ClientCore) {
        // Topic name pointers are stable per client; a batch moved to another client starts over.
        if ObjectIdentifier(client) != namesClient { topicNames.removeAll() }
        namesClient = ObjectIdentifier(client)
        count = n
        owner = n > 0 ? client : nil
    }

    /// Gives the messages back to librdkafka now rather than at the next poll.
    public func release() {
        cw_batch_clear(raw)
        count = 0
        owner = nil
    }

    public subscript(index: Int) -> ConsumerMessage {
        precondition(index >= 0 && index < count, "message index out of range")
        let v = cw_batch_views(raw)![index]
        let topic: String
        if let known = topicNames[v.topic] {
            topic = known
        } else {
            topic = String(cString: v.topic)
            topicNames[v.topic] = topic
        }
        return ConsumerMessage(
            topic: topic, partition: v.partition, offset: v.offset,
            timestampMs: v.timestamp_ms >= 0 ? v.timestamp_ms : nil,
            key: v.key.map { UnsafeRawBufferPointer(start: $0, count: v.key_len) },
            value: v.value.map { UnsafeRawBufferPointer(start: $0, count: v.value_len) },
            headerCount: v.header_count, batch: self, index: index)
    }

    /// The next offset to commit per partition: last message's offset + 1.
    public var nextOffsets: [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for i in 0..<count {
            let m = self[i]
            result[TopicPartition(m.topic, m.partition)] = m.offset + 1
        }
        return result
    }
}

extension MessageBatch: Sequence {
    public func makeIterator() -> AnyIterator<ConsumerMessage> {
        var i = 0
        return AnyIterator {
            guard i < self.count else { return nil }
            defer { i += 1 }
            return self[i]
        }
    }
}

/// One consumed message; a view valid while its batch is not polled again.
public struct ConsumerMessage {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    /// Broker or producer timestamp in milliseconds since the epoch.
    public let timestampMs: Int64?
    public let key: UnsafeRawBufferPointer?
    public let value: UnsafeRawBufferPointer?
    public let headerCount: Int
    let batch: MessageBatch
    let index: Int

    public var keyBytes: [UInt8]? { key.map { Array($0) } }
    public var valueBytes: [UInt8]? { value.map { Array($0) } }

    public var headers: [(name: String, value: [UInt8])] {
        (0..<headerCount).compactMap { h in
            var hv = cw_header_view()
            guard cw_batch_header(batch.raw, index, h, &hv) == 0 else { return nil }
            let bytes = hv.value.map { Array(UnsafeRawBufferPointer(start: $0, count: hv.value_len)) } ?? []
            return (String(cString: hv.name), bytes)
        }
    }

    /// The value of the last header called `name` (as `headers.last { $0.name == name }`),
    /// without building the others: handlers look up one or two headers per record.
    public func header(_ name: String) -> [UInt8]? {
        let wanted = Array(name.utf8)
        var found: [UInt8]?
        for h in 0..<headerCount {
            var hv = cw_header_view()
            guard cw_batch_header(batch.raw, index, h, &hv) == 0, let n = hv.name, Self.cString(n, equals: wanted) else { continue }
            found = hv.value.map { Array(UnsafeRawBufferPointer(start: $0, count: hv.value_len)) } ?? []
        }
        return found
    }

    private static func cString(_ c: UnsafePointer<CChar>, equals bytes: [UInt8]) -> Bool {
        for (i, b) in bytes.enumerated() where c[i] == 0 || UInt8(bitPattern: c[i]) != b { return false }
        return c[bytes.count] == 0
    }
}

/// A consumer-group member (or a manually assigned reader) that consumes in batches.
///
/// Defaults differ from librdkafka's where the fleet needs it: `cooperative-sticky` assignment
/// and no auto-commit (offsets are committed by the caller or through a transaction).
/// `poll` must not be called concurrently with itself; everything else may be called from any thread.
public final class KafkaConsumer: Sendable {
    let core: ClientCore
    private let pollLock = Mutex<Void>(())

    public init(properties: [String: String]) throws(KafkaError) {
        guard properties["group.id"] != nil else {
            throw KafkaError(code: KafkaError.invalidArgument, message: "property \"group.id\" is required for a consumer (use any id for manual assignment)",
                             brokers: properties["bootstrap.servers"])
        }
        core = try ClientCore(kind: CW_CONSUMER, properties: properties)
    }

    public var brokers: String { core.brokers }

    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = PartitionList.make(topics.map { TopicPartition($0, RD_KAFKA_PARTITION_UA) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = rd_kafka_subscribe(core.handle, list)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: code, context: "subscribe to \(topics.joined(separator: ","))", brokers: core.brokers)
        }
    }

    /// Manual assignment (no group rebalancing). Offsets: a value, or nil for the committed/reset position.
    public func assign(_ partitions: [TopicPartition: Int64?]) throws(KafkaError) {
        let list = PartitionList.make(partitions.mapValues { $0 ?? Int64(RD_KAFKA_OFFSET_INVALID) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = rd_kafka_assign(core.handle, list)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: code, context: "assign", brokers: core.brokers)
        }
    }

    /// Waits up to `timeout` for messages and fills `batch` (discarding what it held).
    ///
    /// A rebalance returned by the previous poll is completed first: the time between two polls
    /// is the caller's chance to finish its work for revoked partitions.
    public func poll(into batch: MessageBatch, timeout: Duration) throws(KafkaError) -> PollResult {
        try pollLock.withLock { _ throws(KafkaError) in
            try completeRebalanceLocked()
            let n = cw_consumer_poll_batch(core.raw, batch.raw, timeout.milliseconds)
            batch.filled(n, by: core)
            let errors = core.drainErrors()
            if let fatal = errors.first(where: \.isFatal) { throw fatal }
            return PollResult(count: n, rebalance: pendingRebalance(), errors: errors)
        }
    }

    private func pendingRebalance() -> RebalanceEvent? {
        let kind = cw_rebalance_pending(core.raw)
        guard kind != CW_REBALANCE_NONE, let list = cw_rebalance_partitions(core.raw) else { return nil }
        let parts = PartitionList.read(list).map(\.0).sorted()
        switch kind {
        case CW_REBALANCE_ASSIGN: return .assigned(parts)
        case CW_REBALANCE_REVOKE: return .revoked(parts)
        default: return .lost(parts)
        }
    }

    /// Applies the pending assignment change now (otherwise the next poll does).
    public func completeRebalance() throws(KafkaError) {
        try pollLock.withLock { _ throws(KafkaError) in try completeRebalanceLocked() }
    }

    private func completeRebalanceLocked() throws(KafkaError) {
        var err = cw_error()
        if cw_rebalance_complete(core.raw, &err) != 0 { throw KafkaError(err, brokers: core.brokers) }
    }

    /// Commits offsets (the next offset to read per partition) for the group.
    public func commit(_ offsets: [TopicPartition: Int64], async: Bool = false) throws(KafkaError) {
        if offsets.isEmpty { return }
        let list = PartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = rd_kafka_commit(core.handle, list, async ? 1 : 0)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: code, context: "commit offsets", brokers: core.brokers)
        }
        for (tp, _, e) in PartitionList.read(list) where e != 0 {
            throw KafkaError(code: rd_kafka_resp_err_t(rawValue: e), context: "commit offset", brokers: core.brokers, topic: tp.topic)
        }
    }

    /// The group's committed offsets for the partitions (-1001, `RD_KAFKA_OFFSET_INVALID`, when none).
    public func committed(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) throws(KafkaError) -> [TopicPartition: Int64] {
        let list = PartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = rd_kafka_committed(core.handle, list, timeout.milliseconds)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: code, context: "fetch committed offsets", brokers: core.brokers)
        }
        return Dictionary(uniqueKeysWithValues: PartitionList.read(list).map { ($0.0, $0.1) })
    }

    public func assignment() throws(KafkaError) -> [TopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let code = rd_kafka_assignment(core.handle, &list)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let list else {
            throw KafkaError(code: code, context: "read assignment", brokers: core.brokers)
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return PartitionList.read(list).map(\.0).sorted()
    }

    /// The next offset the application will read, per partition.
    public func positions(_ partitions: [TopicPartition]) -> [TopicPartition: Int64] {
        let list = PartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        rd_kafka_position(core.handle, list)
        return Dictionary(uniqueKeysWithValues: PartitionList.read(list).map { ($0.0, $0.1) })
    }

    /// Moves the read position of assigned partitions (e.g. back to the last committed offsets
    /// after an aborted transaction, so that the batch is processed again).
    public func seek(_ offsets: [TopicPartition: Int64], timeout: Duration = .seconds(10)) throws(KafkaError) {
        if offsets.isEmpty { return }
        let list = PartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(core.handle, list, timeout.milliseconds) {
            let code = rd_kafka_error_code(error)
            let text = String(cString: rd_kafka_error_string(error))
            rd_kafka_error_destroy(error)
            throw KafkaError(code: code.rawValue, message: "seek: \(text)", brokers: core.brokers)
        }
        for (tp, _, e) in PartitionList.read(list) where e != 0 {
            throw KafkaError(code: rd_kafka_resp_err_t(rawValue: e), context: "seek \(tp)", brokers: core.brokers, topic: tp.topic)
        }
    }

    public func pause(_ partitions: [TopicPartition]) {
        let list = PartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        rd_kafka_pause_partitions(core.handle, list)
    }

    public func resume(_ partitions: [TopicPartition]) {
        let list = PartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        rd_kafka_resume_partitions(core.handle, list)
    }

    /// Low and high watermark of a partition, asked of the broker.
    public func watermarks(_ tp: TopicPartition, timeout: Duration = .seconds(5)) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0, high: Int64 = 0
        let code = rd_kafka_query_watermark_offsets(core.handle, tp.topic, tp.partition, &low, &high, timeout.milliseconds)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: code, context: "query watermarks of \(tp)", brokers: core.brokers, topic: tp.topic)
        }
        return (low, high)
    }

    /// Watermarks as last reported in fetch responses (no round trip; nil before the first fetch).
    /// Prefer these to `watermarks` on the local broker: Tansu 0.6 answers ListOffsets(latest)
    /// with the last batch's base offset + 1, not the log end.
    public func cachedWatermarks(_ tp: TopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = 0, high: Int64 = 0
        guard rd_kafka_get_watermark_offsets(core.handle, tp.topic, tp.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR,
              high >= 0 else { return nil }
        return (low, high)
    }

    /// Lag per assigned partition from locally cached watermarks (no broker round trip):
    /// high watermark minus the application's position. Unknown values are left out.
    public func lag() -> [TopicPartition: Int64] {
        guard let assigned = try? assignment() else { return [:] }
        var result: [TopicPartition: Int64] = [:]
        for (tp, position) in positions(assigned) {
            guard let (low, high) = cachedWatermarks(tp) else { continue }
            result[tp] = position >= 0 ? max(0, high - position) : max(0, high - low)
        }
        return result
    }

    public func metadata(timeout: Duration = .seconds(10)) throws(KafkaError) -> ClusterMetadata {
        try core.metadata(timeout: timeout)
    }

    public func drainLogs() -> [KafkaLogEntry] { core.drainLogs() }

    /// Leaves the group (revocations are applied at once: finish your work before calling).
    public func close() throws(KafkaError) {
        try pollLock.withLock { _ throws(KafkaError) in
            var err = cw_error()
            if cw_consumer_close(core.raw, &err) != 0 { throw KafkaError(err, brokers: core.brokers) }
        }
    }
}
