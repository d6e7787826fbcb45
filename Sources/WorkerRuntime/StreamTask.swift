import Catalogue
import Codec
import FleetConfig
import Foundation
import Kafka
import Logging
import ReferenceData
import Synchronization

/// One consume–transform–produce loop of a worker: a consumer group over some input topics,
/// a handler, its state stores and (in exactly-once mode) a transactional producer.
public struct TaskDefinition: Sendable {
    public let name: String
    public let inputs: [String]
    /// Topics the task writes (checked to exist before it starts).
    public let outputs: [String]
    public let stores: [StoreDefinition]
    /// `range` for tasks whose inputs are co-partitioned by key (a join): the same partition
    /// number of every input then lands on the same instance. Otherwise `cooperative-sticky`.
    public let assignor: String
    public let makeHandler: @Sendable () -> StreamHandler

    public init(name: String, inputs: [String], outputs: [String], stores: [StoreDefinition] = [], assignor: String = "cooperative-sticky",
                makeHandler: @escaping @Sendable () -> StreamHandler) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.stores = stores
        self.assignor = assignor
        self.makeHandler = makeHandler
    }

    /// The changelog topic of a task: one for all its stores, named after the task's consumer
    /// group as Kafka Streams names its changelogs after the application id: `<group>-changelog`,
    /// compacted. Each record's key is the store's name, `changelogSeparator`, and the key in the
    /// store. One topic instead of one per store: a transaction's commit costs about a quarter of
    /// a millisecond per partition it wrote to on the local broker, and the fraud-worker's scoring
    /// task wrote to eight changelogs times six partitions (BENCHMARKS.md).
    public static func changelogTopic(group: String) -> String {
        "\(group)-changelog"
    }

    /// Separates the store's name from the store's key in a changelog record's key.
    public static let changelogSeparator = "\u{1F}"

    /// Where the runtime kept a store's changes before they shared one topic
    /// (`<group>-<store>-changelog`). Still read at restore when it exists, before the task's
    /// changelog, so state written before the upgrade is not lost.
    public static func legacyChangelogTopic(group: String, store: String) -> String {
        "\(group)-\(store)-changelog"
    }

    /// The consumer group of a task: the worker's group for the task named `main`, else
    /// `<group>-<task>`.
    public static func groupID(base: String, task: String) -> String {
        task == "main" ? base : "\(base)-\(task)"
    }

    /// The stores whose changes the task's changelog carries: its own and the runtime's.
    public var changelogStores: [String] { stores.map(\.name) + [RuntimeStore.name] }

    /// The changelog topic this task needs (every task has one: the runtime keeps its stream
    /// time in a store of its own).
    public func changelogTopics(baseGroup: String) -> [String] {
        [TaskDefinition.changelogTopic(group: TaskDefinition.groupID(base: baseGroup, task: name))]
    }
}

/// Internal stores the runtime keeps for every task.
enum RuntimeStore {
    static let name = "_runtime"
    static let streamTimeKey = "stream_time"
}

/// Header names the runtime writes.
public enum RuntimeHeaders {
    public static let sourceTopic = "cw.source.topic"
    public static let sourcePartition = "cw.source.partition"
    public static let sourceOffset = "cw.source.offset"
    /// `<transactional.id>/<run id>/<transaction number>`: which transaction wrote a record.
    public static let transaction = "cw.txn"
    public static let dlqReason = "cw.dlq.reason"
    public static let dlqKind = "cw.dlq.kind"
    public static let dlqWorker = "cw.dlq.worker"
    public static let dlqTime = "cw.dlq.time"
    /// On a dead letter whose value was cut (a record above `record.max_bytes`): the original size.
    public static let dlqOriginalBytes = "cw.dlq.original-bytes"
    /// How much of a too-large record's value its dead letter keeps.
    public static let deadLetterPrefixBytes = 64 << 10
    public static let lateReason = "cw.late.reason"
    /// On changelog records: the input offsets their transaction commits (`topic:partition:offset,…`).
    public static let inputOffsets = "cw.input.offsets"

