import CRdKafka

/// The librdkafka this process loaded at run time (which may differ from the one it was built
/// against: ld.so decides).
public enum Librdkafka {
    public static let minimumVersion = (major: 2, minor: 8)

    public static var versionString: String { String(cString: rd_kafka_version_str()) }

    /// (major, minor, patch) decoded from `rd_kafka_version()` (0xMMmmrrxx).
    public static var version: (major: Int, minor: Int, patch: Int) {
        let v = Int(rd_kafka_version())
        return ((v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff)
    }

    /// Throws unless the loaded librdkafka is at least 2.8: older ones fail against the local
    /// broker with "Read underflow" while parsing ApiVersion v3.
    public static func requireSupportedVersion() throws(KafkaError) {
        let v = version
        if (v.major, v.minor) < (minimumVersion.major, minimumVersion.minor) {
            throw KafkaError(
                code: RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED.rawValue,
                message: "librdkafka \(versionString) was loaded, but Cargowatch needs >= \(minimumVersion.major).\(minimumVersion.minor): run ops/install-deps (it builds 2.8 into /usr/local) or point LD_LIBRARY_PATH at a newer one")
        }
    }
}
