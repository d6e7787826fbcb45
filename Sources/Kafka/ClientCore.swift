#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRdKafka
import KafkaShim

/// Owns one shim client (and so one `rd_kafka_t`). Shared by producer, consumer and admin.
final class ClientCore: @unchecked Sendable {
    // Safe to share: librdkafka handles are thread-safe, and the shim's buffers are mutex-guarded.
    let raw: OpaquePointer
    let brokers: String

    init(kind: cw_client_kind, properties: [String: String]) throws(KafkaError) {
        try Librdkafka.requireSupportedVersion()
        brokers = properties["bootstrap.servers"] ?? properties["metadata.broker.list"] ?? "localhost:9092"
        // Apply in a stable order so that error messages are reproducible.
        let pairs = properties.sorted { $0.key < $1.key }
        let keys = pairs.map { strdup($0.key) }
        let values = pairs.map { strdup($0.value) }
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        var err = cw_error()
        let created: OpaquePointer? = keys.map { Optional(UnsafePointer($0!)) }.withUnsafeBufferPointer { k in
            values.map { Optional(UnsafePointer($0!)) }.withUnsafeBufferPointer { v in
                cw_client_new(kind, k.baseAddress, v.baseAddress, pairs.count, &err)
            }
        }
        guard let created else { throw KafkaError(err, brokers: brokers) }
        raw = created
    }

    deinit { cw_client_destroy(raw) }

    var handle: OpaquePointer { cw_client_handle(raw) }

    func drainErrors() -> [KafkaError] {
        drain(cw_drain_errors).map { $0.error ?? KafkaError(code: -1, message: $0.message, brokers: brokers) }
    }

    func drainLogs() -> [KafkaLogEntry] { drain(cw_drain_logs) }

    private func drain(_ fn: (OpaquePointer?, UnsafeMutablePointer<cw_log_entry>?, Int) -> Int) -> [KafkaLogEntry] {
        var result: [KafkaLogEntry] = []
        withUnsafeTemporaryAllocation(of: cw_log_entry.self, capacity: 64) { buf in
            while true {
                let n = fn(raw, buf.baseAddress, buf.count)
                for i in 0..<n {
                    var e = buf[i]
                    let facility = withUnsafeBytes(of: &e.facility) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    let message = withUnsafeBytes(of: &e.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    let error = e.code != 0
                        ? KafkaError(code: e.code, message: message, isFatal: e.fatal != 0, brokers: brokers)
                        : nil
                    result.append(KafkaLogEntry(level: Int(e.level), facility: facility, message: message, error: error))
                }
                if n < buf.count { break }
            }
        }
        return result
    }

    /// Cluster metadata; throws a clear error when no broker answers within `timeout`.
    func metadata(timeout: Duration) throws(KafkaError) -> ClusterMetadata {
        var md: UnsafePointer<rd_kafka_metadata>?
        let code = rd_kafka_metadata(handle, 1, nil, &md, timeout.milliseconds)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let md else {
            var e = KafkaError(code: code, context: "no metadata from the cluster within \(timeout.milliseconds) ms (is a broker reachable?)", brokers: brokers)
            if code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__TIMED_OUT {
                e = KafkaError(code: code.rawValue, message: e.message, isRetriable: true, brokers: brokers)
            }
            throw e
        }
        defer { rd_kafka_metadata_destroy(md) }
        let m = md.pointee
        let brokers = (0..<Int(m.broker_cnt)).map { i in
            ClusterMetadata.Broker(id: m.brokers[i].id, host: String(cString: m.brokers[i].host), port: Int(m.brokers[i].port))
        }
        let topics = (0..<Int(m.topic_cnt)).map { i in
            let t = m.topics[i]
            return TopicDescription(
                name: String(cString: t.topic),
                partitions: (0..<Int(t.partition_cnt)).map { t.partitions[$0].id }.sorted(),
                errorCode: t.err.rawValue)
        }
        return ClusterMetadata(brokers: brokers, topics: topics.sorted { $0.name < $1.name })
    }
}

public struct ClusterMetadata: Sendable {
    public struct Broker: Sendable {
        public let id: Int32
        public let host: String
        public let port: Int
    }
    public let brokers: [Broker]
    public let topics: [TopicDescription]
}

public struct TopicDescription: Sendable, Equatable {
    public let name: String
    public let partitions: [Int32]
    /// 0, or a broker error for this topic (e.g. unknown topic).
    public let errorCode: Int32
}

extension Duration {
    /// Whole milliseconds, clamped to librdkafka's `int` timeouts.
    var milliseconds: Int32 {
        let (seconds, attos) = components
        let ms = seconds * 1000 + attos / 1_000_000_000_000_000
        return Int32(clamping: max(0, ms))
    }
}
