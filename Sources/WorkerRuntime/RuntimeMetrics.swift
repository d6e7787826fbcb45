import Metrics
import Prometheus
import Synchronization

/// The worker's Prometheus metrics, through swift-metrics with a registry of its own (so that
/// several runtimes in one test process don't share counters). Handles are cached: creating a
/// swift-metrics object per increment would cost a registry lookup per record.
public final class RuntimeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let worker: String
    private let counters = Mutex<[String: Metrics.Counter]>([:])
    private let gauges = Mutex<[String: Metrics.Gauge]>([:])
    let recordLatency: Metrics.Timer
    let batchDuration: Metrics.Timer
    /// The loop does not poll while it commits: this is the stall every `commit.interval`.
    let commitDuration: Metrics.Timer

    public init(worker: String) {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        let latencyBuckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                          .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                          .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60)]
        f.defaultDurationHistogramBuckets = latencyBuckets
        factory = f
        self.worker = worker
        recordLatency = Metrics.Timer(label: "cargowatch_record_latency_seconds", dimensions: [("worker", worker)], factory: f)
        batchDuration = Metrics.Timer(label: "cargowatch_batch_processing_seconds", dimensions: [("worker", worker)], factory: f)
        commitDuration = Metrics.Timer(label: "cargowatch_commit_seconds", dimensions: [("worker", worker)], factory: f)
    }

    func counter(_ name: String, _ labels: [(String, String)]) -> Metrics.Counter {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        return counters.withLock { cache in
            if let c = cache[key] { return c }
            let c = Metrics.Counter(label: name, dimensions: [("worker", worker)] + labels, factory: factory)
            cache[key] = c
            return c
        }
    }

    func gauge(_ name: String, _ labels: [(String, String)]) -> Metrics.Gauge {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        return gauges.withLock { cache in
            if let g = cache[key] { return g }
            let g = Metrics.Gauge(label: name, dimensions: [("worker", worker)] + labels, factory: factory)
            cache[key] = g
            return g
        }
    }

    func recordsIn(_ topic: String, _ n: Int) { counter("cargowatch_records_in_total", [("topic", topic)]).increment(by: n) }
    func recordsOut(_ topic: String, _ n: Int) { counter("cargowatch_records_out_total", [("topic", topic)]).increment(by: n) }
    func deadLetter(_ kind: String) { counter("cargowatch_dead_letters_total", [("reason", kind)]).increment() }
    func decodeError() { counter("cargowatch_decode_errors_total", []).increment() }
    func late() { counter("cargowatch_late_records_total", []).increment() }
    func rebalance(_ kind: String) { counter("cargowatch_rebalances_total", [("kind", kind)]).increment() }
    func transaction(_ outcome: String) { counter("cargowatch_transactions_total", [("outcome", outcome)]).increment() }
    func handlerEvent(_ name: String, _ n: Int) { counter("cargowatch_handler_events_total", [("event", name)]).increment(by: n) }
    func kafkaError(_ name: String) { counter("cargowatch_kafka_errors_total", [("error", name)]).increment() }
    func lag(_ topic: String, _ partition: Int32, _ value: Int64) {
        gauge("cargowatch_consumer_lag_records", [("topic", topic), ("partition", String(partition))]).record(value)
    }
    func storeKeys(_ task: String, _ value: Int) { gauge("cargowatch_state_store_keys", [("task", task)]).record(value) }
    func ready(_ value: Bool) { gauge("cargowatch_ready", []).record(value ? 1 : 0) }
    func assignedPartitions(_ task: String, _ n: Int) { gauge("cargowatch_assigned_partitions", [("task", task)]).record(n) }

    /// Prometheus text exposition format.
    public func exposition() -> String { registry.emitToString() }
}
