import Codec
import Synchronization

/// Source of `KeyValueStore.generation` values, unique in the process.
private let storeGenerations = Atomic<UInt64>(0)

/// Declares a keyed state store; the runtime keeps a changelog topic for it.
public struct StoreDefinition: Sendable, Hashable {
    public let name: String
    public init(_ name: String) { self.name = name }
}

/// A key-value store for one partition, in memory, in two layers: what the last committed
/// transaction left (`committed`) and what the current one changed (`pending`). Commit merges
/// the pending layer and hands its changes to the changelog; abort drops it. Reads see pending
/// over committed, so a handler reads its own writes.
public final class KeyValueStore {
    public let name: String
    public let partition: Int32
    var committed: [String: [UInt8]] = [:]
    /// nil value: deleted in this transaction.
    var pending: [String: [UInt8]?] = [:]
    /// Changes whenever the store's content changes other than through `put`/`delete` (a new
    /// store for a newly assigned partition, an aborted transaction): a handler that keeps an
    /// in-memory index over the store rebuilds it when this is not the value it was built at.
    public private(set) var generation = storeGenerations.add(1, ordering: .relaxed).newValue

    init(name: String, partition: Int32) {
        self.name = name
        self.partition = partition
    }

    public func get(_ key: String) -> [UInt8]? {
        if let p = pending[key] { return p }
        return committed[key]
    }

    public func put(_ key: String, _ value: [UInt8]) {
        remember(key)
        pending[key] = .some(value)
    }

    public func delete(_ key: String) {
        remember(key)
        pending[key] = .some(nil)
    }

    /// Per-record undo: a handler that throws halfway leaves no partial state behind.
    var undo: [(key: String, previous: [UInt8]??)] = []

    private func remember(_ key: String) { undo.append((key, pending[key])) }

    func beginRecord() { undo.removeAll(keepingCapacity: true) }

    func rollbackRecord() {
        for (key, previous) in undo.reversed() {
            if let previous { pending[key] = previous } else { pending.removeValue(forKey: key) }
        }
        undo.removeAll(keepingCapacity: true)
    }

    /// Keys with a value (pending over committed), unordered.
    public var keys: [String] {
        var all = Set(committed.keys)
        for (k, v) in pending { if v == nil { all.remove(k) } else { all.insert(k) } }
        return Array(all)
    }

    public var count: Int { keys.count }

    /// Visits every live entry (pending over committed).
    public func forEach(_ body: (String, [UInt8]) throws -> Void) rethrows {
        for (k, v) in committed where pending[k] == nil { try body(k, v) }
        for (k, v) in pending { if let v { try body(k, v) } }
    }

    /// The changes of the current transaction, for the changelog (sorted: deterministic output).
    var pendingChanges: [(key: String, value: [UInt8]?)] {
        pending.map { (key: $0.key, value: $0.value) }.sorted { $0.key < $1.key }
    }

    /// After the transaction committed: the pending layer becomes the committed one.
    func mergePending() {
        for (k, v) in pending {
            if let v { committed[k] = v } else { committed.removeValue(forKey: k) }
        }
        pending.removeAll(keepingCapacity: true)
    }

    func abortPending() {
        pending.removeAll(keepingCapacity: true)
        generation = storeGenerations.add(1, ordering: .relaxed).newValue
    }

    /// Restore from the changelog: straight into the committed layer.
    func restore(key: String, value: [UInt8]?) {
        if let value { committed[key] = value } else { committed.removeValue(forKey: key) }
    }

    public var approximateBytes: Int { committed.reduce(0) { $0 + $1.key.utf8.count + $1.value.count } }
}

/// The stores of every assigned partition.
final class StoreSet {
    let definitions: [StoreDefinition]
    private(set) var byPartition: [Int32: [String: KeyValueStore]] = [:]

    init(_ definitions: [StoreDefinition]) { self.definitions = definitions }

    var partitions: [Int32] { byPartition.keys.sorted() }

    func open(partition: Int32) {
        if byPartition[partition] != nil { return }
        var stores: [String: KeyValueStore] = [:]
        for d in definitions { stores[d.name] = KeyValueStore(name: d.name, partition: partition) }
        byPartition[partition] = stores
    }

    func close(partition: Int32) { byPartition.removeValue(forKey: partition) }

    func store(_ name: String, partition: Int32) -> KeyValueStore? { byPartition[partition]?[name] }

    var all: [KeyValueStore] { byPartition.values.flatMap { $0.values } }

    func abortAll() { all.forEach { $0.abortPending() } }
    func mergeAll() { all.forEach { $0.mergePending() } }
    func beginRecord(partition: Int32) { byPartition[partition]?.values.forEach { $0.beginRecord() } }
    func rollbackRecord(partition: Int32) { byPartition[partition]?.values.forEach { $0.rollbackRecord() } }

    var totalKeys: Int { all.reduce(0) { $0 + $1.committed.count } }
}
