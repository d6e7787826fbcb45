import ArgumentParser
import Catalogue
import Dispatch
import Foundation

/// Child processes the demo started, stopped on every way out (also Ctrl-C).
final class DemoProcesses: @unchecked Sendable {
    private let lock = NSLock()
    private var children: [Process] = []
    private var brokerStop: (() -> Void)?

    func add(_ p: Process) { lock.withLock { children.append(p) } }
    func onStop(_ body: @escaping () -> Void) { lock.withLock { brokerStop = body } }

    func stopAll() {
        let (procs, broker) = lock.withLock { () -> ([Process], (() -> Void)?) in
            defer { children.removeAll(); brokerStop = nil }
            return (children, brokerStop)
        }
        for p in procs where p.isRunning { p.terminate() }
        let deadline = Date().addingTimeInterval(35)
        for p in procs { while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) } }
        for p in procs where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        broker?()
    }
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole fleet on generated traffic, then print the report and the eval table and write the HTML report.",
        discussion: """
        With no broker given (KAFKA_BOOTSTRAP_SERVERS unset) it starts the local broker (ops/broker). It creates the topics,
        starts the four workers, generates traffic with labelled scenarios, waits until the workers are idle, prints the
        report and the eval table and writes run/report.html. Everything it started is stopped at the end and on Ctrl-C.
        Example: cargowatch demo
                 cargowatch demo --duration 5m --rate 800
                 cargowatch demo --count 1000000 --rate 0 --parcels-per-hour 3600   (the full evaluation run of the README)
        """)

    @Option(help: "How long to generate traffic (wall clock).") var duration: String = "3m"
    @Option(help: "Records per second (0: as fast as possible, with --count).") var rate: Int = 600
    @Option(help: "Generate this many records instead of generating for --duration (e.g. a full evaluation run).") var count: Int?
    @Option(help: "Parcels per hour of event time: lower makes event time run faster than the clock.") var parcelsPerHour: Int = 600
    @Option(help: "Seed of the generator.") var seed: UInt64 = 42
    @Option(help: "Directory for logs, ground truth and the reports.") var output: String = "run/demo"
    @Option(help: "Repository root (ops/, reference/, policy/); default: found from the executable or the current directory.") var root: String?

    func run() throws {
        guard let generateFor = parseDuration(duration) else { throw ValidationError("--duration: expected e.g. 3m") }
        let repo = try locateRoot()
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let procs = DemoProcesses()
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { (sig: Int32) -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                FileHandle.standardError.write(Data("\ndemo: stopping everything it started…\n".utf8))
                procs.stopAll()
                Foundation.exit(130)
            }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() }; procs.stopAll() }

        var env = ProcessInfo.processInfo.environment
        if env["KAFKA_BOOTSTRAP_SERVERS"] == nil {
            say("starting the local broker (ops/broker)")
            var brokerEnv = env
            brokerEnv["CARGOWATCH_STATE"] = (output.hasPrefix("/") ? output : FileManager.default.currentDirectoryPath + "/" + output) + "/state"
            let start = try runTool("\(repo)/ops/broker", ["start"], env: brokerEnv)
            guard let line = start.split(separator: "\n").last(where: { $0.hasPrefix("KAFKA_BOOTSTRAP_SERVERS=") }) else {
                throw ValidationError("ops/broker start did not print KAFKA_BOOTSTRAP_SERVERS=…:\n\(start)")
            }
            env["KAFKA_BOOTSTRAP_SERVERS"] = String(line.dropFirst("KAFKA_BOOTSTRAP_SERVERS=".count))
            procs.onStop { _ = try? runTool("\(repo)/ops/broker", ["stop"], env: brokerEnv) }
        }
        let bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]!
        setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap, 1)
        say("broker \(bootstrap); creating topics")
        _ = try runTool("\(bin)/cargowatch", ["topics", "create"], env: env)

        // A throwaway pseudonym key for this run only; the workers get it, nobody sees it.
        env["CARGOWATCH_PSEUDONYM_KEY"] = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 36) }.joined()
        env["CARGOWATCH_REFERENCE_DIR"] = "\(repo)/reference"
        env["KAFKA_SESSION_TIMEOUT_MS"] = "6000"
        env["KAFKA_HEARTBEAT_INTERVAL_MS"] = "500"
        // Event time runs fast in the demo: a principal's baseline warms up in hours, not a day.
        env["CARGOWATCH_AGGREGATION_ALERTS_WARMUP"] = env["CARGOWATCH_AGGREGATION_ALERTS_WARMUP"] ?? "6h"
        let workers = [("enrichment-worker", 8081), ("sensitivity-worker", 8082), ("fraud-worker", 8083), ("aggregation-worker", 8084)]
        for (name, port) in workers {
            var e = env
            e["CARGOWATCH_HTTP_PORT"] = String(port)
            let p = try launch("\(bin)/\(name)", [], env: e, log: "\(output)/\(name).log")
            procs.add(p)
        }
        for (name, port) in workers {
            guard waitReady(port: port, timeout: 120) else { throw ValidationError("\(name) did not become ready; see \(output)/\(name).log") }
            say("\(name) ready on :\(port)")
        }
        say("generating " + (count.map { "\($0) records" } ?? duration) + " of traffic at " + (rate > 0 ? "\(rate) records/s" : "full speed") + " (ground truth: \(output)/truth.jsonl)")
        let amount = count.map { ["--count", String($0)] } ?? ["--duration", duration]
        let generator = try launch("\(bin)/cargowatch", ["generate", "--rate", String(rate)] + amount + ["--seed", String(seed),
                                                         "--parcels-per-hour", String(parcelsPerHour), "--truth", "\(output)/truth.jsonl"],
                                   env: env, log: "\(output)/generate.log", echo: true)
        procs.add(generator)
        let until = Date().addingTimeInterval(count == nil ? Double(generateFor.components.seconds) + 120 : 3 * 3600)
        while generator.isRunning && Date() < until { Thread.sleep(forTimeInterval: 0.5) }
        guard generator.terminationStatus == 0 else { throw ValidationError("the generator failed; see \(output)/generate.log") }
        say("waiting until the workers have processed everything")
        waitIdle(ports: workers.map(\.1))
        for (name, port) in workers {
            if let m = httpGet(port: port, path: "/metrics") {
                let inCount = sum(m, "cargowatch_records_in_total"), out = sum(m, "cargowatch_records_out_total"), dlq = sum(m, "cargowatch_dead_letters_total")
                say(String(format: "%@: %.0f in, %.0f out, %.0f dead letters", name, inCount, out, dlq))
            }
        }
        print("")
        let report = try ReportData.gather(from: nil, to: nil, idle: 3, progress: false)
        print(ReportCommand.text(report, top: 8))
        try Data(HTMLReport.render(report, title: "Cargowatch demo").utf8).write(to: URL(fileURLWithPath: "\(output)/report.html"))
        print("\nEval (ground truth \(output)/truth.jsonl):\n")
        let eval = try EvalCommand.parse(["--truth", "\(output)/truth.jsonl", "--json", "\(output)/eval.json"])
        try eval.run()
        print("\nHTML report: \(output)/report.html   eval JSON: \(output)/eval.json   logs: \(output)/*.log")
        say("stopping the workers" + (env["CARGOWATCH_STATE"] == nil ? " and the broker" : ""))
    }

    func say(_ s: String) { FileHandle.standardError.write(Data("demo: \(s)\n".utf8)) }

    func locateRoot() throws -> String {
        if let root { return root }
        let fm = FileManager.default
        var candidates = [fm.currentDirectoryPath]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 { dir = dir.deletingLastPathComponent(); candidates.append(dir.path) }
        guard let found = candidates.first(where: { fm.fileExists(atPath: "\($0)/ops/broker") && fm.fileExists(atPath: "\($0)/reference") }) else {
            throw ValidationError("cannot find the repository (ops/broker, reference/); run from it or pass --root")
        }
        return found
    }

    func launch(_ path: String, _ args: [String], env: [String: String], log: String, echo: Bool = false) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.environment = env
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = echo ? FileHandle.standardError : handle
        try p.run()
        return p
    }

    func waitReady(port: Int, timeout: Double) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let body = httpGet(port: port, path: "/readyz"), body.hasPrefix("200") { return true }
            Thread.sleep(forTimeInterval: 0.5)
        }
        return false
    }

    /// Drained: every task's consumer lag is 0 and no input count moved for 10 s (windows then
    /// close as far as event time allows). A backlog of a million records takes longer than any
    /// fixed wait, so there is none: the wait ends early only when nothing moves for 2 minutes
    /// although lag remains (a stuck worker), and says so.
    func waitIdle(ports: [Int]) {
        var last = -1.0, stableSince = Date(), lastSaid = Date()
        let end = Date().addingTimeInterval(6 * 3600)
        while Date() < end {
            let metrics = ports.compactMap { httpGet(port: $0, path: "/metrics") }
            let total = metrics.map { sum($0, "cargowatch_records_in_total") }.reduce(0, +)
            let lag = metrics.map { sum($0, "cargowatch_consumer_lag_records") }.reduce(0, +)
            if total != last { last = total; stableSince = Date() }
            let still = Date().timeIntervalSince(stableSince)
            if metrics.count == ports.count && lag == 0 && still >= 10 { return }
            if still >= 120 {
                say(String(format: "no worker has read a record for 2 minutes, %.0f records of lag remain; reporting what there is", lag))
                return
            }
            if Date().timeIntervalSince(lastSaid) >= 30 {
                say(String(format: "%.0f records read so far, %.0f records of lag", total, lag))
                lastSaid = Date()
            }
            Thread.sleep(forTimeInterval: 1)
        }
    }

    func sum(_ metrics: String, _ name: String) -> Double {
        metrics.split(separator: "\n").filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }
}

/// Runs a tool to completion; its output, or an error with it. Output goes through a file, not
/// a pipe: a tool that leaves a daemon behind (ops/broker start) would hold a pipe open.
func runTool(_ path: String, _ args: [String], env: [String: String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.environment = env
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("cargowatch-tool-\(UInt32.random(in: 0...UInt32.max)).out")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out) }
    let handle = try FileHandle(forWritingTo: out)
    p.standardOutput = handle
    p.standardError = handle
    try p.run()
    p.waitUntilExit()
    try? handle.close()
    let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
    guard p.terminationStatus == 0 else { throw ValidationError("\(path) \(args.joined(separator: " ")) failed (\(p.terminationStatus)):\n\(text)") }
    return text
}

/// A tiny HTTP GET to localhost: "<status> <body>".
func httpGet(port: Int, path: String) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var tv = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else { return nil }
    let request = "GET \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        data += buffer[0..<n]
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let statusLine = text.split(separator: "\r\n").first, let code = statusLine.split(separator: " ").dropFirst().first,
          let bodyStart = text.range(of: "\r\n\r\n") else { return nil }
    return "\(code) " + text[bodyStart.upperBound...]
}
