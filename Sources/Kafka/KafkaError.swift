import CRdKafka
import KafkaShim

/// An error from librdkafka or the broker, classified as librdkafka classifies it
/// (see librdkafka's `examples/transactions.c`): retry the call, abort the transaction, or give up
/// on the client instance.
public struct KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` value (negative: local errors, positive: broker errors).
    public let code: Int32
    public let message: String
    public let isRetriable: Bool
    /// The current transaction must be aborted; the producer stays usable.
    public let requiresAbort: Bool
    /// The client instance is unusable and must be recreated (e.g. a fenced transactional producer).
    public let isFatal: Bool
    /// The bootstrap servers of the client that failed, when known.
    public var brokers: String?
    /// The topic concerned, when known.
    public var topic: String?

    public init(code: Int32, message: String, isRetriable: Bool = false, requiresAbort: Bool = false,
                isFatal: Bool = false, brokers: String? = nil, topic: String? = nil) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
        self.requiresAbort = requiresAbort
        self.isFatal = isFatal
        self.brokers = brokers
        self.topic = topic
    }

    init(_ err: cw_error, brokers: String?, topic: String? = nil) {
        var copy = err
        let message = withUnsafeBytes(of: &copy.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        self.init(code: err.code, message: message, isRetriable: err.retriable != 0,
                  requiresAbort: err.abortable != 0, isFatal: err.fatal != 0, brokers: brokers, topic: topic)
    }

    init(code: rd_kafka_resp_err_t, context: String, brokers: String?, topic: String? = nil) {
        let text = String(cString: rd_kafka_err2str(code))
        self.init(code: code.rawValue, message: "\(context): \(text)", brokers: brokers, topic: topic)
    }

    /// librdkafka's symbolic name, e.g. `_TRANSPORT` or `TOPIC_ALREADY_EXISTS`.
    public var name: String { String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: code))) }

    public var description: String {
        var text = "Kafka error \(name) (\(code)): \(message)"
        if let topic { text += " [topic \(topic)]" }
        if let brokers { text += " [brokers \(brokers)]" }
        if isFatal { text += " [fatal]" } else if requiresAbort { text += " [abort transaction]" } else if isRetriable { text += " [retriable]" }
        return text
    }

    /// The broker refused who we are (SASL) or we refused the broker (TLS certificate): retrying
    /// cannot help, and librdkafka would reconnect many times a second forever. Callers treat it
    /// as a configuration error.
    public var isCredentialFailure: Bool {
        code == RD_KAFKA_RESP_ERR__AUTHENTICATION.rawValue || code == RD_KAFKA_RESP_ERR__SSL.rawValue
            || code == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED.rawValue
    }

    /// For a credential failure: the librdkafka properties to look at.
    public var credentialProperties: [String] {
        code == RD_KAFKA_RESP_ERR__SSL.rawValue
            ? ["ssl.ca.location", "ssl.certificate.location", "ssl.key.location"]
            : ["sasl.mechanisms", "sasl.username", "sasl.password"]
    }

    public static let queueFull = RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue
    public static let timedOut = RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue
    public static let transport = RD_KAFKA_RESP_ERR__TRANSPORT.rawValue
    public static let allBrokersDown = RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue
    public static let invalidArgument = RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue
    public static let topicAlreadyExists = RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue
    public static let unknownTopic = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue
    public static let fenced = RD_KAFKA_RESP_ERR__FENCED.rawValue
    public static let producerFenced = RD_KAFKA_RESP_ERR_PRODUCER_FENCED.rawValue
}

/// Something librdkafka said asynchronously: an error (`level` 3) or a log line.
public struct KafkaLogEntry: Sendable {
    public let level: Int
    public let facility: String
    public let message: String
    public let error: KafkaError?
}
