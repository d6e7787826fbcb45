/// Every topic the fleet reads or writes.
public enum Catalogue {
    /// Enough partitions for a few instances per worker; Kafka scales the fleet out by partition.
    public static let defaultPartitions: Int32 = 6

    static let day = 86_400_000
    static func retention(days: Int) -> [String: String] { ["cleanup.policy": "delete", "retention.ms": String(days * day)] }
    static let compacted: [String: String] = ["cleanup.policy": "compact", "min.compaction.lag.ms": "0"]

    public enum Worker {
        public static let enrichment = "enrichment-worker"
        public static let sensitivity = "sensitivity-worker"
        public static let fraud = "fraud-worker"
        public static let aggregation = "aggregation-worker"
        public static let cli = "cargowatch"
        public static let hub = "hub systems"
        public static let officers = "customs officers"
        public static let all = [enrichment, sensitivity, fraud, aggregation]
    }

    /// The short name used in `dlq.<worker>` and `late.<worker>`.
    public static func shortName(_ worker: String) -> String {
        worker.hasSuffix("-worker") ? String(worker.dropLast(7)) : worker
    }

    public static func deadLetterTopic(_ worker: String) -> String { "dlq.\(shortName(worker))" }
    public static func lateTopic(_ worker: String) -> String { "late.\(shortName(worker))" }

    public static let parcelsEvents = "parcels.events"
    public static let customsDeclarations = "customs.declarations"
    public static let accessLogs = "access.logs"
    public static let customsInspections = "customs.inspections"
    public static let parcelsEnriched = "parcels.enriched"
    public static let customsEnriched = "customs.enriched"
    public static let parcelsRedacted = "parcels.redacted"
    public static let customsRedacted = "customs.redacted"
    public static let accessTagged = "access.tagged"
    public static let customsRisk = "customs.risk"
    public static let tradeFlows = "agg.trade-flows"
    public static let customsRiskAggregates = "agg.customs-risk"
    public static let accessActivity = "agg.access-activity"
    public static let accessAlerts = "alerts.access"
    public static let truthScenarios = "truth.scenarios"
    public static let declarationsByParcel = "enrichment.declarations-by-parcel"
    public static let fraudDeclarationsBySeller = "fraud.declarations-by-seller"
    public static let fraudIOSSUsage = "fraud.ioss-usage"
    public static let aggregationFlowFacts = "aggregation.flow-facts"
    public static let aggregationRiskFacts = "aggregation.risk-facts"
    public static let aggregationPeerObservations = "aggregation.peer-observations"

