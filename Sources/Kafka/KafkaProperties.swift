import CRdKafka

/// librdkafka configuration checks that need no broker.
public enum KafkaProperties {
    /// Sets every property on a scratch configuration; the first one librdkafka rejects is
    /// returned with its message (which names the property). Used at start-up so that a bad
    /// `KAFKA_*` setting is a configuration error (exit 78), not a crash later.
    public static func firstInvalid(_ properties: [String: String]) -> (property: String, message: String)? {
        guard let conf = rd_kafka_conf_new() else { return nil }
        defer { rd_kafka_conf_destroy(conf) }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                let message = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return (key, message)
            }
        }
        return nil
    }
}
