// probe-worker: the smallest real worker on the runtime, for the runtime's own tests and as
// the benchmark ceiling. Modes:
//   passthrough  copies key and value to the output unread (the ceiling: no decode)
//   count        keeps a count per key in a state store and emits "<key>:<count>:<value>";
//                a value of "poison" throws (dead-letter path)
import Catalogue
import FleetConfig
import Foundation
import WorkerRuntime

final class ProbeHandler: StreamHandler {
    let output: String
    let counting: Bool

    init(output: String, counting: Bool) {
        self.output = output
        self.counting = counting
    }

    struct Poison: Error, CustomStringConvertible { var description: String { "poison record refused by the probe" } }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        guard counting else {
            context.emitRaw(topic: output, key: record.key.map(Array.init), value: record.value.map(Array.init))
            return
        }
        let value = String(decoding: try record.requireValue(), as: UTF8.self)
        let key = record.keyString ?? ""
        let store = context.store("counts")
        let count = (store.get(key).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0) + 1
        store.put(key, Array(String(count).utf8))  // written before the check: rollback must undo it
        if value == "poison" { throw Poison() }
        context.emitRaw(topic: output, key: record.key.map(Array.init), value: Array("\(key):\(count):\(value)".utf8))
    }
}

let probe = WorkerDefinition(
    name: "probe-worker", defaultHTTPPort: 8089,
    settings: [
        Setting("probe.mode", .choice(["passthrough", "count"]), default: "count", "What the probe does with each record."),
        Setting("probe.input", .name, default: "probe.in", "Input topic."),
        Setting("probe.output", .name, default: "probe.out", "Output topic."),
    ],
    usesReferenceData: false
) { config, _ in
    let counting = config.string("probe.mode") == "count"
    let output = config.string("probe.output")
    return [TaskDefinition(name: "main", inputs: [config.string("probe.input")], outputs: [output],
                           stores: counting ? [StoreDefinition("counts")] : []) {
        ProbeHandler(output: output, counting: counting)
    }]
}

WorkerMain.terminate(await WorkerMain.run(probe))
