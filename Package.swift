// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "cargowatch",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Kafka", targets: ["Kafka"]),
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
        .testTarget(name: "CodecTests", dependencies: ["Codec"], resources: [.copy("Fixtures")]),

        // Benchmarks: the C ceiling beside the Swift client, one executable, one run.
        .target(name: "KafkaBenchC", dependencies: ["KafkaShim"], path: "Benchmarks/KafkaBenchC"),
        .executableTarget(name: "kafka-bench", dependencies: ["Kafka", "KafkaBenchC"], path: "Benchmarks/kafka-bench"),
        .executableTarget(name: "codec-bench", dependencies: ["Codec"], path: "Benchmarks/codec-bench"),
    ]
)
