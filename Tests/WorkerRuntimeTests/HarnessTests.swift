import Codec
import Testing
import WorkerRuntime

/// A windowed counter: events are "<group>@<RFC 3339 time>"; emits "<group>:<start>:<count>"
/// once per window, when final.
final class WindowCounter: StreamHandler {
    let windows = WindowedStore(store: "windows", spec: WindowSpec(size: .seconds(60), grace: .seconds(10)))

    struct Bad: Error, CustomStringConvertible { var description: String { "no @ in the value" } }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        let text = String(decoding: try record.requireValue(), as: UTF8.self)
        let parts = text.split(separator: "@")
        guard parts.count == 2, let t = Timestamp(rfc3339: String(parts[1])) else { throw Bad() }
        context.observe(eventTime: t)
        let added = windows.add(context, group: String(parts[0]), at: t) { _, value in
            let n = value.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            value = Array(String(n + 1).utf8)
        }
        if !added { context.markLate("window of \(parts[1]) closed") }
    }

    func streamTimeAdvanced(partition: Int32, to time: Timestamp, _ context: HandlerContext) throws {
        windows.emitFinal(context, streamTime: time) { w, group, value in
            context.emitRaw(topic: "out", key: Array(group.utf8), value: Array("\(group):\(w.start.rfc3339):\(String(decoding: value, as: UTF8.self))".utf8))
        }
    }
}

@Suite("Handlers without Kafka: windows, grace, lateness, dead letters")
struct HarnessTests {
    func at(_ t: String, _ group: String = "a") -> String { "\(group)@2026-11-27T\(t)Z" }

    @Test("Tumbling windows emit final results once, after the grace period; late records are routed, not dropped")
    func tumblingWithGrace() {
        let h = HandlerHarness(handler: WindowCounter(), stores: [StoreDefinition("windows")])
        #expect(h.outputs(of: h.send(topic: "in", key: "a", value: at("10:00:05"))).isEmpty)
        #expect(h.outputs(of: h.send(topic: "in", key: "a", value: at("10:00:59"))).isEmpty)
        #expect(h.outputs(of: h.send(topic: "in", key: "a", value: at("10:01:05"))).isEmpty, "10:00 window ends 10:01, grace until 10:01:10")
        // Out of order but within grace: still counted in the 10:00 window.
        #expect(h.outputs(of: h.send(topic: "in", key: "a", value: at("10:00:30"))).isEmpty)
        let closing = h.outputs(of: h.send(topic: "in", key: "b", value: at("10:01:10", "b")))
        #expect(closing == [.init(topic: "out", key: "a", value: "a:2026-11-27T10:00:00.000Z:3")])
        // Too late now: the 10:00 window is final.
        #expect(h.send(topic: "in", key: "a", value: at("10:00:40")) == [.late(reason: "window of 2026-11-27T10:00:40Z closed")])
        #expect(h.store("windows")?.count == 2, "open: a and b in the 10:01 window")
        // Stream time never goes back.
        _ = h.send(topic: "in", key: "a", value: at("10:00:50"))
        #expect(h.streamTime() == Timestamp(rfc3339: "2026-11-27T10:01:10Z"))
    }

    @Test("Hopping windows: an event counts in every window that contains it")
    func hopping() {
        let spec = WindowSpec(size: .seconds(300), advance: .seconds(60), grace: .zero)
        let ws = spec.windows(containing: Timestamp(rfc3339: "2026-11-27T10:07:30Z")!)
        #expect(ws.count == 5)
        #expect(ws.first?.start.rfc3339 == "2026-11-27T10:03:00.000Z")
        #expect(ws.last?.start.rfc3339 == "2026-11-27T10:07:00.000Z")
    }

    @Test("A handler error dead-letters the record and rolls its state back")
    func errorRollsBack() {
        let h = HandlerHarness(handler: WindowCounter(), stores: [StoreDefinition("windows")])
        _ = h.send(topic: "in", key: "a", value: at("10:00:05"))
        #expect(h.send(topic: "in", key: "a", value: "garbage") == [.deadLetter(kind: "handler", reason: "no @ in the value")])
        #expect(h.send(topic: "in", key: "a", value: nil) == [.deadLetter(kind: "decode", reason: "record has no value (null)")])
        #expect(h.store("windows")?.count == 1)
    }
}