    static func encodeOffsets(_ offsets: [TopicPartition: Int64], partition: Int32) -> [UInt8] {
        Array(offsets.filter { $0.key.partition == partition }.sorted { $0.key < $1.key }
            .map { "\($0.key.topic):\($0.key.partition):\($0.value)" }.joined(separator: ",").utf8)
    }

    static func decodeOffsets(_ bytes: [UInt8]) -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for item in String(decoding: bytes, as: UTF8.self).split(separator: ",") {
            let parts = item.split(separator: ":")
            guard parts.count >= 3, let p = Int32(parts[parts.count - 2]), let o = Int64(parts[parts.count - 1]) else { continue }
            result[TopicPartition(parts.dropLast(2).joined(separator: ":"), p)] = o
        }
        return result
    }
}

/// Why a task stopped with an error (the worker exits non-zero and is restarted).
public struct TaskFailure: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

final class StreamTask: @unchecked Sendable {
    // @unchecked: everything mutable below is touched only by the task's own thread; the
    // cross-thread parts (stop flag, health, metrics) are Sendable types.
    let definition: TaskDefinition
    let options: RuntimeOptions
    let health: Health
    let metrics: RuntimeMetrics
    let reference: ReferenceStore?
    let logger: Logger
    let stopRequested = Atomic<Bool>(false)

    private var consumer: KafkaConsumer!
    private var restoreConsumer: KafkaConsumer!
    private var producer: KafkaProducer!
    private var transactional: TransactionalProducer?
    private let processor: RecordProcessor
    private var stores: StoreSet { processor.stores }
    private var context: HandlerContext { processor.context }
    private var topics: [String: ProducerTopic] = [:]

    private var transactionOpen = false
    private var transactionStarted = ContinuousClock.now
    private var transactionNumber = 0
    private let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    private var transactionalID = ""
    /// Next offsets to commit with the open transaction (or the next offset commit).
    private var pendingOffsets: [TopicPartition: Int64] = [:]
    /// At least once: output in flight per commit point, and the offsets waiting for it.
    private var ledger = DeliveryLedger()
    /// Topic-partitions currently assigned.
    private var assigned: Set<TopicPartition> = []
    private var outgoing = OutgoingBatch(reservingBytes: 1 << 20)
    /// Records appended per output topic in the batch being processed, published once per batch
    /// (a metrics lookup per record cost 1 % of the fraud-worker's CPU).
    private var outCounts: [String: Int] = [:]
    private var lastLagUpdate = ContinuousClock.now

    init(definition: TaskDefinition, options: RuntimeOptions, health: Health, metrics: RuntimeMetrics, reference: ReferenceStore?, logger: Logger) {
        self.definition = definition
        self.options = options
        self.health = health
        self.metrics = metrics
        self.reference = reference
        var l = logger
        l[metadataKey: "task"] = "\(definition.name)"
        self.logger = l
        processor = RecordProcessor(handler: definition.makeHandler(), stores: definition.stores, worker: options.worker,
                                    reference: reference?.snapshot ?? .empty)
    }

    var groupID: String { TaskDefinition.groupID(base: options.groupID, task: definition.name) }

    var changelog: String { TaskDefinition.changelogTopic(group: groupID) }

    /// Every topic the task needs before it may start.
    var requiredTopics: [String] {
        definition.inputs + definition.outputs + [options.deadLetterTopic, changelog]
    }

    // MARK: - Run

    func run() throws {
        try waitForTopics()
        if stopRequested.load(ordering: .relaxed) { return }
        try connect()
        defer { closeClients() }
        var batch: MessageBatch? = MessageBatch(capacity: options.maxBatch)
        while !stopRequested.load(ordering: .relaxed) {
            let result = try consumer.poll(into: batch!, timeout: options.maxWait)
            try noteErrors(result.errors)
            forwardLibrdkafkaLogs()
            if result.count > 0 { try processBatch(batch!) }
            if let event = result.rebalance {
                batch!.release()
                try rebalance(event)
            }
            if transactionOpen && ContinuousClock.now - transactionStarted >= options.commitInterval {
                try commit()
            }
            if ledger.hasSealedEpochs { try commitAcknowledged(flushing: false) }
            if ContinuousClock.now - lastLagUpdate >= .seconds(5) { publishGauges() }
        }
        // Graceful stop: the batch in hand is processed; commit it, then leave the group.
        try commit(flushing: true)
        batch = nil
        health.update { $0.stopping = true }
        try consumer.close()
        logger.info("task stopped cleanly")
    }

