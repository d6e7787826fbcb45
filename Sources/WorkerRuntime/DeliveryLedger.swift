import Kafka

/// At least once without stopping to flush: what a task sends between two commit points is one
/// epoch (its messages carry the epoch as their delivery-report id), and an epoch's input
/// offsets may be committed once its output and every earlier epoch's is acknowledged. The loop
/// keeps polling while the broker acknowledges; a flush would hold every record that arrives
/// meanwhile.
struct DeliveryLedger {
    /// The epoch that messages sent now belong to.
    private(set) var epoch: UInt64 = 1
    /// Messages sent and not yet acknowledged, per epoch.
    private var unacknowledged: [UInt64: Int] = [:]
    /// Sealed epochs, oldest first, with the offsets they commit.
    private var sealed: [(epoch: UInt64, offsets: [TopicPartition: Int64])] = []

    var hasSealedEpochs: Bool { !sealed.isEmpty }

    mutating func sent(_ count: Int) {
        guard count > 0 else { return }
        unacknowledged[epoch, default: 0] += count
    }

    mutating func acknowledged(_ id: UInt64) {
        guard let n = unacknowledged[id] else { return }
        unacknowledged[id] = n > 1 ? n - 1 : nil
    }

    /// Closes the current epoch: once everything sent so far is acknowledged, `offsets` may be committed.
    mutating func seal(_ offsets: [TopicPartition: Int64]) {
        sealed.append((epoch, offsets))
        epoch += 1
    }

    /// The offsets of the leading sealed epochs whose output is all acknowledged (later epochs'
    /// offsets win), removed from the ledger. Empty when the oldest epoch is still in flight.
    mutating func takeCommittable() -> [TopicPartition: Int64] {
        var offsets: [TopicPartition: Int64] = [:]
        var done = 0
        for entry in sealed {
            guard unacknowledged[entry.epoch] == nil else { break }
            offsets.merge(entry.offsets) { _, newer in newer }
            done += 1
        }
        sealed.removeFirst(done)
        return offsets
    }

    /// Partitions that left the task: their offsets are no longer ours to commit.
    mutating func forget(_ partitions: some Sequence<TopicPartition>) {
        let gone = Set(partitions)
        for i in sealed.indices { sealed[i].offsets = sealed[i].offsets.filter { !gone.contains($0.key) } }
    }
}
