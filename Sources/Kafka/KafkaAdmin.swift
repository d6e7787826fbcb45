#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRdKafka
import KafkaShim

public struct TopicSpec: Sendable, Equatable {
    public var name: String
    public var partitions: Int32
    /// -1: the broker's default.
    public var replicationFactor: Int32
    /// Topic-level configs, e.g. `cleanup.policy=compact`, `retention.ms`.
    public var config: [String: String]

    public init(name: String, partitions: Int32, replicationFactor: Int32 = -1, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}

public enum TopicCreation: Sendable, Equatable {
    case created
    case alreadyExists
    case failed(KafkaError)
}

/// Creates, lists and describes topics.
public final class KafkaAdmin: Sendable {
    let core: ClientCore

    public init(properties: [String: String]) throws(KafkaError) {
        core = try ClientCore(kind: CW_PRODUCER, properties: properties)
    }

    public var brokers: String { core.brokers }

    /// Errors librdkafka reported in the background since the last call (e.g. authentication).
    public func drainErrors() -> [KafkaError] {
        _ = cw_poll(core.raw, 0)  // error callbacks of a non-consumer client run only when polled
        return core.drainErrors()
    }

    /// Creates the topics; one outcome per topic name. Throws when the request itself fails
    /// (e.g. no broker reachable within `timeout`).
    public func createTopics(_ specs: [TopicSpec], timeout: Duration = .seconds(10)) throws(KafkaError) -> [String: TopicCreation] {
        if specs.isEmpty { return [:] }
        // C copies of every string, freed when the call returns.
        var strings: [UnsafeMutablePointer<CChar>?] = []
        var arrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []
        defer {
            strings.forEach { free($0) }
            arrays.forEach { $0.deallocate() }
        }
        func c(_ s: String) -> UnsafePointer<CChar> {
            let p = strdup(s)
            strings.append(p)
            return UnsafePointer(p!)
        }
        func array(_ items: [String]) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
            let a = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: max(1, items.count))
            for (i, item) in items.enumerated() { a[i] = c(item) }
            arrays.append(a)
            return a
        }
        let cSpecs = specs.map { spec in
            let cfg = spec.config.sorted { $0.key < $1.key }
            return cw_topic_spec(name: c(spec.name), partitions: spec.partitions,
                                 replication_factor: spec.replicationFactor,
                                 config_keys: array(cfg.map(\.key)), config_values: array(cfg.map(\.value)),
                                 config_count: cfg.count)
        }
        var err = cw_error()
        var results = [cw_topic_result](repeating: cw_topic_result(), count: specs.count)
        let rc = cw_admin_create_topics(core.raw, cSpecs, cSpecs.count, timeout.milliseconds, &results, &err)
        if rc != 0 { throw KafkaError(err, brokers: core.brokers) }
        var outcome: [String: TopicCreation] = [:]
        for (i, spec) in specs.enumerated() {
            var r = results[i]
            let message = withUnsafeBytes(of: &r.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            switch r.code {
            case 0: outcome[spec.name] = .created
            case KafkaError.topicAlreadyExists: outcome[spec.name] = .alreadyExists
            default: outcome[spec.name] = .failed(KafkaError(code: r.code, message: message, brokers: core.brokers, topic: spec.name))
            }
        }
        return outcome
    }

    /// Every topic the cluster knows, with its partitions.
    public func listTopics(timeout: Duration = .seconds(10)) throws(KafkaError) -> [TopicDescription] {
        try core.metadata(timeout: timeout).topics.filter { $0.errorCode == 0 }
    }

    public func metadata(timeout: Duration = .seconds(10)) throws(KafkaError) -> ClusterMetadata {
        try core.metadata(timeout: timeout)
    }
}
