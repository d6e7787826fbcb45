import Foundation
import Kafka
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The local broker (`ops/test` exports KAFKA_BOOTSTRAP_SERVERS). No broker is a failure.
/// Shared by the integration test targets.
public enum Broker {
    public static let bootstrap: String = {
        if let env = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"], !env.isEmpty { return env }
        let file = Repo.root + "/.cache/broker.env"
        if let text = try? String(contentsOfFile: file, encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("KAFKA_BOOTSTRAP_SERVERS=") }) {
            return String(line.dropFirst("KAFKA_BOOTSTRAP_SERVERS=".count))
        }
        return ""
    }()

    public static func require() throws -> String {
        guard !bootstrap.isEmpty else {
            Issue.record("no broker: run the tests with ops/test (it starts one)")
            throw CancellationError()
        }
        return bootstrap
    }

    public static func unique(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    /// `properties`: librdkafka settings over the local broker's (another broker, TLS, SASL).
    public static func createTopics(_ names: [String], partitions: Int32 = 4, compacted: Set<String> = [], properties: [String: String] = [:]) throws {
        let admin = try KafkaAdmin(properties: ["bootstrap.servers": try require()].merging(properties) { $1 })
        let result = try admin.createTopics(names.map {
            TopicSpec(name: $0, partitions: partitions, config: compacted.contains($0) ? ["cleanup.policy": "compact"] : [:])
        })
        for name in names { #expect(result[name] == .created || result[name] == .alreadyExists, "\(name): \(String(describing: result[name]))") }
    }

    public static func produce(_ topic: String, _ records: [(key: String, value: String)], properties: [String: String] = [:]) throws {
        let producer = try KafkaProducer(properties: ["bootstrap.servers": try require(), "linger.ms": "5", "partitioner": "murmur2_random"].merging(properties) { $1 })
        var batch = OutgoingBatch()
        let t = try producer.topic(topic)
        for r in records { batch.append(topic: t, key: Array(r.key.utf8), value: Array(r.value.utf8)) }
        try producer.send(batch)
        try producer.flush()
        #expect(producer.drainDeliveryReports().allSatisfy { $0.error == nil })
    }

    public struct Record {
        public let partition: Int32
        public let offset: Int64
        public let key: String?
        public let value: String?
        public let headers: [String: String]
    }

    /// Reads a topic from the beginning (read_committed) until `count` records arrived or
    /// nothing new came for `idle`.
    public static func read(_ topic: String, count: Int? = nil, idle: Duration = .seconds(3), timeout: Duration = .seconds(90),
                            properties: [String: String] = [:]) throws -> [Record] {
        let consumer = try KafkaConsumer(properties: [
            "bootstrap.servers": try require(), "group.id": unique("reader"), "isolation.level": "read_committed",
            "auto.offset.reset": "earliest", "session.timeout.ms": "6000", "heartbeat.interval.ms": "500"].merging(properties) { $1 })
        try consumer.subscribe([topic])
        let batch = MessageBatch(capacity: 5000)
        var out: [Record] = []
        let deadline = ContinuousClock.now + timeout
        var lastNew = ContinuousClock.now
        var started = false
        while ContinuousClock.now < deadline {
            let r = try consumer.poll(into: batch, timeout: .milliseconds(100))
            if r.rebalance != nil && !started {
                started = true
                lastNew = .now  // idle counts from the assignment, not from the group join
            }
            for m in batch {
                out.append(Record(partition: m.partition, offset: m.offset, key: m.key.map { String(decoding: $0, as: UTF8.self) },
                                  value: m.value.map { String(decoding: $0, as: UTF8.self) },
                                  headers: Dictionary(m.headers.map { ($0.name, String(decoding: $0.value, as: UTF8.self)) }, uniquingKeysWith: { $1 })))
                lastNew = .now
            }
            if let count, out.count >= count { break }
            if started && ContinuousClock.now - lastNew > idle && (count == nil || out.count >= count!) { break }
            if started && count != nil && ContinuousClock.now - lastNew > idle * 10 { break }
        }
        batch.release()
        try? consumer.close()
        return out
    }
}

/// A local broker of a test's own (`ops/broker start|start-tls|start-scram` in a state directory
/// of its own): for tests that freeze, stop or secure it without disturbing the shared one.
public struct PrivateBroker {
    public let state: String
    /// The KAFKA_* settings `ops/broker` printed.
    public let settings: [String: String]

    /// mode: "" (plaintext), "tls" or "scram".
    public init(_ mode: String = "") throws {
        state = FileManager.default.temporaryDirectory.appendingPathComponent("cargowatch-broker\(mode)-\(UUID().uuidString)").path
        let (status, output) = try Self.ops([mode.isEmpty ? "start" : "start-\(mode)"], state: state)
        try #require(status == 0, "ops/broker start-\(mode) failed: \(output)")
        var s: [String: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("KAFKA_") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { s[parts[0]] = parts[1] }
        }
        settings = s
    }

    /// The same settings as librdkafka properties (KAFKA_SSL_CA_LOCATION → ssl.ca.location).
    public var properties: [String: String] {
        Dictionary(uniqueKeysWithValues: settings.map { ($0.key.dropFirst(6).lowercased().replacingOccurrences(of: "_", with: "."), $0.value) })
    }

    /// The broker process (the plaintext one behind a TLS front).
    public var pid: Int32? { (try? String(contentsOfFile: state + "/broker.pid", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }

    public func stop() { _ = try? Self.ops(["stop"], state: state) }

    /// Stops this (plaintext) broker and starts a new, empty one at the same address.
    public func replaceWithEmpty() throws {
        let port = try #require(settings["KAFKA_BOOTSTRAP_SERVERS"]?.split(separator: ":").last.map(String.init))
        stop()
        let (status, output) = try Self.ops(["start"], state: state, environment: ["CARGOWATCH_BROKER_PORT": port])
        try #require(status == 0, "a new broker at port \(port) did not start: \(output)")
    }

    public static func ops(_ args: [String], state: String, environment: [String: String] = [:]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(Repo.root)/ops/broker")
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(["CARGOWATCH_STATE": state]) { $1 }.merging(environment) { $1 }
        // A file, not a Pipe: the broker it starts runs on after the script exits.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("ops-broker-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let handle = try FileHandle(forWritingTo: out)
        defer { try? handle.close() }
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "")
    }
}

public enum Repo {
    public static let root: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

/// A worker executable run as a separate process, as in production: signals are real.
public final class WorkerProcess {
    public let process = Process()
    public let logFile: String
    public let port: Int

    public init(executable: String, environment: [String: String], arguments: [String] = []) throws {
        port = WorkerProcess.freePort()
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(executable)-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: "\(Repo.root)/.build/debug/\(executable)")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CARGOWATCH_") && !$0.key.hasPrefix("KAFKA_") }
        env["KAFKA_BOOTSTRAP_SERVERS"] = try Broker.require()
        env["KAFKA_SESSION_TIMEOUT_MS"] = "6000"
        env["KAFKA_HEARTBEAT_INTERVAL_MS"] = "500"
        env["CARGOWATCH_HTTP_PORT"] = String(port)
        env.merge(environment) { $1 }
        process.environment = env
        let handle = FileHandle(forWritingAtPath: logFile)!
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    public func get(_ path: String) -> (status: Int, body: String)? { HTTP.get(port: port, path: path) }

    /// Waits until /readyz answers 200.
    @discardableResult
    public func waitReady(timeout: Duration = .seconds(60)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && process.isRunning {
            if get("/readyz")?.status == 200 { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }

    /// Waits until the worker has consumed at least one record (its metrics say so).
    @discardableResult
    public func waitProcessing(timeout: Duration = .seconds(90)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && process.isRunning {
            let consumed = get("/metrics")?.body.split(separator: "\n")
                .filter { $0.hasPrefix("cargowatch_records_in_total") }
                .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +) ?? 0
            if consumed > 0 { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// CPU time used so far (user + system, from /proc), in seconds.
    public var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based, see proc(5)).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory now, in MiB (from /proc).
    public var residentMiB: Double {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }

    /// Exit status after waiting (nil on timeout).
    public func waitExit(timeout: Duration = .seconds(60)) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    public func killHard() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        _ = waitExit(timeout: .seconds(10))
    }

    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

public enum HTTP {
    public static func get(port: Int, path: String) -> (status: Int, body: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            response += buf[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n").first, let code = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (code, body)
    }
}

/// Validates sample records against the catalogue's JSON Schemas with a real validator
/// (python-jsonschema, Draft 2020-12, format checks) through ops/validate-catalogue.py.
public enum SchemaValidator {
    /// samples: schema stem → records. Exit status 0 when all validate.
    public static func validate(_ samples: [String: [[UInt8]]]) throws -> (status: Int32, output: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("samples-\(UUID().uuidString)")
        for (stem, records) in samples {
            let sub = dir.appendingPathComponent(stem)
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            for (i, r) in records.enumerated() { try Data(r).write(to: sub.appendingPathComponent("\(i).json")) }
        }
        let python = "\(Repo.root)/.venv/bin/python"
        guard FileManager.default.fileExists(atPath: python) else {
            Issue.record("no \(python): run ops/install-deps (ops/test does)")
            return (-1, "")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["\(Repo.root)/ops/validate-catalogue.py", "--schemas", "\(Repo.root)/schemas", "--samples", dir.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out)
    }
}
