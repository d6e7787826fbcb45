import Codec

/// Headers that carry a repartitioned record's original coordinates.
public enum OriginHeaders {
    public static let topic = "cw.origin.topic"
    public static let partition = "cw.origin.partition"
    public static let offset = "cw.origin.offset"

    public static func provenance(of record: InputRecord) -> Provenance {
        var topic: String?, partition: Int32?, offset: Int64?
        for (name, value) in record.headers {
            let text = String(decoding: value, as: UTF8.self)
            switch name {
            case Self.topic: topic = text
            case Self.partition: partition = Int32(text)
            case Self.offset: offset = Int64(text)
            default: break
            }
        }
        if let topic, let partition, let offset { return Provenance(topic: topic, partition: partition, offset: offset) }
        return record.provenance
    }
}

extension OriginHeaders {
    /// The headers that record `record`'s coordinates on a repartitioned copy.
    public static func headers(of record: InputRecord) -> [(String, [UInt8])] {
        [(topic, Array(record.topic.utf8)), (partition, Array(String(record.partition).utf8)), (offset, Array(String(record.offset).utf8))]
    }
}
