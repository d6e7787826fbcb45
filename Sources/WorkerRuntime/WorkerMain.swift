import Catalogue
import Dispatch
import FleetConfig
import Foundation
import Kafka
import Logging
import ReferenceData
import ServiceLifecycle
import Synchronization

/// A worker is its tasks (handlers) plus its settings; everything else is the runtime's.
public struct WorkerDefinition: Sendable {
    public let name: String
    public let defaultHTTPPort: Int
    public let settings: [Setting]
    public let usesReferenceData: Bool
    /// Builds the tasks from the loaded configuration (throw `ConfigError` for bad values).
    public let tasks: @Sendable (LoadedConfig, RuntimeOptions) throws -> [TaskDefinition]

    public init(name: String, defaultHTTPPort: Int, settings: [Setting], usesReferenceData: Bool = true,
                tasks: @escaping @Sendable (LoadedConfig, RuntimeOptions) throws -> [TaskDefinition]) {
        self.name = name
        self.defaultHTTPPort = defaultHTTPPort
        self.settings = settings
        self.usesReferenceData = usesReferenceData
        self.tasks = tasks
    }

    /// Every setting this worker reads: the runtime's, then its own.
    public var spec: ConfigSpec {
        let own = Set(settings.map { String($0.key.prefix { $0 != "." }) + "." })
        let fleet = ["enrichment.", "sensitivity.", "pseudonym.", "fraud.", "aggregation.", "generator.", "demo.", "probe."]
        return ConfigSpec(program: name, settings: RuntimeSettings.common(worker: name, httpPort: defaultHTTPPort) + settings,
                          foreignPrefixes: fleet.filter { !own.contains($0) })
    }
}

/// Process exit codes (sysexits.h where one fits).
public enum ExitCode {
    public static let ok: Int32 = 0
    public static let usage: Int32 = 64
    public static let unavailable: Int32 = 69
    public static let software: Int32 = 70
    public static let config: Int32 = ConfigError.exitCode
}

public enum WorkerMain {
    /// Ends the process without running atexit handlers. libcrypto registers OPENSSL_cleanup (by
    /// way of librdkafka's curl_global_init); it frees every thread's OpenSSL state without a
    /// lock, while the thread that made the first Kafka client (the broker prober) may still be
    /// exiting and freeing the same blocks: a rare double free after a clean stop, about once in
    /// 1,500 worker runs (openssl/openssl#6214; valgrind showed it every time once the window was
    /// widened). The Kafka clients are destroyed and the logs written by the time this is called.
    public static func terminate(_ code: Int32) -> Never {
        fflush(nil)
        _exit(code)
    }

    /// Runs a worker until SIGTERM/SIGINT (or a fatal error); returns the process exit code.
    public static func run(_ worker: WorkerDefinition, arguments: [String] = Array(CommandLine.arguments.dropFirst()),
                           environment: [String: String] = ProcessInfo.processInfo.environment) async -> Int32 {
        var configFile: String?
        var printConfig = false
        var it = arguments.makeIterator()
        while let a = it.next() {
            switch a {
            case "--config":
                guard let f = it.next() else { return usage(worker, "--config needs a file") }
                configFile = f
            case "--print-config": printConfig = true
            case "--help", "-h":
                print(help(worker))
                return ExitCode.ok
            default: return usage(worker, "unknown argument \(a)")
            }
        }

        let config: LoadedConfig
        do {
            config = try ConfigLoader.load(worker.spec, configFile: configFile, environment: environment)
        } catch {
            stderr("\(worker.name): \(error)")
            return ExitCode.config
        }
        if printConfig {
            print(config.rendered())
            return ExitCode.ok
        }
        let options = RuntimeOptions(worker: worker.name, config: config)
        if let bad = KafkaProperties.firstInvalid(options.kafka) {
            let source = config.kafka[bad.property]?.source.description ?? "default"
            stderr("\(worker.name): configuration error: kafka.\(bad.property) (\(source)): \(bad.message)")
            return ExitCode.config
        }
        let level = Logger.Level(rawValue: options.logLevel) ?? .info
        let logger = Logger(label: worker.name) { label in JSONLogHandler(label: label, level: level) }
        do {
            try Librdkafka.requireSupportedVersion()
        } catch {
            logger.critical("unsupported librdkafka", metadata: ["error": "\(error)"])
            stderr("\(worker.name): \(error)")
            return ExitCode.unavailable
        }
        logger.info("starting", metadata: ["librdkafka": "\(Librdkafka.versionString)", "guarantee": "\(options.guarantee.rawValue)",
                                           "group": "\(options.groupID)", "instance": "\(options.instanceID)",
                                           "http_port": "\(options.httpPort)"])

        var reference: ReferenceStore?
        if worker.usesReferenceData {
            guard let dir = ReferenceLoader.locate(options.referenceDirectory) else {
                stderr("\(worker.name): configuration error: reference.dir: no reference tables found (looked in \(options.referenceDirectory ?? "./reference, next to the executable, /opt/cargowatch/reference"))")
                return ExitCode.config
            }
            do {
                reference = try ReferenceStore(directory: dir)
            } catch {
                stderr("\(worker.name): configuration error: reference.dir (\(dir)): \(error)")
                return ExitCode.config
            }
            logger.info("reference data loaded", metadata: ["dir": "\(dir)", "version": "\(reference!.snapshot.version)"])
        }

        let tasks: [TaskDefinition]
        do {
            tasks = try worker.tasks(config, options)
        } catch {
            stderr("\(worker.name): \(error)")
            return ExitCode.config
        }

        let metrics = RuntimeMetrics(worker: worker.name)
        let health = Health()
        let server: HealthServer
        do {
            server = try HealthServer(port: options.httpPort, health: health, metrics: metrics)
        } catch {
            stderr("\(worker.name): configuration error: http.port (\(config.values["http.port"]?.source.description ?? "default")): \(error)")
            return ExitCode.config
        }
        server.start()
        defer { server.stop() }

        let service = WorkerService(tasks: tasks.map { StreamTask(definition: $0, options: options, health: health, metrics: metrics, reference: reference, logger: logger) },
                                    options: options, health: health, reference: reference, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            // A task that failed ends the service "unexpectedly": its own failure says why.
            if service.failure.withLock({ $0 }) == nil {
                logger.critical("worker failed", metadata: ["error": "\(error)"])
                service.joinProber()
                return ExitCode.software
            }
        }
        service.joinProber()
        if let failure = service.failure.withLock({ $0 }) {
            logger.critical("worker failed", metadata: ["error": "\(failure.message)"])
            if failure.exitCode == ExitCode.config { stderr("\(worker.name): \(failure.message)") }
            return failure.exitCode
        }
        logger.info("stopped")
        return ExitCode.ok
    }

