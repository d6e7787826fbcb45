import Codec

/// Headers that carry a repartitioned record's original coordinates.
public enum OriginHeaders {
    public static let topic = "cw.origin.topic"
    public static let partition = "cw.origin.partition"
    public static let offset = "cw.origin.offset"

    public static func provenance(of record: InputRecord) -> Provenance {
        func text(_ name: String) -> String? { record.header(name).map { String(decoding: $0, as: UTF8.self) } }
        if let topic = text(Self.topic), let partition = text(Self.partition).flatMap({ Int32($0) }), let offset = text(Self.offset).flatMap({ Int64($0) }) {
            return Provenance(topic: topic, partition: partition, offset: offset)
        }
        return record.provenance
    }
}

extension OriginHeaders {
    /// The headers that record `record`'s coordinates on a repartitioned copy.
    public static func headers(of record: InputRecord) -> [(String, [UInt8])] {
        [(topic, Array(record.topic.utf8)), (partition, Array(String(record.partition).utf8)), (offset, Array(String(record.offset).utf8))]
    }
}
