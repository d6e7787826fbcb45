@testable import CargowatchCLI
import Catalogue
import FleetConfig
import Foundation
import Generator
import ReferenceData
import Testing
import TestSupport
import WorkerRuntime

/// Every task of every worker, fed a hostile twin of a valid record of each of its input topics:
/// each twin that is not a valid record goes to the dead letters with a reason naming what is
/// wrong, the valid ones are processed, nothing crashes, and the task still works afterwards.
/// Valid samples of the derived topics come from the fleet's own tasks run in process on
/// generated traffic, so the corpus follows the schemas as they change.
@Suite("Hostile input through every worker")
struct HostileInputTests {
    struct Task {
        let worker: String
        let definition: TaskDefinition
        let harness: HandlerHarness
    }

    static func fleet() throws -> [Task] {
        let reference = try ReferenceLoader.load(directory: "\(Repo.root)/reference")
        let env = ["CARGOWATCH_PSEUDONYM_KEY": "hostile-test-key", "CARGOWATCH_REFERENCE_DIR": "\(Repo.root)/reference"]
        return try Fleet.workers.flatMap { worker in
            let config = try ConfigLoader.load(worker.spec, configFile: nil, environment: env)
            return try worker.tasks(config, RuntimeOptions(worker: worker.name, config: config)).map { definition in
                Task(worker: worker.name, definition: definition,
                     harness: HandlerHarness(handler: definition.makeHandler(), stores: definition.stores, worker: worker.name, reference: reference))
            }
        }
    }

    /// Runs generated traffic through the tasks (one partition, outputs fed to the tasks that read
    /// them) until every input topic of every task has a valid sample.
    static func samples(_ tasks: [Task]) -> [String: (key: String?, value: [UInt8])] {
        var options = TrafficGenerator.Options.labelled
        options.seed = 11
        options.hostileRate = 0
        options.duplicateRate = 0
        // Inspection outcomes come hours after the declaration: a thin stream gets there sooner.
        options.inspectionRate = 0.5
        options.parcelsPerHour = 20
        var generator = TrafficGenerator(options: options)
        let wanted = Set(tasks.flatMap(\.definition.inputs))
        var samples: [String: (key: String?, value: [UInt8])] = [:]
        var queue: [(topic: String, key: String?, value: [UInt8]?, headers: [(name: String, value: [UInt8])])] = []
        for _ in 0..<200_000 where !wanted.isSubset(of: Set(samples.keys)) {
            let r = generator.next()
            queue.append((r.topic, r.key, r.value, []))
            while !queue.isEmpty {
                let m = queue.removeFirst()
                if let v = m.value, samples[m.topic] == nil, wanted.contains(m.topic) { samples[m.topic] = (m.key, v) }
                for t in tasks where t.definition.inputs.contains(m.topic) {
                    for e in t.harness.outputs(of: t.harness.send(topic: m.topic, keyBytes: m.key.map { Array($0.utf8) }, valueBytes: m.value, headers: m.headers)) {
                        queue.append((e.topic, e.key, e.value.map { Array($0.utf8) }, e.headers))
                    }
                }
            }
        }
        return samples
    }

    /// A hostile twin of a valid JSON record. `decodes`: the twin is still a valid record.
    struct Twin {
        let form: String
        var key: [UInt8]?
        var value: [UInt8]?
        var headers: [(name: String, value: [UInt8])] = []
        var decodes = false
    }

