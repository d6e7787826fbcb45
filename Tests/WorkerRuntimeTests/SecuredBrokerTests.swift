import Foundation
import Testing
import TestSupport
import WorkerRuntime

/// Workers against brokers that require TLS or SASL/SCRAM, through the librdkafka settings they
/// pass through (`KAFKA_*`). Each test starts its own broker with `ops/broker start-tls|start-scram`
/// in a state directory of its own. Refused credentials must end the worker with exit 78 naming the
/// properties to fix — librdkafka alone would reconnect many times a second forever.
@Suite("Secured brokers: TLS and SASL/SCRAM", .serialized)
struct SecuredBrokerTests {
    func probeEnvironment(_ name: String) -> (env: [String: String], input: String, output: String, topics: [String], compacted: Set<String>) {
        let input = Broker.unique("\(name)-in"), output = Broker.unique("\(name)-out"), dlq = Broker.unique("\(name)-dlq"), group = Broker.unique("\(name)-g")
        let changelogs = [TaskDefinition.changelogTopic(group: group)]
        return (["CARGOWATCH_PROBE_INPUT": input, "CARGOWATCH_PROBE_OUTPUT": output, "CARGOWATCH_TOPICS_DLQ": dlq, "CARGOWATCH_GROUP_ID": group,
                 "CARGOWATCH_COMMIT_INTERVAL": "100ms"],
                input, output, [input, output, dlq] + changelogs, Set(changelogs))
    }

    @Test("TLS: a worker with the broker's CA processes exactly-once; with an untrusted CA it exits 78 naming ssl.ca.location, without a retry storm")
    func tls() throws {
        let broker = try PrivateBroker("tls")
        defer { broker.stop() }
        let probe = probeEnvironment("tls")
        try Broker.createTopics(probe.topics, partitions: 2, compacted: probe.compacted, properties: broker.properties)
        try Broker.produce(probe.input, (0..<200).map { ("k\($0 % 7)", "v\($0)") }, properties: broker.properties)

        let worker = try WorkerProcess(executable: "probe-worker", environment: probe.env.merging(broker.settings) { $1 })
        defer { worker.killHard() }
        #expect(worker.waitReady(), "\(worker.log.suffix(3000))")
        let out = try Broker.read(probe.output, count: 200, properties: broker.properties)
        #expect(out.count == 200)
        #expect(Set(out.compactMap(\.value)).count == 200)
        worker.signal(SIGTERM)
        #expect(worker.waitExit(timeout: .seconds(30)) == 0)

        // A CA that did not sign the broker's certificate.
        let dir = broker.state + "/other-ca"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=someone-else", "-keyout", "\(dir)/ca.key", "-out", "\(dir)/ca.pem"]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
        var untrusted = broker.settings
        untrusted["KAFKA_SSL_CA_LOCATION"] = "\(dir)/ca.pem"
        let refused = try WorkerProcess(executable: "probe-worker", environment: probe.env.merging(untrusted) { $1 })
        defer { refused.killHard() }
        let status = refused.waitExit(timeout: .seconds(60))
        #expect(status == 78, "\(refused.log.suffix(3000))")
        #expect(refused.log.contains("kafka.ssl.ca.location"))
        #expect(refused.log.contains("certificate verify failed"))
        // One refusal, not a storm: the log is a handful of lines, not thousands of reconnects.
        #expect(refused.log.split(separator: "\n").count < 200, "\(refused.log.split(separator: "\n").count) log lines")
    }

    @Test("SASL/SCRAM: refused credentials exit 78 naming the sasl properties; the password is in no log line")
    func scram() throws {
        let broker = try PrivateBroker("scram")
        defer { broker.stop() }
        let probe = probeEnvironment("scram")
        let password = "pw-\(UUID().uuidString)"
        // Tansu 0.6 keeps no SCRAM users (README: secured brokers), so every login is refused:
        // this is the wrong-credentials path; the same settings work against Apache Kafka.
        let env = probe.env.merging(broker.settings) { $1 }.merging(["KAFKA_SASL_USERNAME": "cargowatch", "KAFKA_SASL_PASSWORD": password]) { $1 }
        let worker = try WorkerProcess(executable: "probe-worker", environment: env)
        defer { worker.killHard() }
        let status = worker.waitExit(timeout: .seconds(60))
        #expect(status == 78, "\(worker.log.suffix(3000))")
        #expect(worker.log.contains("kafka.sasl.mechanisms, kafka.sasl.username, kafka.sasl.password"))
        #expect(worker.log.contains("SASL"))
        #expect(!worker.log.contains(password), "the SASL password was logged")
        #expect(worker.log.split(separator: "\n").count < 200, "\(worker.log.split(separator: "\n").count) log lines")

        // --print-config shows that a password is set, never the password.
        let printed = try WorkerProcess(executable: "probe-worker", environment: env, arguments: ["--print-config"])
        _ = printed.waitExit(timeout: .seconds(30))
        #expect(printed.log.contains("sasl.password"), "\(printed.log.suffix(2000))")
        #expect(!printed.log.contains(password), "--print-config printed the SASL password")
    }
}
