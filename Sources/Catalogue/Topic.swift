/// A topic of the fleet: what it carries, who writes and reads it, how it is laid out.
/// The catalogue below is the single source for `cargowatch topics create|check`, the
/// AsyncAPI document (`asyncapi.yaml`, generated) and the workers' default topic names.
public struct Topic: Sendable, Hashable {
    public enum Role: String, Sendable {
        /// Written by the hub's own systems.
        case upstream
        /// Written by a Cargowatch worker for analysts or other workers.
        case derived
        /// A worker's own plumbing (repartition, changelog).
        case `internal`
        /// Records a worker could not process, with the reason in headers.
        case deadLetter = "dead-letter"
        /// Records that arrived after their window closed.
        case late
        /// Ground truth written by the generator.
        case truth
    }

    public let name: String
    public let role: Role
    /// What the Kafka key holds.
    public let key: String
    /// JSON Schema file stem under `schemas/` (nil: raw bytes, e.g. dead letters).
    public let schema: String?
    public let summary: String
    public let producers: [String]
    public let consumers: [String]
    public let partitions: Int32
    public let config: [String: String]

    public init(_ name: String, role: Role, key: String, schema: String?, producers: [String], consumers: [String],
                partitions: Int32 = Catalogue.defaultPartitions, config: [String: String], _ summary: String) {
        self.name = name
        self.role = role
        self.key = key
        self.schema = schema
        self.producers = producers
        self.consumers = consumers
        self.partitions = partitions
        self.config = config
        self.summary = summary
    }

    public var isCompacted: Bool { config["cleanup.policy"]?.contains("compact") == true }
}