    static func twins(of valid: [UInt8], key: String?, keyed: Bool) -> [Twin] {
        let text = String(decoding: valid, as: UTF8.self)
        let k = key.map { Array($0.utf8) }
        // Still valid records: a consumer must cope with them, not refuse them (unless the key
        // is what the record is about).
        let stillValid: [Twin] = [
            Twin(form: "empty_key", key: [], value: valid, decodes: !keyed),
            Twin(form: "no_key", key: nil, value: valid, decodes: !keyed),
            Twin(form: "binary_headers", key: k, value: valid, headers: [("x-trace", [0x00, 0xFF, 0xC0, 0x80]), ("", [0xFE])], decodes: true),
        ]
        guard text.hasPrefix("{") else {
            // An internal topic with a plain-text value (an id).
            return stillValid + [
                Twin(form: "empty_value", key: k, value: []), Twin(form: "tombstone", key: k, value: nil),
                Twin(form: "binary", key: k, value: [0x00, 0xFF, 0xC3, 0x28]), Twin(form: "newline", key: k, value: Array("a\nb c".utf8)),
                Twin(form: "long", key: k, value: [UInt8](repeating: 0x41, count: 100_000)),
            ]
        }
        func edit(_ pattern: String, _ replacement: String) -> [UInt8]? {
            guard let r = text.range(of: pattern, options: .regularExpression) else { return nil }
            return Array(text.replacingCharacters(in: r, with: replacement).utf8)
        }
        // The first field holding a number, a timestamp, and the schema tag.
        let number = #""[a-z_]+":[0-9]+(\.[0-9]+)?"#
        func numberField(_ value: String) -> String {
            guard let r = text.range(of: number, options: .regularExpression) else { return "" }
            let field = text[r].prefix { $0 != ":" }
            return field + ":" + value
        }
        var twins: [Twin] = [
            Twin(form: "truncated_json", key: k, value: Array(valid.prefix(valid.count / 2))),
            Twin(form: "bom", key: k, value: [0xEF, 0xBB, 0xBF] + valid),
            Twin(form: "nesting_64", key: k, value: Array(("{\"deep\":" + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + ",").utf8) + valid.dropFirst()),
            Twin(form: "nesting_10000", key: k, value: Array(String(repeating: "[", count: 10_000).utf8)),
            Twin(form: "not_json", key: k, value: Array("<html><body>502 Bad Gateway</body></html>".utf8)),
            Twin(form: "empty_value", key: k, value: []),
            Twin(form: "tombstone", key: k, value: nil),
            Twin(form: "trailing_data", key: k, value: valid + Array("{}".utf8)),
        ]
        // Invalid UTF-8 inside the first string value after the schema tag.
        if let from = text.index(text.startIndex, offsetBy: 12, limitedBy: text.endIndex),
           let r = text.range(of: #"":""#, options: .regularExpression, range: from..<text.endIndex) {
            let at = text.utf8.distance(from: text.startIndex, to: r.upperBound)
            twins.append(Twin(form: "invalid_utf8", key: k, value: Array(valid[..<at]) + [0xC3, 0x28, 0xFF] + Array(valid[at...])))
        }
        if let schema = text.range(of: #""schema":"[^"]+""#, options: .regularExpression) {
            twins.append(Twin(form: "duplicate_keys", key: k, value: Array(("{" + text[schema] + "," + text.dropFirst()).utf8)))
            twins.append(Twin(form: "wrong_schema", key: k, value: edit(#""schema":"[^"]+""#, #""schema":"something.else/9""#)))
            twins.append(Twin(form: "missing_schema", key: k, value: edit(#""schema":"[^"]+","#, "")))
        }
        if !numberField("").isEmpty {
            for (form, v) in [("number_1e400", "1e400"), ("number_overflow", "123456789012345678901234567890"), ("nan_text", "NaN"),
                              ("infinity_text", "Infinity"), ("negative_number", "-5")] {
                twins.append(Twin(form: form, key: k, value: edit(number, numberField(v))))
            }
        }
        let time = #""[0-9]{4}-[0-9]{2}-[0-9]{2}T"#
        twins.append(Twin(form: "year_0", key: k, value: edit(time, #""0000-01-01T"#)))
        twins.append(Twin(form: "year_9999", key: k, value: edit(time, #""9999-12-31T"#)))
        return (twins + stillValid).filter { $0.value != nil || $0.form == "tombstone" }
    }

    @Test("Each hostile twin of a valid record goes to the dead letters with a reason, valid ones are processed, the task keeps working")
    func everyTask() throws {
        let tasks = try Self.fleet()
        let started = ContinuousClock.now
        let samples = Self.samples(tasks)
        print("hostile input: samples of \(samples.keys.sorted()) in \(ContinuousClock.now - started)")
        var checked = 0
        for t in tasks {
            for topic in t.definition.inputs {
                let sample = try #require(samples[topic], "no valid sample of \(topic) came out of the fleet's own tasks")
                // negative_number: some numbers may be negative (a baseline delta); a count or mass may not.
                for twin in Self.twins(of: sample.value, key: sample.key, keyed: Self.keyedTopics.contains(topic)) where twin.form != "negative_number" || !Self.signedFirstNumber.contains(topic) {
                    let results = t.harness.send(topic: topic, keyBytes: twin.key, valueBytes: twin.value, headers: twin.headers)
                    let dead = results.compactMap { if case .deadLetter(let kind, let reason) = $0 { (kind, reason) } else { nil } }
                    if twin.decodes {
                        #expect(dead.isEmpty, "\(t.worker)/\(t.definition.name) refused a valid \(twin.form) record on \(topic): \(dead)")
                    } else {
                        #expect(dead.count == 1 && !(dead.first?.1.isEmpty ?? true),
                                "\(t.worker)/\(t.definition.name) did not dead-letter \(twin.form) on \(topic): \(results.prefix(2))")
                    }
                    checked += 1
                }
                // Still works: the valid record itself is not refused afterwards.
                let after = t.harness.send(topic: topic, keyBytes: sample.key.map { Array($0.utf8) }, valueBytes: sample.value)
                #expect(!after.contains { if case .deadLetter = $0 { true } else { false } }, "\(t.worker)/\(t.definition.name) refuses \(topic) after the corpus")
            }
        }
        #expect(checked > 200)
        print("hostile input: \(checked) hostile twins through \(tasks.count) tasks of \(Fleet.workers.count) workers")
    }

    /// Topics whose first number may legitimately be negative (filled in when a topic needs it).
    static let signedFirstNumber: Set<String> = []
    /// Internal topics whose key is the subject of the record (an IOSS number): no key, no record.
    static let keyedTopics: Set<String> = [Catalogue.fraudIOSSUsage]
}
