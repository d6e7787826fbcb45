import ArgumentParser
import Catalogue
import Codec
import Foundation
import Generator
import Kafka

/// Progress on a terminal (one rewritten line) or as plain lines (logs, CI).
struct Progress {
    let label: String
    let total: Int?
    let started = ContinuousClock.now
    var lastPrint = ContinuousClock.now
    let tty = isatty(STDERR_FILENO) != 0

    init(_ label: String, total: Int?) {
        self.label = label
        self.total = total
    }

    mutating func update(_ done: Int, force: Bool = false) {
        let now = ContinuousClock.now
        guard force || now - lastPrint >= (tty ? .milliseconds(250) : .seconds(5)) else { return }
        lastPrint = now
        let elapsed = Double((now - started).components.seconds) + Double((now - started).components.attoseconds) / 1e18
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        var line = "\(label): \(done) records, \(Int(rate)) records/s, \(Int(elapsed)) s elapsed"
        if let total, rate > 0 { line += ", \(Int(Double(total - done) / rate)) s remaining" }
        FileHandle.standardError.write(Data((tty ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish() { if tty { FileHandle.standardError.write(Data("\n".utf8)) } }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Produce realistic synthetic hub traffic (parcel events and declarations), deterministic for a seed.",
        discussion: "Example: cargowatch generate --seed 7 --count 100000            (as fast as possible)\n         cargowatch generate --rate 300 --duration 2m                (paced, wall clock)\n         cargowatch generate --count 10 --output -                   (JSON lines on stdout)")

    @Option(help: "Seed: the same seed gives the same records.") var seed: UInt64 = 42
    @Option(help: "Records to produce.") var count: Int?
    @Option(help: "How long to produce (e.g. 90s, 5m); with --rate.") var duration: String?
    @Option(help: "Records per second (wall clock); 0 = as fast as possible.") var rate: Int = 0
    @Option(help: "Parcels per hour of event time.") var parcelsPerHour: Int = 3600
    @Option(help: "Event time of the first parcel (RFC 3339; default: now).") var start: String?
    @Option(help: "Write JSON lines ({topic,key,value}) to this file ('-' for stdout) instead of Kafka.") var output: String?

    func run() throws {
        var options = TrafficGenerator.Options()
        options.seed = seed
        options.parcelsPerHour = parcelsPerHour
        if let start {
            guard let t = Timestamp(rfc3339: start) else { throw ValidationError("--start: not an RFC 3339 timestamp: \(start)") }
            options.start = t
        } else {
            options.start = Timestamp(millis: Int64(Date().timeIntervalSince1970 * 1000))
        }
        var limitDuration: Duration?
        if let duration {
            guard let d = parseDuration(duration) else { throw ValidationError("--duration: expected e.g. 90s or 5m, got \(duration)") }
            limitDuration = d
        }
        if count == nil && limitDuration == nil { throw ValidationError("give --count or --duration") }
        var generator = TrafficGenerator(options: options)
        var progress = Progress("generate", total: count)
        let started = ContinuousClock.now
        var produced = 0
        func more() -> Bool {
            if let count, produced >= count { return false }
            if let limitDuration, ContinuousClock.now - started >= limitDuration { return false }
            return true
        }
        if let output {
            let handle = output == "-" ? FileHandle.standardOutput : try FileHandle(forWritingTo: URL(fileURLWithPath: output).creatingIfMissing())
            while more() {
                let r = generator.next()
                var w = JSONWriter(capacity: 1024)
                w.beginObject(); w.key("topic"); w.string(r.topic); w.key("key"); w.string(r.key); w.key("value"); w.raw(r.value); w.endObject()
                var line = w.bytes
                line.append(0x0A)
                handle.write(Data(line))
                produced += 1
                if output != "-" { progress.update(produced) }
            }
            return
        }
        let producer = try KafkaProducer(properties: kafkaProperties().merging(["linger.ms": "5"]) { a, _ in a })
        var topics: [String: ProducerTopic] = [:]
        var batch = OutgoingBatch(reservingBytes: 1 << 20)
        let batchSize = rate > 0 ? max(1, rate / 20) : 2000
        while more() {
            batch.removeAll()
            for _ in 0..<batchSize where more() || batch.count == 0 {
                let r = generator.next()
                let t = try topics[r.topic] ?? producer.topic(r.topic)
                topics[r.topic] = t
                batch.append(topic: t, key: Array(r.key.utf8), value: r.value)
                produced += 1
                if let count, produced >= count { break }
            }
            try producer.send(batch)
            producer.poll()
            if let failed = producer.drainDeliveryCounts().failed.first { throw failed }
            progress.update(produced)
            if rate > 0 {
                let due = started + .milliseconds(Int64(produced) * 1000 / Int64(rate))
                let now = ContinuousClock.now
                if due > now { Thread.sleep(forTimeInterval: Double((due - now).components.attoseconds) / 1e18 + Double((due - now).components.seconds)) }
            }
        }
        try producer.flush(timeout: .seconds(60))
        if let failed = producer.drainDeliveryCounts().failed.first { throw failed }
        progress.update(produced, force: true)
        progress.finish()
    }
}

func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
    for (suffix, ms) in units where text.hasSuffix(suffix) {
        if let n = Int64(text.dropLast(suffix.count)) { return .milliseconds(n * ms) }
    }
    return nil
}

extension URL {
    func creatingIfMissing() -> URL {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        return self
    }
}
