// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "cargowatch",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Kafka", targets: ["Kafka"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // librdkafka >= 2.8 from pkg-config (ops/install-deps puts it in /usr/local).
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        // The only C we own: batch consume/produce, buffered callbacks, deferred rebalance.
        .target(name: "KafkaShim", dependencies: ["CRdKafka"], cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]),
        // The only Swift layer that touches librdkafka or the shim.
        .target(name: "Kafka", dependencies: ["KafkaShim", "CRdKafka"]),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka"]),

        // Records of every topic, upstream and derived: strict, fast, deterministic JSON.
        .target(name: "Codec"),
        .testTarget(name: "CodecTests", dependencies: ["Codec", "TestSupport"], resources: [.copy("Fixtures")]),

        // Settings of every program: defaults < YAML file < environment, validated, documented.
        .target(name: "FleetConfig", dependencies: [.product(name: "Yams", package: "Yams")]),
        .testTarget(name: "FleetConfigTests", dependencies: ["FleetConfig"]),

        // The topic catalogue: names, keys, schemas, partitions, configs; renders asyncapi.yaml.
        .target(name: "Catalogue"),

        // Reference tables (HS, strategic prefixes, countries, airports, FX), reloadable.
        .target(name: "ReferenceData", dependencies: ["Codec"]),

        // The loop every worker shares: exactly-once consume–transform–produce, state stores
        // with changelogs, stream time, dead letters, lifecycle, health and metrics.
        .target(name: "WorkerRuntime", dependencies: [
            "Kafka", "Codec", "FleetConfig", "Catalogue", "ReferenceData",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The smallest real worker: runtime tests and the benchmark ceiling (passthrough).
        .executableTarget(name: "probe-worker", dependencies: ["WorkerRuntime", "FleetConfig", "Catalogue"]),
        // Shared by integration tests: the broker, worker processes, HTTP probes.
        .target(name: "TestSupport", dependencies: ["Kafka"], path: "Tests/TestSupport"),
        .testTarget(name: "WorkerRuntimeTests", dependencies: ["WorkerRuntime", "Kafka", "Codec", "TestSupport"]),

        // enrichment-worker: normalised parcels and declarations, joined by parcel_id.
        .target(name: "Enrichment", dependencies: ["WorkerRuntime", "Codec", "ReferenceData", "FleetConfig", "Catalogue"]),
        .executableTarget(name: "enrichment-worker", dependencies: ["Enrichment", "WorkerRuntime"]),
        .testTarget(name: "EnrichmentTests", dependencies: ["Enrichment", "WorkerRuntime", "Codec", "ReferenceData", "TestSupport", "Kafka"]),

        // sensitivity-worker: classification, PII-free analyst streams, tagged access events.
        .target(name: "Sensitivity", dependencies: [
            "WorkerRuntime", "Codec", "ReferenceData", "FleetConfig", "Catalogue",
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "sensitivity-worker", dependencies: ["Sensitivity", "WorkerRuntime"]),
        .testTarget(name: "SensitivityTests", dependencies: ["Sensitivity", "WorkerRuntime", "Codec", "ReferenceData", "TestSupport", "Enrichment", "Generator"],
                    resources: [.copy("Fixtures")]),

        // fraud-worker: explainable customs risk scores that learn from inspection outcomes.
        .target(name: "Fraud", dependencies: [
            "WorkerRuntime", "Codec", "ReferenceData", "FleetConfig", "Catalogue", "Sensitivity", .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "fraud-worker", dependencies: ["Fraud", "WorkerRuntime"]),
        .testTarget(name: "FraudTests", dependencies: ["Fraud", "WorkerRuntime", "Codec", "ReferenceData", "Sensitivity", "TestSupport", "Enrichment", "Generator", "Evaluation"]),

        // aggregation-worker: windowed trade flows, customs-risk aggregates, access activity, alerts.
        .target(name: "Aggregation", dependencies: ["WorkerRuntime", "Codec", "FleetConfig", "Catalogue"]),
        .executableTarget(name: "aggregation-worker", dependencies: ["Aggregation", "WorkerRuntime"]),
        .testTarget(name: "AggregationTests", dependencies: ["Aggregation", "WorkerRuntime", "Codec", "TestSupport", "Sensitivity", "Generator", "Evaluation", "ReferenceData", "FleetConfig"]),

        // Synthetic hub traffic, deterministic for a seed.
        .target(name: "Generator", dependencies: ["Codec"]),
        .testTarget(name: "GeneratorTests", dependencies: ["Generator", "Codec"]),

        // The quality bars, measured from ground truth and derived records (cargowatch eval).
        .target(name: "Evaluation", dependencies: ["Codec"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation"]),

        // The CLI: topics, config docs (and later demo, generate, tail, report, eval).
        .target(name: "CargowatchCLI", dependencies: [
            "Catalogue", "FleetConfig", "Kafka", "WorkerRuntime", "Enrichment", "Sensitivity", "Fraud", "Aggregation", "Evaluation", "Generator", "Codec",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "cargowatch", dependencies: ["CargowatchCLI"]),
        .testTarget(name: "CargowatchCLITests", dependencies: ["CargowatchCLI", "Catalogue", "Evaluation", "TestSupport", "Kafka", "FleetConfig", "WorkerRuntime", "Generator", "ReferenceData"]),

        // Benchmarks: the C ceiling beside the Swift client, one executable, one run.
        .target(name: "KafkaBenchC", dependencies: ["KafkaShim"], path: "Benchmarks/KafkaBenchC"),
        .executableTarget(name: "kafka-bench", dependencies: ["Kafka", "KafkaBenchC"], path: "Benchmarks/kafka-bench"),
        .executableTarget(name: "codec-bench", dependencies: ["Codec"], path: "Benchmarks/codec-bench"),
    ]
)
