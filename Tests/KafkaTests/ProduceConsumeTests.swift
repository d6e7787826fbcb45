import Kafka
import Testing

@Suite("Producer and consumer against the real broker", .serialized)
struct ProduceConsumeTests {
    @Test("100k messages produced and consumed back: none lost, order kept per partition")
    func roundTrip100k() throws {
        let topicName = try TestBroker.createTopic("roundtrip")
        let producer = try KafkaProducer(properties: try TestBroker.producerProperties())
        let topic = try producer.topic(topicName)
        let total = 100_000
        let keys = 500
        var batch = OutgoingBatch(reservingBytes: 10_000 * 330)
        var sent = 0
        while sent < total {
            batch.removeAll()
            for i in sent..<min(total, sent + 10_000) {
                // value: "<key>:<sequence within key>" padded to 300 bytes
                let key = i % keys
                let text = "\(key):\(i / keys):"
                let value = Array(text.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 300 - text.utf8.count)
                batch.append(topic: topic, key: Array("k\(key)".utf8), value: value, id: UInt64(i))
            }
            try producer.send(batch)
            sent += batch.count
        }
        try producer.flush()
        let reports = producer.drainDeliveryReports()
        #expect(reports.count == total)
        #expect(reports.allSatisfy { $0.error == nil })

        let consumer = try KafkaConsumer(properties: try TestBroker.properties(["group.id": TestBroker.uniqueName("g")]))
        try consumer.subscribe([topicName])
        var seen = Set<Int>()
        var lastOffset: [Int32: Int64] = [:]
        var lastSequence: [Int: Int] = [:]
        var orderViolations = 0
        var partitionsOfKey: [Int: Set<Int32>] = [:]
        try consumer.pollUntil(timeout: .seconds(120), { batch, _ in
            for m in batch {
                let fields = String(decoding: m.value!, as: UTF8.self).split(separator: ":")
                let key = Int(fields[0])!, seq = Int(fields[1])!
                seen.insert(seq * keys + key)
                if let prev = lastOffset[m.partition], prev >= m.offset { orderViolations += 1 }
                lastOffset[m.partition] = m.offset
                if let prev = lastSequence[key], prev >= seq { orderViolations += 1 }
                lastSequence[key] = seq
                partitionsOfKey[key, default: []].insert(m.partition)
            }
        }, until: { seen.count == total })
        try consumer.close()
        #expect(seen.count == total)
        #expect(orderViolations == 0)
        #expect(partitionsOfKey.values.allSatisfy { $0.count == 1 }, "a key must stay on one partition")
        #expect(Set(lastOffset.keys).count == 4, "all four partitions carry data")
    }