    public static let topics: [Topic] = {
        let w = Worker.self
        var all: [Topic] = [
            Topic(parcelsEvents, role: .upstream, key: "parcel_id", schema: "parcel.event", producers: [w.hub, w.cli],
                  consumers: [w.enrichment], config: retention(days: 7),
                  "Scan and status events of parcels at the hub (ARRIVED … DEPARTED)."),
            Topic(customsDeclarations, role: .upstream, key: "declaration_id", schema: "customs.declaration", producers: [w.hub, w.cli],
                  consumers: [w.enrichment], config: retention(days: 7),
                  "Low-value import declarations (H7, simplified) lodged for parcels."),
            Topic(accessLogs, role: .upstream, key: "principal.id", schema: "access.log", producers: [w.hub, w.cli],
                  consumers: [w.sensitivity], config: retention(days: 30),
                  "Who touched which data on the hub's logistics platform."),
            Topic(customsInspections, role: .upstream, key: "declaration_id", schema: "customs.inspection", producers: [w.officers, w.cli],
                  consumers: [w.fraud], config: retention(days: 365),
                  "Outcomes of physical inspections recorded by customs officers; the fraud scorer learns from them."),
            Topic(parcelsEnriched, role: .derived, key: "parcel_id", schema: "parcel.enriched", producers: [w.enrichment],
                  consumers: [w.sensitivity], config: retention(days: 7),
                  "Parcel events with origin country, route, EUR value, HS names, destination region, strategic-goods flag and the declaration join state."),
            Topic(customsEnriched, role: .derived, key: "declaration_id", schema: "customs.enriched", producers: [w.enrichment],
                  consumers: [w.sensitivity, w.fraud], config: retention(days: 7),
                  "Declarations with EUR valuation and what the hub itself observed about the same parcel (scanned weight, flight origin, merchant)."),
            Topic(parcelsRedacted, role: .derived, key: "parcel_id", schema: "parcel.redacted", producers: [w.sensitivity],
                  consumers: [w.aggregation, w.cli], config: retention(days: 30),
                  "PII-free enriched parcel events for analysts: consignee fields pseudonymised, free text masked, sensitivity classified."),
            Topic(customsRedacted, role: .derived, key: "declaration_id", schema: "customs.redacted", producers: [w.sensitivity],
                  consumers: [w.cli], config: retention(days: 30),
                  "PII-free enriched declarations for analysts."),
            Topic(accessTagged, role: .derived, key: "principal.id", schema: "access.tagged", producers: [w.sensitivity],
                  consumers: [w.aggregation], config: retention(days: 30),
                  "Access events with the data classes and level touched, personal-data record count, source jurisdiction and off-hours flag."),
            Topic(customsRisk, role: .derived, key: "declaration_id", schema: "customs.risk", producers: [w.fraud],
                  consumers: [w.aggregation, w.cli], config: retention(days: 90),
                  "Explainable customs risk score of every declaration, with reasons an officer can act on."),
            Topic(tradeFlows, role: .derived, key: "window.start|origin_country|destination_country|hs_chapter", schema: "agg.trade-flow",
                  producers: [w.aggregation], consumers: [w.cli], config: retention(days: 365),
                  "Final per-window trade flows: parcels, mass and declared value by origin, destination and HS chapter."),
            Topic(customsRiskAggregates, role: .derived, key: "window.start|destination_country|hs_chapter", schema: "agg.customs-risk",
                  producers: [w.aggregation], consumers: [w.cli], config: retention(days: 365),
                  "Final per-window customs risk: declarations, high and medium counts, intrinsic value, mean score."),
            Topic(accessActivity, role: .derived, key: "principal_id", schema: "agg.access-activity",
                  producers: [w.aggregation], consumers: [w.cli], config: retention(days: 90),
                  "Final per-principal, per-window access activity by data class."),
            Topic(accessAlerts, role: .derived, key: "principal_id", schema: "alert.access",
                  producers: [w.aggregation], consumers: [w.cli], config: retention(days: 365),
                  "Alerts on signs of data harvesting, with evidence; one per principal, rule and window."),
            Topic(declarationsByParcel, role: .internal, key: "parcel_id", schema: nil, producers: [w.enrichment],
                  consumers: [w.enrichment], config: retention(days: 3),
                  "customs.declarations re-keyed by parcel_id (bytes unchanged, origin in cw.origin.* headers), co-partitioned with parcels.events for the join. Upstream must partition parcels.events with Java's murmur2, as the fleet does."),
            Topic(fraudDeclarationsBySeller, role: .internal, key: "seller.id (declarations), declaration_id (inspections, signal outcomes), IOSS number (shared-IOSS notices)",
                  schema: nil, producers: [w.fraud], consumers: [w.fraud], config: retention(days: 3),
                  "customs.enriched re-keyed by seller (bytes unchanged, origin in cw.origin.* headers, cw.kind=declaration), plus every inspection outcome, shared-IOSS notice and signal outcome (an inspected declaration's signals and verdict, from the scorer partition that holds it) copied to every partition (cw.kind=inspection / ioss-shared / signal-outcome): the scorer's one input."),
            Topic(fraudIOSSUsage, role: .internal, key: "IOSS number", schema: nil, producers: [w.fraud], consumers: [w.fraud],
                  config: retention(days: 3), "One record per declaration with an IOSS number: the seller id that quoted it (for counting sellers per number)."),
            Topic(aggregationFlowFacts, role: .internal, key: "origin|destination|hs_chapter", schema: nil, producers: [w.aggregation],
                  consumers: [w.aggregation], config: retention(days: 3),
                  "One small JSON fact per parcel at its first ARRIVED event (parcel_id, arrived_at, lane, hs_chapter, weight_grams, declared_value_eur), keyed by its trade-flow group."),
            Topic(aggregationRiskFacts, role: .internal, key: "destination|hs_chapter", schema: nil, producers: [w.aggregation],
                  consumers: [w.aggregation], config: retention(days: 3),
                  "Small JSON deltas of customs-risk counts per declaration (a re-score replaces its earlier score: declarations 0, band and score differences), keyed by group."),
            Topic(aggregationPeerObservations, role: .internal, key: "org|role (the peer group)", schema: nil, producers: [w.aggregation],
                  consumers: [w.aggregation], config: retention(days: 3),
                  "What the access task's closed windows added to their peer groups' baselines (figures, source countries and kinds of data exported, small JSON), copied to every partition so each partition's peer baselines learn from the whole group; co-partitioned with access.tagged (same partition count)."),
            Topic(truthScenarios, role: .truth, key: "scenario_id", schema: nil, producers: [w.cli], consumers: [w.cli],
                  config: retention(days: 30), "Ground truth of the generator's injected scenarios (JSON lines also written to a file)."),
        ]
        for worker in Worker.all {
            all.append(Topic(deadLetterTopic(worker), role: .deadLetter, key: "the input record's key", schema: nil,
                             producers: [worker], consumers: [w.cli], config: retention(days: 30),
                             "Records \(worker) could not decode or handle: original key, value and headers, plus cw.dlq.* headers (reason, source topic/partition/offset, worker, time). A record above record.max_bytes keeps only its first 64 KiB, its size in cw.dlq.original-bytes."))
        }
        for worker in [Worker.enrichment, Worker.aggregation] {
            all.append(Topic(lateTopic(worker), role: .late, key: "the input record's key", schema: nil,
                             producers: [worker], consumers: [w.cli], config: retention(days: 30),
                             "Records that arrived after their window's grace period, as they were, with cw.late.* headers."))
        }
        return all
    }()

    public static func topic(_ name: String) -> Topic? { topics.first { $0.name == name } }

    /// Internal topics a worker declares for itself (repartition, changelog) are added with
    /// `internalTopic`, so that `topics create` knows them too.
    public static func internalTopic(worker: String, name: String, key: String, compacted: Bool, summary: String) -> Topic {
        Topic("\(shortName(worker)).\(name)", role: .internal, key: key, schema: nil, producers: [worker], consumers: [worker],
              config: compacted ? Catalogue.compacted : retention(days: 7), summary)
    }
}
