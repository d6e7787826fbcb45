// kafka-bench: the Swift client's produce and consume rates against the C ceiling (the same shim
// driven from C), in one run, on one broker. Usage:
//   kafka-bench [--messages N] [--size BYTES] [--rounds R] [--json]
// KAFKA_BOOTSTRAP_SERVERS names the broker (ops/bench starts one).
import Foundation
import Kafka
import KafkaBenchC

struct Options {
    var messages = 500_000
    var size = 300
    var rounds = 3
    var batch = 10_000
    var json = false

    init(_ args: [String]) {
        var it = args.makeIterator()
        while let a = it.next() {
            switch a {
            case "--messages": messages = Int(it.next() ?? "") ?? messages
            case "--size": size = Int(it.next() ?? "") ?? size
            case "--rounds": rounds = Int(it.next() ?? "") ?? rounds
            case "--batch": batch = Int(it.next() ?? "") ?? batch
            case "--json": json = true
            case "--help", "-h":
                print("usage: kafka-bench [--messages N] [--size BYTES] [--rounds R] [--batch N] [--json]\nexample: KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 kafka-bench --messages 200000")
                exit(0)
            default:
                FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
                exit(64)
            }
        }
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
guard let bootstrap = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"] else {
    FileHandle.standardError.write(Data("KAFKA_BOOTSTRAP_SERVERS is not set (ops/bench starts a broker and sets it)\n".utf8))
    exit(78)
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("kafka-bench: \(message)\n".utf8))
    exit(1)
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func newTopic(_ prefix: String) -> String {
    let name = "bench-\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
    do {
        let admin = try KafkaAdmin(properties: ["bootstrap.servers": bootstrap])
        let r = try admin.createTopics([TopicSpec(name: name, partitions: 4)])
        if case .failed(let e) = r[name] { fail("create \(name): \(e)") }
    } catch { fail("create \(name): \(error)") }
    return name
}

func cProduce(_ topic: String) -> Double {
    var err = [CChar](repeating: 0, count: 512)
    let start = ContinuousClock.now
    let n = cw_bench_produce(bootstrap, topic, Int64(options.messages), options.size, options.batch, &err, err.count)
    let elapsed = seconds(ContinuousClock.now - start)
    if n != options.messages { fail("C produce delivered \(n): \(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))") }
    return Double(n) / elapsed
}

func swiftProduce(_ topicName: String) -> Double {
    do {
        let producer = try KafkaProducer(properties: ["bootstrap.servers": bootstrap, "linger.ms": "5"])
        let topic = try producer.topic(topicName)
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: options.size)
        var batch = OutgoingBatch(reservingBytes: options.batch * (options.size + 8))
        var delivered = 0
        let start = ContinuousClock.now
        var sent = 0
        while sent < options.messages {
            batch.removeAll()
            for i in sent..<min(options.messages, sent + options.batch) {
                withUnsafeBytes(of: UInt64(i)) { key in
                    batch.append(topic: topic, key: key, value: value, id: UInt64(i))
                }
            }
            try producer.send(batch)
            sent += batch.count
            producer.poll()
            let r = producer.drainDeliveryCounts()
            if let e = r.failed.first { fail("Swift delivery failed: \(e)") }
            delivered += r.delivered
        }
        try producer.flush(timeout: .seconds(60))
        let r = producer.drainDeliveryCounts()
        if let e = r.failed.first { fail("Swift delivery failed: \(e)") }
        delivered += r.delivered
        let elapsed = seconds(ContinuousClock.now - start)
        if delivered != options.messages { fail("Swift produce delivered \(delivered)") }
        return Double(delivered) / elapsed
    } catch { fail("Swift produce: \(error)") }
}

func cConsume(_ topic: String) -> Double {
    var err = [CChar](repeating: 0, count: 512)
    var sum: UInt64 = 0
    var ns: Int64 = 0
    let n = cw_bench_consume(bootstrap, topic, Int64(options.messages), options.batch, &sum, &ns, &err, err.count)
    if n != options.messages { fail("C consume got \(n): \(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))") }
    return Double(n) / (Double(ns) / 1e9)
}

func swiftConsume(_ topic: String) -> Double {
    do {
        let consumer = try KafkaConsumer(properties: [
            "bootstrap.servers": bootstrap, "group.id": "bench-swift-\(UInt32.random(in: 0...UInt32.max))",
            "auto.offset.reset": "earliest", "session.timeout.ms": "6000", "heartbeat.interval.ms": "500"])
        try consumer.subscribe([topic])
        let batch = MessageBatch(capacity: options.batch)
        var got = 0
        var sum: UInt64 = 0
        var first: ContinuousClock.Instant?
        let deadline = ContinuousClock.now + .seconds(300)
        while got < options.messages && ContinuousClock.now < deadline {
            let r = try consumer.poll(into: batch, timeout: .milliseconds(100))
            if r.count > 0 && first == nil { first = .now }
            for i in 0..<r.count {
                if let v = batch[i].value { for b in v { sum &+= UInt64(b) } }
            }
            got += r.count
        }
        let end = ContinuousClock.now
        if got != options.messages { fail("Swift consume got \(got)") }
        try consumer.close()
        return Double(got) / seconds(end - first!)
    } catch { fail("Swift consume: \(error)") }
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

var results: [String: [Double]] = [:]
for round in 1...options.rounds {
    // Alternate who goes first so that broker warm-up favours neither side.
    let cTopic = newTopic("c"), swiftTopic = newTopic("swift")
    if round % 2 == 1 {
        results["c_produce", default: []].append(cProduce(cTopic))
        results["swift_produce", default: []].append(swiftProduce(swiftTopic))
        results["c_consume", default: []].append(cConsume(cTopic))
        results["swift_consume", default: []].append(swiftConsume(swiftTopic))
    } else {
        results["swift_produce", default: []].append(swiftProduce(swiftTopic))
        results["c_produce", default: []].append(cProduce(cTopic))
        results["swift_consume", default: []].append(swiftConsume(swiftTopic))
        results["c_consume", default: []].append(cConsume(cTopic))
    }
    FileHandle.standardError.write(Data("round \(round)/\(options.rounds) done\n".utf8))
}
let produceRatio = median(results["swift_produce"]!) / median(results["c_produce"]!)
let consumeRatio = median(results["swift_consume"]!) / median(results["c_consume"]!)
if options.json {
    let medians = results.mapValues(median)
    let obj: [String: Any] = ["messages": options.messages, "size": options.size, "rounds": options.rounds,
                              "librdkafka": Librdkafka.versionString, "median_msgs_per_s": medians,
                              "swift_over_c_produce": produceRatio, "swift_over_c_consume": consumeRatio]
    print(String(decoding: try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
} else {
    print("librdkafka \(Librdkafka.versionString); \(options.messages) messages of \(options.size) bytes; median of \(options.rounds) rounds")
    print("           C (msg/s)  Swift (msg/s)  Swift/C")
    print(String(format: "%-10@ %14.0f %14.0f %7.0f%%", "produce" as NSString, median(results["c_produce"]!), median(results["swift_produce"]!), produceRatio * 100))
    print(String(format: "%-10@ %14.0f %14.0f %7.0f%%", "consume" as NSString, median(results["c_consume"]!), median(results["swift_consume"]!), consumeRatio * 100))
}