    private func waitForTopics() throws {
        let admin = try KafkaAdmin(properties: options.kafka)
        while !stopRequested.load(ordering: .relaxed) {
            do {
                let described = try admin.listTopics(timeout: .seconds(10))
                let existing = Set(described.map(\.name))
                for t in described { context.partitionCounts[t.name] = Int32(t.partitions.count) }
                var missing = requiredTopics.filter { !existing.contains($0) }
                // The task owns its changelogs, as a Kafka Streams application does: once every
                // other topic is there, it creates the missing ones itself (compacted, partitioned
                // as its inputs), so a new group.id needs no `cargowatch topics create` first.
                if missing == [changelog] {
                    let partitions = definition.inputs.compactMap { context.partitionCounts[$0] }.max() ?? 1
                    let results = try admin.createTopics(missing.map {
                        TopicSpec(name: $0, partitions: partitions, config: ["cleanup.policy": "compact", "min.compaction.lag.ms": "0"])
                    })
                    missing = []
                    for (name, result) in results.sorted(by: { $0.key < $1.key }) {
                        switch result {
                        case .created:
                            context.partitionCounts[name] = partitions
                            logger.notice("created changelog topic", metadata: ["topic": "\(name)", "partitions": "\(partitions)"])
                        case .alreadyExists:  // another instance was faster: list again
                            missing.append(name)
                        case .failed(let e):
                            missing.append(name)
                            logger.error("cannot create changelog topic (retrying)", metadata: ["topic": "\(name)", "error": "\(e)"])
                        }
                    }
                }
                health.update {
                    $0.missingTopics = missing
                    $0.brokerReachable = true
                    $0.lastError = nil
                }
                if missing.isEmpty { return }
                logger.error("required topics are missing; create them with `cargowatch topics create` (retrying)",
                             metadata: ["missing": "\(missing.joined(separator: ","))"])
            } catch {
                if let refused = credentialFailure(admin.drainErrors() + [error]) { throw refused }
                health.update {
                    $0.brokerReachable = false
                    $0.lastError = error.message
                }
                logger.error("cannot list topics (retrying)", metadata: ["error": "\(error)"])
            }
            sleepInterruptibly(options.topicWaitInterval)
        }
    }