    @Test("Two consumers split the partitions; one leaves; the other takes over; nothing lost or read twice")
    func groupSplitAndTakeover() throws {
        let topicName = try TestBroker.createTopic("group")
        let producer = try KafkaProducer(properties: try TestBroker.producerProperties())
        let topic = try producer.topic(topicName)
        func produce(_ range: Range<Int>) throws {
            var batch = OutgoingBatch()
            for i in range { batch.append(topic: topic, key: Array("k\(i)".utf8), value: Array("\(i)".utf8)) }
            try producer.send(batch)
            try producer.flush()
        }
        try produce(0..<2000)
        let group = TestBroker.uniqueName("split")
        let a = try KafkaConsumer(properties: try TestBroker.properties(["group.id": group, "client.id": "a"]))
        let b = try KafkaConsumer(properties: try TestBroker.properties(["group.id": group, "client.id": "b"]))
        try a.subscribe([topicName])
        try b.subscribe([topicName])

        var readCount: [Int: Int] = [:]
        var events: [String] = []
        let batchA = MessageBatch(), batchB = MessageBatch()
        // Process then commit each batch before the next poll (which completes any rebalance).
        func step(_ c: KafkaConsumer, _ batch: MessageBatch, _ name: String) throws {
            let r = try c.poll(into: batch, timeout: .milliseconds(100))
            for m in batch { readCount[Int(String(decoding: m.value!, as: UTF8.self))!, default: 0] += 1 }
            try c.commit(batch.nextOffsets)
            if let e = r.rebalance { events.append("\(name): \(e)") }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        var splitSeen = false
        while ContinuousClock.now < deadline {
            try step(a, batchA, "a")
            try step(b, batchB, "b")
            let pa = try a.assignment(), pb = try b.assignment()
            if !pa.isEmpty && !pb.isEmpty && Set(pa).isDisjoint(with: pb) && pa.count + pb.count == 4 {
                splitSeen = true
                if readCount.count == 2000 { break }
            }
        }
        #expect(splitSeen, "both members should own partitions at once: \(events)")
        #expect(readCount.count == 2000)

        try b.close()  // b committed after its last batch; leaving revokes its partitions
        try produce(2000..<4000)
        let takeoverDeadline = ContinuousClock.now + .seconds(60)
        while try ContinuousClock.now < takeoverDeadline && (readCount.count < 4000 || a.assignment().count < 4) {
            try step(a, batchA, "a")
        }
        #expect(try a.assignment().count == 4, "a takes over all partitions: \(events)")
        #expect(readCount.count == 4000, "nothing lost")
        #expect(readCount.values.allSatisfy { $0 == 1 }, "nothing committed is read twice: \(readCount.filter { $0.value > 1 }.count) read twice")
        try a.close()
    }

    @Test("Pause stops delivery for a partition until resume")
    func pauseResume() throws {
        let topicName = try TestBroker.createTopic("pause", partitions: 1)
        let producer = try KafkaProducer(properties: try TestBroker.producerProperties())
        let topic = try producer.topic(topicName)
        var batch = OutgoingBatch()
        for i in 0..<100 { batch.append(topic: topic, key: [UInt8](), value: Array("\(i)".utf8)) }
        try producer.send(batch)
        try producer.flush()
        let consumer = try KafkaConsumer(properties: try TestBroker.properties(["group.id": TestBroker.uniqueName("p")]))
        let tp = TopicPartition(topicName, 0)
        try consumer.assign([tp: 0])
        consumer.pause([tp])
        let messages = MessageBatch()
        var whilePaused = 0
        for _ in 0..<10 { whilePaused += try consumer.poll(into: messages, timeout: .milliseconds(100)).count }
        #expect(whilePaused == 0)
        consumer.resume([tp])
        var got = 0
        try consumer.pollUntil(timeout: .seconds(20), { b, _ in got += b.count }, until: { got == 100 })
        #expect(got == 100)
        let marks = consumer.cachedWatermarks(tp)
        #expect(marks?.low == 0 && marks?.high == 100, "\(String(describing: marks))")
        #expect(consumer.lag()[tp] == 0)
    }

    @Test("Headers, keys and timestamps survive the round trip")
    func headersAndKeys() throws {
        let topicName = try TestBroker.createTopic("headers", partitions: 1)
        let producer = try KafkaProducer(properties: try TestBroker.producerProperties())
        var batch = OutgoingBatch()
        batch.append(topic: try producer.topic(topicName), key: Array("the-key".utf8), value: Array("v".utf8),
                     headers: [("reason", Array("bad json".utf8)), ("bin", [0, 255, 7]), ("reason", Array("second".utf8)), ("empty", [])],
                     timestampMs: 1_700_000_000_123)
        batch.append(topic: try producer.topic(topicName), key: nil as [UInt8]?, value: nil as [UInt8]?)
        // Headers added ahead of a message come before its own; a value writer that throws
        // takes its message's headers and key with it.
        batch.addHeader("lost", [1])
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            try batch.append(topic: try producer.topic(topicName), key: Array("lost".utf8)) { (_: inout [UInt8]) throws in throw Refused() }
        }
        batch.addHeader("topic", "parcels.events".utf8)
        batch.addHeader("offset", decimal: 9_007_199_254_740_993)
        batch.addHeader("zero", decimal: 0)
        batch.addHeader("negative", decimal: -42)
        batch.append(topic: try producer.topic(topicName), key: Array("k3".utf8), value: Array("v3".utf8), headers: [("own", [2])])
        try producer.send(batch)
        try producer.flush()
        let consumer = try KafkaConsumer(properties: try TestBroker.properties(["group.id": TestBroker.uniqueName("h")]))
        try consumer.assign([TopicPartition(topicName, 0): 0])
        var copies: [(key: [UInt8]?, value: [UInt8]?, headers: [(name: String, value: [UInt8])], ts: Int64?)] = []
        // One header looked up by name, as handlers do: the last of a repeated name, [] for an empty value, nil when absent.
        var lookedUp: [[UInt8]?] = []
        try consumer.pollUntil(timeout: .seconds(20), { b, _ in
            for m in b {
                copies.append((m.keyBytes, m.valueBytes, m.headers, m.timestampMs))
                lookedUp += [m.header("reason"), m.header("bin"), m.header("empty"), m.header("absent"), m.header("reaso")]
            }
        }, until: { copies.count == 3 })
        try #require(copies.count == 3)
        #expect(copies[0].key == Array("the-key".utf8))
        #expect(copies[0].headers.map(\.name) == ["reason", "bin", "reason", "empty"])
        #expect(copies[0].headers[1].value == [0, 255, 7])
        #expect(lookedUp[0..<5] == [Array("second".utf8), [0, 255, 7], [], nil, nil])
        #expect(lookedUp[5..<10].allSatisfy { $0 == nil })
        #expect(copies[0].ts == 1_700_000_000_123)
        #expect(copies[1].key == nil && copies[1].value == nil && copies[1].headers.isEmpty)
        #expect(copies[2].key == Array("k3".utf8) && copies[2].headers.map(\.name) == ["topic", "offset", "zero", "negative", "own"])
        #expect(copies[2].headers.map { String(decoding: $0.value, as: UTF8.self) } == ["parcels.events", "9007199254740993", "0", "-42", "\u{2}"])
    }
}
