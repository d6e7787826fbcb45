import ArgumentParser
import Foundation
import Kafka

struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print records of a topic (read_committed).",
        discussion: "Example: cargowatch tail parcels.enriched --limit 5\n         cargowatch tail customs.enriched --follow --filter destination_country=BE --format table")

    @Argument(help: "The topic.") var topic: String
    @Option(help: "beginning, end, or an RFC 3339 time.") var from: String = "beginning"
    @Option(help: "Stop after this many records.") var limit: Int?
    @Flag(help: "Keep waiting for new records.") var follow = false
    @Option(help: "Only records whose field (dotted path) equals the value, e.g. enrichment.origin_country=CN.") var filter: [String] = []
    @Option(help: "json or table.") var format: String = "json"
    @Option(help: "Stop after this long without new records (not with --follow).") var idle: Int = 3

    func run() throws {
        guard ["json", "table"].contains(format) else { throw ValidationError("--format: json or table") }
        let filters = try filter.map { f -> ([String], String) in
            guard let eq = f.firstIndex(of: "=") else { throw ValidationError("--filter: expected field=value, got \(f)") }
            return (f[..<eq].split(separator: ".").map(String.init), String(f[f.index(after: eq)...]))
        }
        var props = kafkaProperties()
        props["group.id"] = "cargowatch-tail-\(UInt32.random(in: 0...UInt32.max))"
        props["isolation.level"] = "read_committed"
        props["auto.offset.reset"] = from == "end" ? "latest" : "earliest"
        props["session.timeout.ms"] = props["session.timeout.ms"] ?? "6000"
        props["heartbeat.interval.ms"] = props["heartbeat.interval.ms"] ?? "500"
        props.removeValue(forKey: "partitioner")
        let consumer = try KafkaConsumer(properties: props)
        try consumer.subscribe([topic])
        let startMs: Int64? = (from == "beginning" || from == "end") ? nil : try {
            guard let t = millis(from) else { throw ValidationError("--from: beginning, end or an RFC 3339 time") }
            return t
        }()
        let batch = MessageBatch(capacity: 1000)
        var shown = 0
        var lastNew = ContinuousClock.now
        var joined = false
        if format == "table" { print("partition  offset      key                       value") }
        loop: while true {
            let r = try consumer.poll(into: batch, timeout: .milliseconds(200))
            if r.rebalance != nil { joined = true; lastNew = .now }
            for m in batch {
                lastNew = .now
                if let startMs, let ts = m.timestampMs, ts < startMs { continue }
                let value = m.value.map { String(decoding: $0, as: UTF8.self) } ?? "null"
                if !filters.isEmpty {
                    let object = (try? JSONSerialization.jsonObject(with: Data(value.utf8))) as? [String: Any]
                    let ok = filters.allSatisfy { path, expected in
                        var node: Any? = object
                        for k in path { node = (node as? [String: Any])?[k] }
                        if let n = node as? NSNumber { return n.stringValue == expected }
                        return (node as? String) == expected
                    }
                    if !ok { continue }
                }
                let key = m.key.map { String(decoding: $0, as: UTF8.self) } ?? ""
                if format == "json" {
                    print(value)
                } else {
                    let shortKey = key.count > 24 ? String(key.prefix(23)) + "…" : key
                    let shortValue = value.count > 100 ? String(value.prefix(99)) + "…" : value
                    print(String(repeating: " ", count: max(0, 9 - String(m.partition).count)) + String(m.partition) + "  "
                          + String(m.offset).padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                          + shortKey.padding(toLength: 24, withPad: " ", startingAt: 0) + "  " + shortValue)
                }
                shown += 1
                if let limit, shown >= limit { break loop }
            }
            if !follow && joined && ContinuousClock.now - lastNew > .seconds(Int64(idle)) { break }
            if !follow && !joined && ContinuousClock.now - lastNew > .seconds(60) {
                throw ValidationError("no assignment for \(topic) within 60 s (does it exist? is the broker reachable?)")
            }
        }
        batch.release()
        try? consumer.close()
    }
}
