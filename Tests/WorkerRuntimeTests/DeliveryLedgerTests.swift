import Kafka
import Testing
@testable import WorkerRuntime

@Suite("At-least-once delivery ledger")
struct DeliveryLedgerTests {
    let a = TopicPartition("in", 0), b = TopicPartition("in", 1)

    @Test("An epoch's offsets wait for its own acknowledgements and every earlier epoch's")
    func commitsInOrder() {
        var ledger = DeliveryLedger()
        let first = ledger.epoch
        ledger.sent(2)
        ledger.seal([a: 10])
        let second = ledger.epoch
        ledger.sent(1)
        ledger.seal([a: 20, b: 5])
        ledger.acknowledged(second)
        #expect(ledger.takeCommittable().isEmpty, "the first epoch is still in flight")
        ledger.acknowledged(first)
        #expect(ledger.takeCommittable().isEmpty, "one of the first epoch's two messages is still in flight")
        ledger.acknowledged(first)
        #expect(ledger.takeCommittable() == [a: 20, b: 5])
        #expect(!ledger.hasSealedEpochs)
    }

    @Test("An epoch that sent nothing commits at once; revoked partitions are dropped")
    func emptyEpochsAndRevocation() {
        var ledger = DeliveryLedger()
        ledger.seal([a: 3])
        #expect(ledger.takeCommittable() == [a: 3])
        ledger.sent(1)
        let inFlight = ledger.epoch
        ledger.seal([a: 7, b: 9])
        ledger.forget([b])
        ledger.acknowledged(inFlight)
        #expect(ledger.takeCommittable() == [a: 7])
    }
}