    static func usage(_ worker: WorkerDefinition, _ message: String) -> Int32 {
        stderr("\(worker.name): \(message)\n\(help(worker))")
        return ExitCode.usage
    }

    static func help(_ worker: WorkerDefinition) -> String {
        """
        usage: \(worker.name) [--config FILE] [--print-config]

        Starts with no arguments: settings come from defaults, then the YAML file given with
        --config, then CARGOWATCH_* environment variables; librdkafka properties from KAFKA_*
        variables (KAFKA_BOOTSTRAP_SERVERS → bootstrap.servers) or the file's kafka: map.
        Configuration errors exit 78 and name the setting. See docs/configuration.md.

        example: KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 \(worker.name) --print-config
        """
    }

    static func stderr(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// Runs each task on a thread of its own (librdkafka calls block), and stops them on the
/// first SIGTERM/SIGINT: each finishes its batch, commits and leaves the group. A second
/// signal, or the shutdown deadline passing, ends the process at once.
final class WorkerService: Service, Sendable {
    let tasks: [StreamTask]
    let options: RuntimeOptions
    let reference: ReferenceStore?
    let logger: Logger
    /// The first task failure: its message and the exit code it calls for (78 for a
    /// configuration error found only on contact with the broker, such as refused credentials).
    let failure = Mutex<(message: String, exitCode: Int32)?>(nil)
    private let running = Atomic<Int>(0)
    private let signalsSeen = Atomic<Int>(0)

    let health: Health
    private let probing = Atomic<Bool>(true)
    /// Signalled when the broker prober has returned and its client is destroyed.
    private let proberDone = DispatchSemaphore(value: 0)

    init(tasks: [StreamTask], options: RuntimeOptions, health: Health, reference: ReferenceStore?, logger: Logger) {
        self.tasks = tasks
        self.options = options
        self.health = health
        self.reference = reference
        self.logger = logger
    }

    func run() async throws {
        running.store(tasks.count, ordering: .relaxed)
        let watchers = installSignalWatchers()
        let fileWatcher = reference.map(watchReferenceFiles)
        let prober = Thread { [self] in
            probeBroker()
            proberDone.signal()
        }
        prober.name = "broker-probe"
        prober.start()
        defer {
            probing.store(false, ordering: .relaxed)
            watchers.forEach { $0.cancel() }
            fileWatcher?.cancel()
        }
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                for task in tasks {
                    let thread = Thread { [self] in
                        do {
                            try task.run()
                        } catch {
                            failure.withLock { $0 = $0 ?? ("\(error)", error is ConfigError ? ExitCode.config : ExitCode.software) }
                            logger.critical("task failed", metadata: ["task": "\(task.definition.name)", "error": "\(error)"])
                            tasks.forEach { $0.stopRequested.store(true, ordering: .relaxed) }
                        }
                        if running.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.resume() }
                    }
                    thread.name = "task-\(task.definition.name)"
                    thread.stackSize = 4 << 20
                    thread.start()
                }
            }
        } onGracefulShutdown: { [self] in
            logger.info("shutdown requested: finishing the batch, committing, leaving the group")
            tasks.forEach { $0.stopRequested.store(true, ordering: .relaxed) }
            let deadline = options.shutdownDeadline
            let log = logger
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: deadline.secondsValue)
                log.critical("shutdown deadline passed; exiting now")
                WorkerMain.terminate(ExitCode.software)
            }
        }
    }

    /// Waits (bounded) for the broker prober to stop and destroy its client. Exiting while its
    /// librdkafka threads are still in a TLS handshake let OpenSSL's exit-time cleanup free state
    /// under them: a worker refused by the broker's certificate died of SIGSEGV instead of exiting 78.
    func joinProber() {
        _ = proberDone.wait(timeout: .now() + options.brokerProbeTimeout.secondsValue + 5)
    }

    /// Reloads reference data when its files change (checked every `reference.reload_interval`).
    private func watchReferenceFiles(_ reference: ReferenceStore) -> DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let interval = options.referenceReloadInterval
        let seconds = interval.secondsValue
        let log = logger
        let stamp = Mutex(ReferenceLoader.modificationStamp(reference.directory))
        timer.schedule(deadline: .now() + seconds, repeating: seconds)
        timer.setEventHandler {
            let now = ReferenceLoader.modificationStamp(reference.directory)
            guard stamp.withLock({ old in defer { old = now }; return old != now }) else { return }
            do {
                let fresh = try reference.reload()
                log.info("reference files changed: reloaded", metadata: ["version": "\(fresh.version)"])
            } catch {
                log.error("reference files changed but do not load; keeping the previous version", metadata: ["error": "\(error)"])
            }
        }
        timer.resume()
        return timer
    }

    /// Asks the cluster for metadata every few seconds: a broker that is frozen (SIGSTOP, a
    /// long GC pause, a half-open network) keeps the clients' connections up and only shows as
    /// request timeouts minutes later, so `/readyz` would go on saying ready. Costs one small
    /// request per interval.
    private func probeBroker() {
        guard let admin = try? KafkaAdmin(properties: options.kafka) else { return }
        var silent = false, reportedMissing = false
        while probing.load(ordering: .relaxed) {
            let asked = ContinuousClock.now
            do {
                let existing = Set(try admin.listTopics(timeout: options.brokerProbeTimeout).map(\.name))
                if silent { logger.info("the broker answers again") }
                silent = false
                // Topics can vanish under a running worker (deleted, or a new empty cluster at the
                // same address): then it is not ready, and says which.
                // In the order the tasks name them (inputs first), as the start-up check reports them.
                var seen = Set<String>()
                let missing = tasks.flatMap(\.requiredTopics).filter { !existing.contains($0) && seen.insert($0).inserted }
                health.update {
                    $0.brokerSilent = nil
                    if !($0.missingTopics == ["(not checked yet)"]) { $0.missingTopics = missing }
                }
                if !missing.isEmpty && !reportedMissing { logger.error("required topics disappeared", metadata: ["missing": "\(missing.joined(separator: ","))"]) }
                reportedMissing = !missing.isEmpty
            } catch {
                if !silent { logger.warning("the broker did not answer a metadata request", metadata: ["error": "\(error)"]) }
                silent = true
                let waited = options.brokerProbeTimeout.components.seconds
                health.update { $0.brokerSilent = "broker did not answer a metadata request within \(waited) s" }
            }
            _ = admin.drainErrors()
            let next = asked + options.brokerProbeInterval
            while probing.load(ordering: .relaxed) && ContinuousClock.now < next { Thread.sleep(forTimeInterval: 0.1) }
        }
    }

    /// SIGHUP reloads reference data; a second SIGTERM/SIGINT exits at once.
    private func installSignalWatchers() -> [DispatchSourceSignal] {
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [self] in
                if signalsSeen.add(1, ordering: .relaxed).newValue >= 2 {
                    FileHandle.standardError.write(Data("second signal: exiting now\n".utf8))
                    WorkerMain.terminate(130)
                }
            }
            s.resume()
            sources.append(s)
        }
        if let reference {
            signal(SIGHUP, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
            let log = logger
            s.setEventHandler {
                do {
                    let fresh = try reference.reload()
                    log.info("reference data reloaded", metadata: ["version": "\(fresh.version)"])
                } catch {
                    log.error("reference data reload failed; keeping the previous version", metadata: ["error": "\(error)"])
                }
            }
            s.resume()
            sources.append(s)
        }
        return sources
    }
}
