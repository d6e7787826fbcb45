import Synchronization

/// What `/readyz` answers: ready only when the worker can do its job right now — required
/// topics exist, the group gave it an assignment, every assigned partition's state is
/// restored, and the broker answered recently.
public final class Health: Sendable {
    struct State {
        var missingTopics: [String] = ["(not checked yet)"]
        var assigned = false
        var restoring: Set<String> = []
        var brokerReachable = false
        var stopping = false
        var lastError: String?
        /// Set by the broker probe when the cluster stops answering (a frozen or partitioned
        /// broker keeps its TCP connections up, so the clients alone notice only after minutes).
        var brokerSilent: String?
    }

    private let state = Mutex(State())

    public init() {}

    func update(_ body: (inout State) -> Void) { state.withLock { body(&$0) } }

    /// nil when ready; otherwise why not.
    public var notReadyReasons: [String] {
        state.withLock { s in
            var reasons: [String] = []
            if s.stopping { reasons.append("shutting down") }
            if !s.missingTopics.isEmpty { reasons.append("missing topics: \(s.missingTopics.joined(separator: ", "))") }
            if !s.brokerReachable { reasons.append("broker not reachable" + (s.lastError.map { ": \($0)" } ?? "")) }
            if let silent = s.brokerSilent { reasons.append(silent) }
            if !s.assigned { reasons.append("no assignment from the consumer group yet") }
            if !s.restoring.isEmpty { reasons.append("restoring state: \(s.restoring.sorted().joined(separator: ", "))") }
            return reasons
        }
    }

    public var isReady: Bool { notReadyReasons.isEmpty }
}
