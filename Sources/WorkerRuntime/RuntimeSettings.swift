import Catalogue
import FleetConfig

/// Settings every worker has. A worker's own settings come after these in its spec.
public enum RuntimeSettings {
    public static func common(worker: String, httpPort: Int) -> [Setting] {
        let short = Catalogue.shortName(worker)
        return [
            Setting("http.port", .int(1...65535), default: String(httpPort), "Port of /healthz, /readyz and /metrics."),
            Setting("log.level", .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]), default: "info",
                    "Lowest level logged (JSON lines on stdout)."),
            Setting("processing.guarantee", .choice(["exactly_once", "at_least_once"]), default: "exactly_once",
                    "exactly_once: transactional producer, consumed offsets committed in the transaction, outputs read_committed. at_least_once: idempotent producer, offsets committed once their output is acknowledged, without pausing to flush (duplicates possible after a crash)."),
            Setting("group.id", .name, default: "cargowatch-\(short)", "Consumer group; instances with the same group share the partitions."),
            Setting("instance.id", .string, default: "", "Stable id of this instance (default: host name); part of the transactional.id so a restart fences its predecessor at once."),
            Setting("batch.max_records", .int(1...100_000), default: "5000", "Most records taken from one poll."),
            Setting("batch.max_wait", .duration(.milliseconds(1)...(.seconds(10))), default: "50ms", "Longest a poll waits when no record is queued; it returns as soon as there is one, with whatever else is queued (up to batch.max_records)."),
            Setting("batch.send_kbytes", .int(1...1_048_576), default: "4096",
                    "A batch's outputs go to the producer whenever this many KiB have gathered, not all at once at its end: the buffer that gathers them keeps its largest size, and a batch of 5,000 large records came to 25 MB."),
            Setting("consumer.prefetch_kbytes", .int(1024...2_097_151), default: String(defaultPrefetchKBytes),
                    "How much each of the worker's consumers prefetches (librdkafka queued.max.messages.kbytes, unless KAFKA_QUEUED_MAX_MESSAGES_KBYTES is set): much of a worker's memory. It must hold more than fetch.queue.backoff.ms (100 ms) of input: raise it for a worker that reads faster than about 80 MB/s (BENCHMARKS.md)."),
            Setting("commit.interval", .duration(.milliseconds(1)...(.seconds(60))), default: "100ms",
                    "How often a transaction is committed (exactly_once) or offsets are committed (at_least_once)."),
            Setting("record.max_bytes", .int(1024...(64 << 20)), default: String(1 << 20), "Larger input records go to the dead-letter topic unread, with their first 64 KiB and their size (cw.dlq.original-bytes)."),
            Setting("shutdown.deadline", .duration(.seconds(1)...(.seconds(600))), default: "30s",
                    "On SIGTERM/SIGINT: finish the batch, commit and leave the group within this time, then exit anyway. A second signal exits at once."),
            Setting("topics.dlq", .name, default: Catalogue.deadLetterTopic(worker), "Dead-letter topic."),
            Setting("topics.wait_interval", .duration(.seconds(1)...(.seconds(300))), default: "5s",
                    "While required topics are missing: how often to check again (the worker stays not-ready meanwhile)."),
            Setting("broker.probe_interval", .duration(.seconds(1)...(.seconds(300))), default: "5s",
                    "How often the worker asks the cluster for metadata; a broker that does not answer makes /readyz not ready (a frozen broker keeps connections up, so the clients alone notice only minutes later)."),
            Setting("broker.probe_timeout", .duration(.milliseconds(100)...(.seconds(60))), default: "3s", "How long the metadata probe waits for an answer."),
            Setting("reference.dir", .string, default: "", "Directory of the reference tables (default: ./reference, or /opt/cargowatch/reference in the image)."),
            Setting("reference.reload_interval", .duration(.seconds(1)...(.seconds(86_400))), default: "60s",
                    "How often to check the reference files for changes (SIGHUP reloads at once)."),
        ]
    }

    /// What each consumer prefetches (queued.max.messages.kbytes), every worker alike. With the
    /// 100 ms fetch backoff (`consumerDefaults`), 8 MiB kept every worker and the passthrough fed
    /// on the local broker, for 30-80 MiB less than librdkafka's 64 MiB;
    /// 4 MiB halved the fast stages (BENCHMARKS.md, session 12).
    public static let defaultPrefetchKBytes = 8_192

    /// librdkafka defaults of the fleet; any `KAFKA_*` variable or `kafka:` entry overrides them.
    public static let kafkaDefaults: [String: String] = [
        "bootstrap.servers": "localhost:9092",
        // Java clients partition by murmur2; matching it keeps co-partitioned joins correct when
        // upstream producers are Java.
        "partitioner": "murmur2_random",
    ]

    /// librdkafka defaults of the workers' consumers, also overridden by `KAFKA_*` or `kafka:`
    /// (`queued.max.messages.kbytes` comes from `consumer.prefetch_kbytes`).
    public static let consumerDefaults: [String: String] = [
        "auto.offset.reset": "earliest",
        // When the prefetch queue is full, librdkafka waits this long before fetching that
        // partition again. Its default, 1 s, is longer than a 16 MiB queue takes to drain: the
        // sensitivity-worker stalled for data, 20-40 % below its speed (BENCHMARKS.md, session 12).
        "fetch.queue.backoff.ms": "100",
    ]
}

/// The typed view of the common settings.
public struct RuntimeOptions: Sendable {
    public enum Guarantee: String, Sendable { case exactlyOnce = "exactly_once", atLeastOnce = "at_least_once" }

    public var worker: String
    public var httpPort: Int
    public var logLevel: String
    public var guarantee: Guarantee
    public var groupID: String
    public var instanceID: String
    public var maxBatch: Int
    public var maxWait: Duration
    public var sendChunkBytes: Int
    public var prefetchKBytes: Int
    public var commitInterval: Duration
    public var maxRecordBytes: Int
    public var shutdownDeadline: Duration
    public var deadLetterTopic: String
    public var topicWaitInterval: Duration
    public var brokerProbeInterval: Duration
    public var brokerProbeTimeout: Duration
    public var referenceDirectory: String?
    public var referenceReloadInterval: Duration
    public var kafka: [String: String]

    public init(worker: String, config: LoadedConfig) {
        self.worker = worker
        httpPort = config.int("http.port")
        logLevel = config.string("log.level")
        guarantee = Guarantee(rawValue: config.string("processing.guarantee")) ?? .exactlyOnce
        groupID = config.string("group.id")
        let instance = config.string("instance.id")
        instanceID = instance.isEmpty ? RuntimeOptions.hostName() : instance
        maxBatch = config.int("batch.max_records")
        maxWait = config.duration("batch.max_wait")
        sendChunkBytes = config.int("batch.send_kbytes") * 1024
        prefetchKBytes = config.int("consumer.prefetch_kbytes")
        commitInterval = config.duration("commit.interval")
        maxRecordBytes = config.int("record.max_bytes")
        shutdownDeadline = config.duration("shutdown.deadline")
        deadLetterTopic = config.string("topics.dlq")
        topicWaitInterval = config.duration("topics.wait_interval")
        brokerProbeInterval = config.duration("broker.probe_interval")
        brokerProbeTimeout = config.duration("broker.probe_timeout")
        let dir = config.string("reference.dir")
        referenceDirectory = dir.isEmpty ? nil : dir
        referenceReloadInterval = config.duration("reference.reload_interval")
        kafka = config.kafkaProperties(defaults: RuntimeSettings.kafkaDefaults)
    }

    static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "instance" : name
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
