import FleetConfig
import Foundation
import Testing

@Suite("Configuration: defaults < file < environment, validated")
struct ConfigLoaderTests {
    let spec = ConfigSpec(program: "test-worker", settings: [
        Setting("http.port", .int(1...65535), default: "8081", "HTTP port"),
        Setting("log.level", .choice(["debug", "info", "error"]), default: "info", "Log level"),
        Setting("join.window", .duration(.seconds(1)...(.seconds(30 * 86_400))), default: "48h", "Join window"),
        Setting("pseudonym.key", .secret, default: nil, "HMAC key"),
        Setting("topics.in", .list, default: "a,b", "Inputs"),
    ], foreignPrefixes: ["fraud."])

    func writeFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("Later sources win and each value knows where it came from")
    func precedence() throws {
        let file = try writeFile("http:\n  port: 9000\nlog:\n  level: debug\nkafka:\n  bootstrap.servers: file:9092\n  acks: all\n")
        let c = try ConfigLoader.load(spec, configFile: file, environment: [
            "CARGOWATCH_LOG_LEVEL": "error", "KAFKA_BOOTSTRAP_SERVERS": "env:9092", "PATH": "/bin"])
        #expect(c.int("http.port") == 9000)
        #expect(c.values["http.port"]?.source == .file(path: file, line: 2))
        #expect(c.string("log.level") == "error")
        #expect(c.values["log.level"]?.source == .environment("CARGOWATCH_LOG_LEVEL"))
        #expect(c.duration("join.window") == .seconds(48 * 3600))
        #expect(c.values["join.window"]?.source == .defaultValue)
        #expect(c.list("topics.in") == ["a", "b"])
        #expect(c.kafkaProperties()["bootstrap.servers"] == "env:9092")
        #expect(c.kafkaProperties()["acks"] == "all")
    }

    @Test("Errors name the key and where it came from", arguments: [
        (["CARGOWATCH_HTTP_PORT": "abc"], "configuration error: http.port (env CARGOWATCH_HTTP_PORT): expected an integer, got \"abc\""),
        (["CARGOWATCH_HTTP_PORT": "70000"], "configuration error: http.port (env CARGOWATCH_HTTP_PORT): expected an integer from 1 to 65535, got 70000"),
        (["CARGOWATCH_LOG_LEVEL": "loud"], "configuration error: log.level (env CARGOWATCH_LOG_LEVEL): expected one of debug, info, error, got \"loud\""),
        (["CARGOWATCH_JOIN_WINDOW": "forever"], "configuration error: join.window (env CARGOWATCH_JOIN_WINDOW): expected a duration such as 500ms, 30s, 5m or 48h, got \"forever\""),
        (["CARGOWATCH_NO_SUCH_THING": "1"], "configuration error: CARGOWATCH_NO_SUCH_THING (env CARGOWATCH_NO_SUCH_THING): unknown setting for test-worker (see the configuration table in docs/configuration.md)"),
    ])
    func environmentErrors(env: [String: String], expected: String) {
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(spec, configFile: nil, environment: env) }
        #expect(error?.description == expected)
    }

    @Test("A bad file value names the file and line; unknown keys too")
    func fileErrors() throws {
        let file = try writeFile("log:\n  level: info\nhttp:\n  port: many\n")
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(spec, configFile: file, environment: [:]) }
        #expect(error?.description == "configuration error: http.port (\(file):4): expected an integer, got \"many\"")
        let unknown = try writeFile("htp:\n  port: 1\n")
        let e2 = #expect(throws: ConfigError.self) { try ConfigLoader.load(spec, configFile: unknown, environment: [:]) }
        #expect(e2?.description == "configuration error: htp.port (\(unknown):2): unknown setting for test-worker")
        let missing = #expect(throws: ConfigError.self) { try ConfigLoader.load(spec, configFile: "/nonexistent.yaml", environment: [:]) }
        #expect(missing?.key == "--config")
        #expect(ConfigError.exitCode == 78)
    }

    @Test("Other workers' settings in the same environment are accepted, not validated here")
    func foreignSettings() throws {
        _ = try ConfigLoader.load(spec, configFile: nil, environment: ["CARGOWATCH_FRAUD_WEIGHTS": "x"])
    }

    @Test("--print-config shows sources and never secrets")
    func rendering() throws {
        let c = try ConfigLoader.load(spec, configFile: nil, environment: [
            "CARGOWATCH_PSEUDONYM_KEY": "s3cr3t-hmac-key", "KAFKA_SASL_PASSWORD": "hunter2", "KAFKA_SASL_USERNAME": "svc"])
        let text = c.rendered()
        #expect(!text.contains("s3cr3t-hmac-key"))
        #expect(!text.contains("hunter2"))
        #expect(text.contains("pseudonym.key: <redacted>  # env CARGOWATCH_PSEUDONYM_KEY"))
        #expect(text.contains("kafka.sasl.password: <redacted>  # env KAFKA_SASL_PASSWORD"))
        #expect(text.contains("kafka.sasl.username: svc  # env KAFKA_SASL_USERNAME"))
        #expect(text.contains("http.port: 8081  # default"))
    }

    @Test("Durations")
    func durations() {
        #expect(Setting.parseDuration("500ms") == .milliseconds(500))
        #expect(Setting.parseDuration("1h30m") == .seconds(5400))
        #expect(Setting.parseDuration("7d") == .seconds(7 * 86_400))
        #expect(Setting.parseDuration("10") == nil)
        #expect(Setting.parseDuration("m") == nil)
        #expect(Setting.format(.seconds(48 * 3600)) == "2d")
        #expect(Setting.format(.milliseconds(250)) == "250ms")
    }
}
