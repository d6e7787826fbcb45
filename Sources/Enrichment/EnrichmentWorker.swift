import Catalogue
import Codec
import FleetConfig
import WorkerRuntime

/// Task `repartition`: re-keys `customs.declarations` by parcel_id into
/// `enrichment.declarations-by-parcel`, bytes unchanged, so the join sees both sides of a parcel
/// on the same partition. Malformed declarations stop here (dead letters).
final class DeclarationRepartitioner: StreamHandler {
    let output: String

    init(output: String) { self.output = output }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        let value = try record.requireValue()
        let declaration = try CustomsDeclaration(json: value)
        try RecordSplice.checkNoReservedKey(declaration.reservedKey)
        context.emitRaw(topic: output, key: Array(declaration.parcelID.utf8), value: Array(value), headers: OriginHeaders.headers(of: record))
    }
}

/// Task `main`: the windowed stream–stream join of parcel events and declarations by parcel_id.
/// Either side may come first; a declaration waits at most `window` of event time for a parcel
/// event and is then emitted with `hub_observation: null` and the reason.
final class EnrichmentJoin: StreamHandler {
    let parcelsIn: String
    let declarationsIn: String
    let parcelsOut: String
    let declarationsOut: String
    let windowMs: Int64
    static let store = "parcels"
    /// The expiry sweep runs when stream time has moved a minute since the last one, not after
    /// every batch (expiry is minute-grained).
    static let sweepIntervalMs: Int64 = 60_000
    var lastSweep: [Int32: Int64] = [:]
    /// Per partition, which join states fall due when: the sweep reads only those, not every
    /// state (under paced traffic a full scan per minute of stream time cost nearly three times the
    /// rest of the worker's CPU; BENCHMARKS.md, session 7).
    var due: [Int32: DueIndex] = [:]

