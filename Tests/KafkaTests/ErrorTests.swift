import Kafka
import Testing

@Suite("Clear errors")
struct ErrorTests {
    @Test("An unreachable broker gives a clear error within the timeout, never a hang")
    func unreachableBroker() throws {
        let admin = try KafkaAdmin(properties: ["bootstrap.servers": "127.0.0.1:1"])
        let start = ContinuousClock.now
        let error = #expect(throws: KafkaError.self) { try admin.listTopics(timeout: .seconds(2)) }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .seconds(6), "took \(elapsed)")
        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains("127.0.0.1:1"), "\(text)")
        #expect(text.contains("no metadata"), "\(text)")
    }

    @Test("An unknown librdkafka property is an error naming the property")
    func unknownProperty() {
        let error = #expect(throws: KafkaError.self) {
            try KafkaProducer(properties: ["bootstrap.servers": "127.0.0.1:1", "no.such.property": "1"])
        }
        #expect(error?.message.contains("no.such.property") == true, "\(String(describing: error))")
    }

    @Test("An invalid value is an error naming the property")
    func invalidValue() {
        let error = #expect(throws: KafkaError.self) {
            try KafkaConsumer(properties: ["bootstrap.servers": "127.0.0.1:1", "group.id": "g", "session.timeout.ms": "banana"])
        }
        #expect(error?.message.contains("session.timeout.ms") == true, "\(String(describing: error))")
    }

    @Test("The loaded librdkafka is at least 2.8")
    func librdkafkaVersion() throws {
        try Librdkafka.requireSupportedVersion()
        #expect(Librdkafka.version.major >= 2)
    }
}
