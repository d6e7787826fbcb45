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
        abstract: "Produce realistic synthetic hub traffic with labelled scenarios and ground truth, deterministic for a seed.",
        discussion: """
        Topics: parcel events, customs declarations, customs inspections and access logs, with customs fraud, \
        exfiltration, personal data in free text, hostile records, duplicates and late events injected at the \
        given rates. Every scenario has a ground-truth line (--truth FILE, and the truth topic when producing to \
        Kafka); the "run" line comes last. --clean switches every scenario off (benign traffic only).
        Example: cargowatch generate --seed 7 --count 100000 --truth truth.jsonl   (as fast as possible)
                 cargowatch generate --rate 300 --duration 2m                      (paced, wall clock)
                 cargowatch generate --count 10 --output - --clean                 (JSON lines on stdout)
        """)

    @Option(help: "Seed: the same seed gives the same records.") var seed: UInt64 = 42
    @Option(help: "Records to produce.") var count: Int?
    @Option(help: "How long to produce (e.g. 90s, 5m); with --rate.") var duration: String?
    @Option(help: "Records per second (wall clock); 0 = as fast as possible.") var rate: Int = 0
    @Option(help: "Parcels per hour of event time.") var parcelsPerHour: Int = 3600
    @Option(help: "Event time of the first parcel (RFC 3339; default: now).") var start: String?
    @Option(help: "Serial number of the first parcel (parcel and declaration ids follow it): runs into the same topics with different values don't collide.") var firstParcelSerial: Int = 0
    @Option(help: "Write JSON lines ({topic,key,value}) to this file ('-' for stdout) instead of Kafka. Hostile records carry value_base64 instead of value.") var output: String?

    @Option(help: "Share of declarations that are fraudulent.") var fraudRate: Double = 0.05
    @Option(help: "Share of declarations with a customs inspection outcome.") var inspectionRate: Double = 0.02
    @Option(help: "Exfiltration scenarios per simulated day.") var exfiltrationCount: Int = 5
    @Option(help: "Hours of benign access history (event time) before the first exfiltration scenario.") var exfiltrationAfter: Int = 24
    @Option(help: "Share of parcels with personal data written into an item description.") var piiRate: Double = 0.02
    @Option(help: "Per record, the chance of an extra hostile/malformed record.") var hostileRate: Double = 0.001
    @Option(help: "Per record, the chance of an exact re-send.") var duplicateRate: Double = 0.005
    @Option(help: "Per record, the chance that it comes 1-60 minutes late.") var lateRate: Double = 0.005
    @Option(help: "Principals (staff, services, brokers) in the access logs.") var principals: Int = 120
    @Flag(help: "No scenarios at all: benign traffic only (access logs and compliant inspections included).") var clean = false
    @Flag(help: "No access logs.") var noAccessLogs = false
    @Option(help: "Write the ground truth as JSON lines to this file.") var truth: String?
    @Option(help: "Topic for the ground truth when producing to Kafka.") var truthTopic: String = "truth.scenarios"
    @Flag(help: "Do not produce the ground truth to the truth topic.") var noTruthTopic = false
    @Option(help: "Topic for customs inspections.") var inspectionsTopic: String = "customs.inspections"
    @Option(help: "Topic for access logs.") var accessTopic: String = "access.logs"

    func options() throws -> TrafficGenerator.Options {
        var options = TrafficGenerator.Options.labelled
        options.seed = seed
        options.parcelsPerHour = parcelsPerHour
        options.firstParcelSerial = firstParcelSerial
        for (name, value) in [("--fraud-rate", fraudRate), ("--inspection-rate", inspectionRate), ("--pii-rate", piiRate),
                              ("--hostile-rate", hostileRate), ("--duplicate-rate", duplicateRate), ("--late-rate", lateRate)]
        where !(0...1).contains(value) {
            throw ValidationError("\(name): expected a share between 0 and 1, got \(value)")
        }
        guard exfiltrationCount >= 0, principals >= 10, parcelsPerHour >= 1, (0..<1_000_000_000).contains(firstParcelSerial) else {
            throw ValidationError("--exfiltration-count must be >= 0, --principals >= 10, --parcels-per-hour >= 1, --first-parcel-serial in 0..<1000000000")
        }
        options.fraudRate = fraudRate
        options.inspectionRate = inspectionRate
        options.exfiltrationPerDay = exfiltrationCount
        options.exfiltrationAfterHours = max(0, exfiltrationAfter)
        options.piiRate = piiRate
        options.hostileRate = hostileRate
        options.duplicateRate = duplicateRate
        options.lateRate = lateRate
        options.principals = principals
        options.accessLogs = !noAccessLogs
        options.inspectionsTopic = inspectionsTopic
        options.accessTopic = accessTopic
        if clean {
            options.fraudRate = 0
            options.exfiltrationPerDay = 0
            options.piiRate = 0
            options.hostileRate = 0
            options.duplicateRate = 0
            options.lateRate = 0
        }
        if let start {
            guard let t = Timestamp(rfc3339: start) else { throw ValidationError("--start: not an RFC 3339 timestamp: \(start)") }
            options.start = t
        } else {
            options.start = Timestamp(millis: Int64(Date().timeIntervalSince1970 * 1000))
        }
        return options
    }

    func run() throws {
        let options = try options()
        var limitDuration: Duration?
        if let duration {
            guard let d = parseDuration(duration) else { throw ValidationError("--duration: expected e.g. 90s or 5m, got \(duration)") }
            limitDuration = d
        }
        if count == nil && limitDuration == nil { throw ValidationError("give --count or --duration") }
        var generator = TrafficGenerator(options: options)
        let truthFile = try truth.map { try FileHandle(forWritingTo: URL(fileURLWithPath: $0).truncatedOrCreated()) }
        var truthBuffer: [UInt8] = []
        func writeTruth(_ lines: [TruthLine], flush: Bool = false) {
            guard let truthFile else { return }
            for line in lines {
                truthBuffer += line.json
                truthBuffer.append(0x0A)
            }
            if flush || truthBuffer.count > 1 << 16 {
                truthFile.write(Data(truthBuffer))
                truthBuffer.removeAll(keepingCapacity: true)
            }
        }
        var progress = Progress("generate", total: count)
        let started = ContinuousClock.now
        var produced = 0
        func more() -> Bool {
            if let count, produced >= count { return false }
            if let limitDuration, ContinuousClock.now - started >= limitDuration { return false }
            return true
        }
        if let output {
            let handle = output == "-" ? FileHandle.standardOutput : try FileHandle(forWritingTo: URL(fileURLWithPath: output).truncatedOrCreated())
            var buffer: [UInt8] = []
            while more() {
                let r = generator.next()
                var w = JSONWriter(capacity: 1024)
                w.beginObject(); w.key("topic"); w.string(r.topic); w.key("key"); w.string(r.key)
                if let form = r.hostileForm {
                    // A hostile value may not be JSON (or UTF-8) at all: carried as base64.
                    w.key("value_base64"); w.string(Data(r.value).base64EncodedString())
                    if !r.headers.isEmpty {
                        w.key("headers"); w.beginArray()
                        for (name, value) in r.headers {
                            w.beginObject(); w.key("name"); w.string(name); w.key("value_base64"); w.string(Data(value).base64EncodedString()); w.endObject()
                        }
                        w.endArray()
                    }
                    w.key("hostile"); w.string(form)
                } else {
                    w.key("value"); w.raw(r.value)
                }
                w.endObject()
                buffer += w.bytes
                buffer.append(0x0A)
                if buffer.count > 1 << 16 {
                    handle.write(Data(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
                writeTruth(r.truth)
                produced += 1
                if output != "-" { progress.update(produced) }
            }
            handle.write(Data(buffer))
            writeTruth(generator.finish(), flush: true)
            return
        }
        let producer = try KafkaProducer(properties: kafkaProperties().merging(["linger.ms": "5"]) { a, _ in a })
        var topics: [String: ProducerTopic] = [:]
        let truthTopicHandle = noTruthTopic ? nil : try producer.topic(truthTopic)
        var batch = OutgoingBatch(reservingBytes: 1 << 20)
        let batchSize = rate > 0 ? max(1, rate / 20) : 2000
        func appendTruth(_ lines: [TruthLine]) {
            guard let truthTopicHandle else { return }
            for line in lines { batch.append(topic: truthTopicHandle, key: Array(line.scenarioID.utf8), value: line.json) }
        }
        while more() {
            batch.removeAll()
            for _ in 0..<batchSize where more() || batch.count == 0 {
                let r = generator.next()
                let t = try topics[r.topic] ?? producer.topic(r.topic)
                topics[r.topic] = t
                batch.append(topic: t, key: Array(r.key.utf8), value: r.value, headers: r.headers)
                if !r.truth.isEmpty {
                    writeTruth(r.truth)
                    appendTruth(r.truth)
                }
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
        // Nothing generated (--count 0: a producer check) means nothing to report either.
        let closing = produced > 0 ? generator.finish() : []
        writeTruth(closing, flush: true)
        batch.removeAll()
        appendTruth(closing)
        if batch.count > 0 { try producer.send(batch) }
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
    /// An empty file at this path (a rerun must not leave the tail of a longer earlier run).
    func truncatedOrCreated() -> URL {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return self
    }
}