    init(parcelsIn: String, declarationsIn: String, parcelsOut: String, declarationsOut: String, window: Duration) {
        self.parcelsIn = parcelsIn
        self.declarationsIn = declarationsIn
        self.parcelsOut = parcelsOut
        self.declarationsOut = declarationsOut
        windowMs = window.wholeMilliseconds
    }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        if record.topic == declarationsIn {
            try handleDeclaration(record, context)
        } else {
            try handleParcel(record, context)
        }
    }

    private func load(_ context: HandlerContext, _ parcelID: String, at time: Timestamp) throws -> JoinState {
        guard let bytes = context.store(Self.store).get(parcelID) else { return JoinState(lastEventTime: time) }
        var state = try JoinState.decode(bytes)
        state.lastEventTime = max(state.lastEventTime, time)
        return state
    }

    private func handleParcel(_ record: InputRecord, _ context: HandlerContext) throws {
        let value = try record.requireValue()
        let parcel = try ParcelEvent(json: value)
        try RecordSplice.checkNoReservedKey(parcel.reservedKey)
        context.observe(eventTime: parcel.occurredAt)
        var state = try load(context, parcel.parcelID, at: parcel.occurredAt)
        if state.seenEvents.contains(parcel.eventID) {
            context.count("duplicate_parcel_event")
            return
        }
        state.noteEvent(parcel.eventID)
        let ref = context.reference
        // The latest scan is the hub's current observation of the parcel.
        if state.observation == nil || parcel.occurredAt >= state.observation!.observedAt {
            state.observation = Enricher.observation(parcel, ref)
        }
        let enrichment = Enricher.enrich(parcel, declaration: state.declaration, ref)
        countUnknowns(enrichment.unknown, context)
        context.emit(topic: parcelsOut, key: parcel.parcelID) { w in
            RecordSplice.splice(value, into: &w) { w in
                w.key("source"); record.provenance.encode(to: &w)
                w.key("enrichment"); enrichment.encode(to: &w)
            }
        }
        // Declarations that were waiting for this parcel.
        var still: [JoinState.Pending] = []
        for p in state.pending {
            if let observation = state.observation, abs(p.lodgedAt.millis - observation.observedAt.millis) <= windowMs {
                try emitDeclaration(p.record, provenance: p.provenance, observation: observation, reason: nil, context)
            } else {
                still.append(p)
            }
        }
        state.pending = still
        save(context, parcel.parcelID, state)
    }

    private func save(_ context: HandlerContext, _ parcelID: String, _ state: JoinState) {
        context.store(Self.store).put(parcelID, state.encode())
        due[context.partition]?.schedule(parcelID, at: state.nextDeadline(windowMs: windowMs))
    }

    private func handleDeclaration(_ record: InputRecord, _ context: HandlerContext) throws {
        let value = try record.requireValue()
        let declaration = try CustomsDeclaration(json: value)
        context.observe(eventTime: declaration.lodgedAt)
        var state = try load(context, declaration.parcelID, at: declaration.lodgedAt)
        let hash = contentHash(value)
        if state.seenDeclarations[declaration.declarationID] == hash {
            context.count("duplicate_declaration")
            return
        }
        state.seenDeclarations[declaration.declarationID] = hash
        let valuation = Enricher.valuation(declaration, context.reference)
        state.declaration = Enricher.summary(declaration, valuation)
        let provenance = OriginHeaders.provenance(of: record)
        if let observation = state.observation, abs(declaration.lodgedAt.millis - observation.observedAt.millis) <= windowMs {
            try emitDeclaration(Array(value), provenance: provenance, observation: observation, reason: nil, context, valuation: valuation)
        } else {
            state.pending.removeAll { p in
                (try? p.record.withUnsafeBytes { try CustomsDeclaration(json: $0) })?.declarationID == declaration.declarationID
            }
            state.pending.append(JoinState.Pending(provenance: provenance, lodgedAt: declaration.lodgedAt, record: Array(value)))
        }
        save(context, declaration.parcelID, state)
    }

    private func emitDeclaration(_ bytes: [UInt8], provenance: Provenance, observation: HubObservation?, reason: String?,
                                 _ context: HandlerContext, valuation known: DeclarationValuation? = nil) throws {
        try bytes.withUnsafeBytes { raw in
            let declaration = try CustomsDeclaration(json: raw)
            let valuation = known ?? Enricher.valuation(declaration, context.reference)
            countUnknowns(valuation.unknown, context)
            if observation == nil { context.count("declaration_without_parcel") }
            context.emit(topic: declarationsOut, key: declaration.declarationID) { w in
                RecordSplice.splice(raw, into: &w) { w in
                    w.key("source"); provenance.encode(to: &w)
                    w.key("valuation"); valuation.encode(to: &w)
                    w.key("hub_observation"); if let observation { observation.encode(to: &w) } else { w.null() }
                    w.key("hub_observation_reason"); w.string(reason)
                }
            }
        }
    }

    private func countUnknowns(_ unknown: [String], _ context: HandlerContext) {
        for u in unknown { context.count("unknown_" + (u.split(separator: ":").first.map(String.init) ?? "value")) }
    }

    /// Emits declarations whose window closed without a parcel, and forgets parcels a window
    /// after their last event.
    func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws {
        if let last = lastSweep[partition], time.millis - last < Self.sweepIntervalMs { return }
        lastSweep[partition] = time.millis
        let store = context.store(Self.store)
        if due[partition]?.generation != store.generation {
            // First sweep of this store, or its content changed behind the index (abort): scan once.
            var index = DueIndex(generation: store.generation)
            store.forEach { parcelID, bytes in
                if let state = try? JoinState.decode(bytes) { index.schedule(parcelID, at: state.nextDeadline(windowMs: windowMs)) }
            }
            due[partition] = index
        }
        for parcelID in due[partition]!.takeDue(at: time.millis) {
            guard let bytes = store.get(parcelID) else { continue }
            var state = try JoinState.decode(bytes)
            var touched = false
            var still: [JoinState.Pending] = []
            for p in state.pending {
                if p.lodgedAt.millis + windowMs <= time.millis {
                    let hours = windowMs / 3_600_000
                    try emitDeclaration(p.record, provenance: p.provenance, observation: nil,
                                        reason: "no parcel event for this parcel within the \(hours)h join window", context)
                    touched = true
                } else {
                    still.append(p)
                }
            }
            state.pending = still
            if state.pending.isEmpty && state.lastEventTime.millis + windowMs <= time.millis {
                store.delete(parcelID)
            } else if touched {
                save(context, parcelID, state)
            } else {
                due[partition]!.schedule(parcelID, at: state.nextDeadline(windowMs: windowMs))
            }
        }
    }
}

