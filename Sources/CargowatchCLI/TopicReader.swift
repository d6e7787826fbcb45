import Foundation
import Kafka

/// Reads whole topics (read_committed) from the beginning to where they end now: every
/// partition assigned, done when each partition reached its high watermark or nothing came
/// for `idle`.
struct TopicReader {
    struct Record {
        let topic: String
        let partition: Int32
        let key: String?
        let value: [UInt8]
    }

    static func read(_ topics: [String], idle: Duration = .seconds(3), progress label: String? = nil) throws -> [String: [Record]] {
        var props = kafkaProperties()
        props["group.id"] = "cargowatch-reader-\(UInt32.random(in: 0...UInt32.max))"
        props["isolation.level"] = "read_committed"
        props["auto.offset.reset"] = "earliest"
        props["enable.auto.commit"] = "false"
        props.removeValue(forKey: "partitioner")
        let consumer = try KafkaConsumer(properties: props)
        let metadata = try consumer.metadata()
        var ends: [TopicPartition: Int64] = [:]
        for t in metadata.topics where topics.contains(t.name) {
            for p in t.partitions {
                let tp = TopicPartition(t.name, p)
                let w = try consumer.watermarks(tp)
                if w.high > w.low { ends[tp] = w.high }
            }
        }
        var result: [String: [Record]] = Dictionary(uniqueKeysWithValues: topics.map { ($0, []) })
        guard !ends.isEmpty else { try? consumer.close(); return result }
        try consumer.assign(Dictionary(uniqueKeysWithValues: ends.keys.map { ($0, Optional<Int64>.none) }))
        let batch = MessageBatch(capacity: 5000)
        var pending = Set(ends.keys)
        var last = ContinuousClock.now
        var progress = label.map { Progress($0, total: nil) }
        var count = 0
        while !pending.isEmpty && ContinuousClock.now - last < idle {
            _ = try consumer.poll(into: batch, timeout: .milliseconds(200))
            for m in batch {
                last = .now
                count += 1
                result[m.topic, default: []].append(Record(topic: m.topic, partition: m.partition, key: m.key.map { String(decoding: $0, as: UTF8.self) }, value: m.value.map(Array.init) ?? []))
                let tp = TopicPartition(m.topic, m.partition)
                // Transaction markers take offsets too: the end is reached at high watermark - 1 or beyond.
                if let end = ends[tp], m.offset + 2 >= end { pending.remove(tp) }
            }
            progress?.update(count)
        }
        progress?.finish()
        batch.release()
        try? consumer.close()
        return result
    }
}
