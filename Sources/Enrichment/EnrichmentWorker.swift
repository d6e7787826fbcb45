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
        try RecordSplice.checkNoReservedKeys(value)
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
    /// The expiry sweep decodes every join state of the partition: it runs when stream time has
    /// moved a minute since the last one, not after every batch (expiry is minute-grained).
    static let sweepIntervalMs: Int64 = 60_000
    var lastSweep: [Int32: Int64] = [:]

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
        try RecordSplice.checkNoReservedKeys(value)
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
        context.store(Self.store).put(parcel.parcelID, state.encode())
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
        context.store(Self.store).put(declaration.parcelID, state.encode())
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
        var changed: [(String, JoinState?)] = []
        try store.forEach { parcelID, bytes in
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
                changed.append((parcelID, nil))
            } else if touched {
                changed.append((parcelID, state))
            }
        }
        for (id, state) in changed {
            if let state { store.put(id, state.encode()) } else { store.delete(id) }
        }
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