/// When each join state of a partition next needs the sweep, bucketed by minute. A state can be
/// scheduled more than once (each save may bring its deadline earlier); only its earliest entry
/// counts, and the sweep re-reads the state, so a stale or early entry costs a read, never a
/// wrong result. Kept in memory: rebuilt from the store when `generation` no longer matches.
struct DueIndex {
    let generation: UInt64
    private var buckets: [Int64: [String]] = [:]
    /// parcel id -> the minute it is scheduled at (its live entry).
    private var scheduled: [String: Int64] = [:]

    init(generation: UInt64) { self.generation = generation }

    mutating func schedule(_ parcelID: String, at deadlineMs: Int64) {
        let minute = deadlineMs.floorDiv(60_000)
        if let current = scheduled[parcelID], current <= minute { return }
        scheduled[parcelID] = minute
        buckets[minute, default: []].append(parcelID)
    }

    /// The parcel ids whose minute has come at `nowMs`, each once, unscheduled.
    mutating func takeDue(at nowMs: Int64) -> [String] {
        let now = nowMs.floorDiv(60_000)
        var result: [String] = []
        for minute in buckets.keys.filter({ $0 <= now }).sorted() {
            for id in buckets.removeValue(forKey: minute)! where scheduled[id] == minute {
                scheduled.removeValue(forKey: id)
                result.append(id)
            }
        }
        return result
    }
}

public enum EnrichmentWorker {
    public static let name = Catalogue.Worker.enrichment

    public static let definition = WorkerDefinition(
        name: name, defaultHTTPPort: 8081,
        settings: [
            Setting("enrichment.join.window", .duration(.seconds(60)...(.seconds(30 * 86_400))), default: "48h",
                    "How long (event time) a declaration waits for a parcel event of the same parcel, and a parcel's join state is kept."),
            Setting("enrichment.topics.parcels_in", .name, default: Catalogue.parcelsEvents, "Parcel events to enrich."),
            Setting("enrichment.topics.declarations_in", .name, default: Catalogue.customsDeclarations, "Declarations to enrich."),
            Setting("enrichment.topics.declarations_by_parcel", .name, default: Catalogue.declarationsByParcel,
                    "Internal: declarations re-keyed by parcel_id (must have the partition count of parcels_in)."),
            Setting("enrichment.topics.parcels_out", .name, default: Catalogue.parcelsEnriched, "Enriched parcel events."),
            Setting("enrichment.topics.declarations_out", .name, default: Catalogue.customsEnriched, "Enriched declarations."),
        ]
    ) { config, _ in
        let parcelsIn = config.string("enrichment.topics.parcels_in")
        let declarationsIn = config.string("enrichment.topics.declarations_in")
        let byParcel = config.string("enrichment.topics.declarations_by_parcel")
        let parcelsOut = config.string("enrichment.topics.parcels_out")
        let declarationsOut = config.string("enrichment.topics.declarations_out")
        let window = config.duration("enrichment.join.window")
        return [
            TaskDefinition(name: "repartition", inputs: [declarationsIn], outputs: [byParcel]) {
                DeclarationRepartitioner(output: byParcel)
            },
            // range: partition n of both inputs lands on the same instance (co-partitioned join).
            TaskDefinition(name: "main", inputs: [parcelsIn, byParcel], outputs: [parcelsOut, declarationsOut],
                           stores: [StoreDefinition(EnrichmentJoin.store)], assignor: "range") {
                EnrichmentJoin(parcelsIn: parcelsIn, declarationsIn: byParcel, parcelsOut: parcelsOut, declarationsOut: declarationsOut, window: window)
            },
        ]
    }
}