    private func sleepInterruptibly(_ d: Duration) {
        let end = ContinuousClock.now + d
        while ContinuousClock.now < end && !stopRequested.load(ordering: .relaxed) {
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    private func connect() throws {
        var consumerProps = options.kafka
        consumerProps["group.id"] = groupID
        consumerProps["isolation.level"] = "read_committed"
        consumerProps["enable.auto.commit"] = "false"
        consumerProps["partition.assignment.strategy"] = definition.assignor
        for (key, value) in RuntimeSettings.consumerDefaults where consumerProps[key] == nil { consumerProps[key] = value }
        if consumerProps["queued.max.messages.kbytes"] == nil { consumerProps["queued.max.messages.kbytes"] = String(options.prefetchKBytes) }
        consumerProps.removeValue(forKey: "partitioner")  // a producer property
        consumer = try KafkaConsumer(properties: consumerProps)

        var restoreProps = consumerProps
        restoreProps["group.id"] = "\(groupID)-restore"
        restoreProps["fetch.wait.max.ms"] = "20"  // restore reads to the end: don't wait for more
        restoreProps.removeValue(forKey: "partition.assignment.strategy")
        restoreConsumer = try KafkaConsumer(properties: restoreProps)

        var producerProps = options.kafka
        if options.guarantee == .exactlyOnce {
            transactionalID = "\(groupID)-\(options.instanceID)"
            producerProps["transactional.id"] = transactionalID
            let txn = try TransactionalProducer(properties: producerProps)
            try retrying("init transactions") { try txn.initTransactions(timeout: .seconds(60)) }
            transactional = txn
            producer = txn.producer
        } else {
            producerProps["acks"] = producerProps["acks"] ?? "all"
            producer = try KafkaProducer(properties: producerProps)
        }
        try consumer.subscribe(definition.inputs)
        logger.info("task started", metadata: [
            "run": "\(runID)", "group": "\(groupID)", "inputs": "\(definition.inputs.joined(separator: ","))",
            "guarantee": "\(options.guarantee.rawValue)", "assignor": "\(definition.assignor)",
        ])
    }

    private func closeClients() {
        // Order matters: a consumer holding messages cannot be destroyed before they are released.
        consumer = nil
        restoreConsumer = nil
        transactional = nil
        producer = nil
    }

    private func retrying(_ what: String, _ body: () throws -> Void) throws {
        var attempt = 0
        while true {
            do {
                try body()
                return
            } catch let error as KafkaError {
                guard error.isRetriable, attempt < 10, !stopRequested.load(ordering: .relaxed) else { throw error }
                attempt += 1
                logger.warning("\(what) failed, retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                Thread.sleep(forTimeInterval: min(5, 0.2 * Double(attempt)))
            }
        }
    }

    /// librdkafka's own log lines (its `debug` property turns on more) into the worker's log.
    private func forwardLibrdkafkaLogs() {
        for entry in consumer.drainLogs() + producer.drainLogs() {
            let level: Logger.Level = entry.level <= 3 ? .error : entry.level == 4 ? .warning : entry.level <= 6 ? .info : .debug
            logger.log(level: level, "librdkafka: \(entry.message)", metadata: ["facility": "\(entry.facility)"])
        }
    }

    /// A refused login or an untrusted broker certificate is a configuration error (exit 78,
    /// naming the properties): librdkafka alone would reconnect many times a second forever.
    private func credentialFailure(_ errors: [KafkaError]) -> ConfigError? {
        guard let e = errors.first(where: \.isCredentialFailure) else { return nil }
        let keys = e.credentialProperties
        return ConfigError(key: keys.map { "kafka.\($0)" }.joined(separator: ", "), source: nil,
                           message: "the broker connection was refused: \(e.message) (check \(keys.map { "KAFKA_" + $0.uppercased().replacingOccurrences(of: ".", with: "_") }.joined(separator: ", ")))")
    }

    private func noteErrors(_ errors: [KafkaError]) throws {
        if let refused = credentialFailure(errors) { throw refused }
        var down = false
        for e in errors {
            metrics.kafkaError(e.name)
            if e.code == KafkaError.allBrokersDown || e.code == KafkaError.transport { down = true }
            logger.warning("kafka reported an error", metadata: ["error": "\(e)"])
        }
        if down {
            health.update {
                $0.brokerReachable = false
                $0.lastError = errors.last?.message
            }
        } else {
            health.update { if !$0.brokerReachable { $0.brokerReachable = true; $0.lastError = nil } }
        }
    }

    // MARK: - Processing

    private func topic(_ name: String) throws(KafkaError) -> ProducerTopic {
        if let t = topics[name] { return t }
        let t = try producer.topic(name)
        topics[name] = t
        return t
    }

    private func beginIfNeeded() throws {
        guard !transactionOpen else { return }
        if let transactional {
            try transactional.beginTransaction()
            transactionNumber += 1
            transactionHeader = Array("\(transactionalID)/\(runID)/\(transactionNumber)".utf8)
        }
        transactionOpen = true
        transactionStarted = ContinuousClock.now
    }

    /// The `cw.txn` header of the open transaction's records (built once per transaction).
    private var transactionHeader: [UInt8] = []
    /// Reused for each changelog record's key (store name, separator, key).
    private var changelogKey: [UInt8] = []

    private func processBatch(_ batch: MessageBatch) throws {
        let started = ContinuousClock.now
        try beginIfNeeded()
        if let reference { context.reference = reference.snapshot }
        outgoing.removeAll()
        var inCounts: [String: Int] = [:]
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        for i in 0..<batch.count {
            let m = batch[i]
            inCounts[m.topic, default: 0] += 1
            pendingOffsets[TopicPartition(m.topic, m.partition)] = m.offset + 1
            if let ts = m.timestampMs, nowMs >= ts { metrics.recordLatency.recordMilliseconds(nowMs - ts) }
            let size = m.value?.count ?? 0
            if size > options.maxRecordBytes {
                try deadLetter(m, kind: "too_large", reason: "record of \(size) bytes exceeds record.max_bytes (\(options.maxRecordBytes))",
                               keepingBytes: RuntimeHeaders.deadLetterPrefixBytes)
                continue
            }
            switch processor.process(InputRecord(m)) {
            case .processed:
                try appendOutputs(context.outputs, source: m)
            case .deadLetter(let kind, let reason):
                if kind == "decode" { metrics.decodeError() }
                try deadLetter(m, kind: kind, reason: reason)
            case .late(let reason):
                try late(m, reason: reason)
            }
            guard try sendIfFull() else { return }  // the send aborted the transaction: the batch is read again
        }
        for (topicName, n) in inCounts { metrics.recordsIn(topicName, n) }
        let failures = try processor.finishBatch { outputs in try appendOutputs(outputs, source: nil) }
        for (topicName, n) in outCounts { metrics.recordsOut(topicName, n) }
        outCounts.removeAll(keepingCapacity: true)
        for (partition, error) in failures {
            logger.error("handler failed while stream time advanced", metadata: ["partition": "\(partition)", "error": "\(error)"])
            metrics.handlerEvent("stream_time_error", 1)
        }
        publishCounters()
        try send()
        let took = ContinuousClock.now - started
        metrics.batchDuration.recordNanoseconds(took.wholeNanoseconds)
    }

    private func publishCounters() {
        guard !context.counters.isEmpty else { return }
        for (name, n) in context.counters { metrics.handlerEvent(name, n) }
        context.counters.removeAll(keepingCapacity: true)
    }

    private func appendOutputs(_ outputs: [OutputRecord], source m: ConsumerMessage?) throws {
        for o in outputs {
            // Written straight into the batch: building these as arrays cost six allocations
            // per output (heaptrack, enrichment-worker).
            for (name, value) in o.headers { outgoing.addHeader(name, value) }
            if let m {
                outgoing.addHeader(RuntimeHeaders.sourceTopic, m.topic.utf8)
                outgoing.addHeader(RuntimeHeaders.sourcePartition, decimal: Int64(m.partition))
                outgoing.addHeader(RuntimeHeaders.sourceOffset, decimal: m.offset)
            }
            if transactional != nil { outgoing.addHeader(RuntimeHeaders.transaction, transactionHeader) }
            outgoing.append(topic: try topic(o.topic), partition: o.partition, key: o.key, value: o.value)
            outCounts[o.topic, default: 0] += 1
        }
    }

    /// keepingBytes: cut the value to this many bytes (a record too large to read is usually too
    /// large for the dead-letter producer too); the original size goes in a header.
    private func deadLetter(_ m: ConsumerMessage, kind: String, reason: String, keepingBytes: Int? = nil) throws {
        metrics.deadLetter(kind)
        var headers = m.headers.map { ($0.name, $0.value) }
        var value = m.value
        if let keep = keepingBytes, let v = m.value, v.count > keep {
            value = UnsafeRawBufferPointer(rebasing: v[..<keep])
            headers.append((RuntimeHeaders.dlqOriginalBytes, Array(String(v.count).utf8)))
        }
        headers += [
            (RuntimeHeaders.dlqReason, Array(String(reason.prefix(1000)).utf8)),
            (RuntimeHeaders.dlqKind, Array(kind.utf8)),
            (RuntimeHeaders.sourceTopic, Array(m.topic.utf8)),
            (RuntimeHeaders.sourcePartition, Array(String(m.partition).utf8)),
            (RuntimeHeaders.sourceOffset, Array(String(m.offset).utf8)),
            (RuntimeHeaders.dlqWorker, Array(options.worker.utf8)),
            (RuntimeHeaders.dlqTime, Array(Timestamp(millis: Int64(Date().timeIntervalSince1970 * 1000)).rfc3339.utf8)),
        ]
        if transactional != nil { headers.append((RuntimeHeaders.transaction, transactionHeader)) }
        outgoing.append(topic: try topic(options.deadLetterTopic), key: m.key, value: value, headers: headers)
        metrics.recordsOut(options.deadLetterTopic, 1)
    }

    private func late(_ m: ConsumerMessage, reason: String) throws {
        metrics.late()
        let lateTopic = Catalogue.lateTopic(options.worker)
        var headers = m.headers.map { ($0.name, $0.value) }
        headers += [
            (RuntimeHeaders.lateReason, Array(reason.utf8)),
            (RuntimeHeaders.sourceTopic, Array(m.topic.utf8)),
            (RuntimeHeaders.sourcePartition, Array(String(m.partition).utf8)),
            (RuntimeHeaders.sourceOffset, Array(String(m.offset).utf8)),
        ]
        outgoing.append(topic: try topic(lateTopic), key: m.key, value: m.value, headers: headers)
        metrics.recordsOut(lateTopic, 1)
    }

    private func send() throws {
        guard !outgoing.isEmpty else { return }
        if transactional == nil { outgoing.setID(ledger.epoch) }  // only at least once reads the ids
        do {
            try producer.send(outgoing)
        } catch {
            try fail(error, while: "producing")
        }
        if transactional == nil { ledger.sent(outgoing.count) }
        outgoing.removeAll()
        try serveDeliveries()
    }

    /// Sends what has gathered once it reaches `batch.send_kbytes`: 5,000 enriched records and
    /// their changelog came to 25 MB, and the buffer keeps its largest size (heaptrack,
    /// enrichment-worker, backlog). False when the send aborted the transaction.
    private func sendIfFull() throws -> Bool {
        guard outgoing.byteCount >= options.sendChunkBytes else { return true }
        try send()
        return transactionOpen
    }

    /// Serves delivery reports so they don't pile up; a failed delivery fails the transaction
    /// (at least once: the task, which then replays from the committed offsets).
    private func serveDeliveries() throws {
        producer.poll()
        let (_, failed) = producer.drainDeliveries { ledger.acknowledged($0) }
        if let first = failed.first { try fail(first, while: "delivering") }
    }

    // MARK: - Commit and abort

    /// Commits the open transaction (offsets and state changes included) or, at least once,
    /// commits the offsets whose output is acknowledged; `flushing` waits for all of it (before
    /// partitions go, and at stop).
    func commit(flushing: Bool = false) throws {
        guard transactionOpen else {
            if flushing && ledger.hasSealedEpochs { try commitAcknowledged(flushing: true) }
            return
        }
        let started = ContinuousClock.now
        defer {
            let took = ContinuousClock.now - started
            metrics.commitDuration.recordNanoseconds(took.wholeNanoseconds)
        }
        outgoing.removeAll()
        let t = try topic(changelog)
        for store in stores.all {
            let changes = store.pendingChanges
            guard !changes.isEmpty else { continue }
            let headers = [(RuntimeHeaders.inputOffsets, RuntimeHeaders.encodeOffsets(pendingOffsets, partition: store.partition))]
            let prefix = Array((store.name + TaskDefinition.changelogSeparator).utf8)
            for change in changes {
                changelogKey.removeAll(keepingCapacity: true)
                changelogKey += prefix
                changelogKey += change.key.utf8
                outgoing.append(topic: t, partition: store.partition, key: changelogKey, value: change.value, headers: headers)
                guard try sendIfFull() else { return }
            }
        }
        try send()
        guard transactionOpen else { return }  // the send aborted the transaction
        let offsets = pendingOffsets
        if let transactional {
            do {
                try transactional.sendOffsetsToTransaction(offsets, consumer: consumer)
                try transactional.commitTransaction()
            } catch {
                try fail(error, while: "committing the transaction")
                return
            }
            metrics.transaction("committed")
        } else {
            ledger.seal(offsets)
        }
        stores.mergeAll()
        pendingOffsets.removeAll()
        transactionOpen = false
        if transactional == nil { try commitAcknowledged(flushing: flushing) }
    }

    /// At least once: commits the offsets of every sealed epoch whose output the broker has
    /// acknowledged. Periodic commits are asynchronous (a lost one only means a longer replay;
    /// its error is reported like any Kafka error); a flushing commit waits for the broker.
    private func commitAcknowledged(flushing: Bool) throws {
        do {
            if flushing { try producer.flush(timeout: .seconds(60)) }
            try serveDeliveries()
            let offsets = ledger.takeCommittable()
            try consumer.commit(offsets, async: !flushing)
        } catch {
            throw TaskFailure(message: "at-least-once commit failed: \(error); restarting replays from the last committed offsets")
        }
    }

    /// Classifies a Kafka failure the way librdkafka's transactions example does: abortable →
    /// abort, roll state back and re-read from the last committed offsets; fatal → stop the task.
    private func fail(_ error: Error, while doing: String) throws {
        guard let k = error as? KafkaError, transactional != nil else {
            throw TaskFailure(message: "\(doing) failed: \(error)")
        }
        if k.isFatal {
            throw TaskFailure(message: "fatal Kafka error while \(doing): \(k) (fenced or broken producer; the worker restarts)")
        }
        logger.warning("aborting the transaction", metadata: ["while": "\(doing)", "error": "\(k)"])
        try abort()
    }

    private func abort() throws {
        guard transactionOpen else { return }
        do {
            try transactional?.abortTransaction()
        } catch {
            throw TaskFailure(message: "abort failed: \(error)")
        }
        metrics.transaction("aborted")
        processor.abort()
        outgoing.removeAll()
        // Re-read what the aborted transaction had consumed.
        let partitions = Array(pendingOffsets.keys)
        pendingOffsets.removeAll()
        transactionOpen = false
        if !partitions.isEmpty {
            let committed = try consumer.committed(partitions)
            try consumer.seek(committed.mapValues { $0 >= 0 ? $0 : -2 /* RD_KAFKA_OFFSET_BEGINNING */ })
        }
    }

    // MARK: - Rebalance

    private func rebalance(_ event: RebalanceEvent) throws {
        switch event {
        case .revoked(let parts):
            metrics.rebalance("revoked")
            // Still ours: commit what was done for them before they go.
            try commit(flushing: true)
            removeAssignment(parts)
            logger.info("partitions revoked", metadata: ["partitions": "\(parts.map(\.description).joined(separator: ","))"])
        case .lost(let parts):
            metrics.rebalance("lost")
            try abort()
            removeAssignment(parts)
            logger.warning("partitions lost", metadata: ["partitions": "\(parts.map(\.description).joined(separator: ","))"])
        case .assigned(let parts):
            metrics.rebalance("assigned")
            try commit()
            assigned.formUnion(parts)
            try restore(Set(parts.map(\.partition)))
            health.update { $0.assigned = true }
            logger.info("partitions assigned", metadata: ["partitions": "\(parts.map(\.description).joined(separator: ","))"])
        }
        metrics.assignedPartitions(definition.name, assigned.count)
        metrics.ready(health.isReady)
        try consumer.completeRebalance()
    }

    private func removeAssignment(_ parts: [TopicPartition]) {
        assigned.subtract(parts)
        let stillHeld = Set(assigned.map(\.partition))
        for p in Set(parts.map(\.partition)) where !stillHeld.contains(p) { stores.close(partition: p) }
        for tp in parts { pendingOffsets.removeValue(forKey: tp) }
        ledger.forget(parts)
    }

    /// Rebuilds the stores of newly assigned partitions from their changelogs, before any of
    /// their records is processed (librdkafka waits for `completeRebalance`).
    private func restore(_ partitions: Set<Int32>) throws {
        let fresh = partitions.filter { stores.store(RuntimeStore.name, partition: $0) == nil }
        guard !fresh.isEmpty else { return }
        let labels = fresh.sorted().map { "\(definition.name)[\($0)]" }
        health.update { $0.restoring.formUnion(labels) }
        defer { health.update { $0.restoring.subtract(labels) } }
        let started = ContinuousClock.now
        var restored = 0
        // A changelog record whose transaction would commit input offsets beyond what the group
        // has committed belongs to a transaction that never committed. Apache Kafka hides those
        // from read_committed readers anyway; the local broker (Tansu 0.6) does not, so skip them
        // here. (A later committed transaction that reprocessed the same offsets rewrote the same
        // keys after them, so skipping by committed offsets is exact.)
        let inputs = fresh.flatMap { p in definition.inputs.map { TopicPartition($0, p) } }
        let committed = try consumer.committed(inputs)
        var skipped = 0
        for p in fresh.sorted() { stores.open(partition: p) }
        // Changelogs of the per-store layout, where they exist, first: what the task's changelog
        // holds was written after them and wins.
        var legacy: [TopicPartition: String] = [:]
        for store in stores.definitions {
            let topic = TaskDefinition.legacyChangelogTopic(group: groupID, store: store.name)
            guard context.partitionCounts[topic] != nil else { continue }
            for p in fresh { legacy[TopicPartition(topic, p)] = store.name }
        }
        let batch = MessageBatch(capacity: 5000)
        func drain(_ partitions: Set<TopicPartition>, _ apply: (ConsumerMessage, [UInt8]) -> Bool) throws {
            // All partitions at once: each is read from the beginning until the position reaches
            // the end the broker reported.
            var pending = partitions
            guard !pending.isEmpty else { return }
            try restoreConsumer.assign(Dictionary(uniqueKeysWithValues: pending.map { ($0, Int64(-2) /* beginning */) }))
            let deadline = ContinuousClock.now + .seconds(300)
            while !pending.isEmpty {
                guard ContinuousClock.now < deadline else {
                    throw TaskFailure(message: "restoring \(pending.sorted().map(\.description).joined(separator: ",")) did not finish in 300 s")
                }
                let r = try restoreConsumer.poll(into: batch, timeout: .milliseconds(50))
                for i in 0..<r.count {
                    let m = batch[i]
                    guard let key = m.key, pending.contains(TopicPartition(m.topic, m.partition)) else { continue }
                    if let header = m.header(RuntimeHeaders.inputOffsets),
                       RuntimeHeaders.decodeOffsets(header).contains(where: { $0.value > (committed[$0.key] ?? -1) }) {
                        skipped += 1
                        continue
                    }
                    if apply(m, Array(key)) { restored += 1 }
                }
                if r.count == 0 {
                    let positions = restoreConsumer.positions(Array(pending))
                    for tp in Array(pending) {
                        guard let marks = restoreConsumer.cachedWatermarks(tp) else { continue }
                        if marks.high == 0 || (positions[tp] ?? -1) >= marks.high { pending.remove(tp) }
                    }
                }
            }
        }
        try drain(Set(legacy.keys)) { m, key in
            guard let store = legacy[TopicPartition(m.topic, m.partition)], let kv = stores.store(store, partition: m.partition) else { return false }
            kv.restore(key: String(decoding: key, as: UTF8.self), value: m.valueBytes)
            return true
        }
        let separator = TaskDefinition.changelogSeparator.utf8.first!
        try drain(Set(fresh.map { TopicPartition(changelog, $0) })) { m, key in
            // A key without a known store's name is not the runtime's: left alone.
            guard let split = key.firstIndex(of: separator),
                  let kv = stores.store(String(decoding: key[..<split], as: UTF8.self), partition: m.partition) else { return false }
            kv.restore(key: String(decoding: key[(split + 1)...], as: UTF8.self), value: m.valueBytes)
            return true
        }
        batch.release()
        try restoreConsumer.assign([:])
        logger.info("state restored", metadata: ["partitions": "\(fresh.sorted())", "records": "\(restored)", "skipped_uncommitted": "\(skipped)",
                                                 "ms": "\((ContinuousClock.now - started).wholeMilliseconds)"])
    }

    private func publishGauges() {
        lastLagUpdate = ContinuousClock.now
        for (tp, lag) in consumer.lag() { metrics.lag(tp.topic, tp.partition, lag) }
        metrics.storeKeys(definition.name, stores.totalKeys)
        metrics.ready(health.isReady)
    }
}
