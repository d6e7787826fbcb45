import Codec
import Foundation
import Testing

/// Records the models encode must validate against the catalogue's JSON Schemas, checked by a
/// real validator (python-jsonschema, Draft 2020-12, with format checks) via
/// ops/validate-catalogue.py: schema and code cannot drift apart.
@Suite("Models conform to the JSON Schemas")
struct SchemaConformanceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func validate(_ samples: [String: [[UInt8]]]) throws -> (status: Int32, output: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("samples-\(UUID().uuidString)")
        for (stem, records) in samples {
            let sub = dir.appendingPathComponent(stem)
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            for (i, r) in records.enumerated() { try Data(r).write(to: sub.appendingPathComponent("\(i).json")) }
        }
        let python = "\(Self.root)/.venv/bin/python"
        guard FileManager.default.fileExists(atPath: python) else {
            Issue.record("no \(python): run ops/install-deps (ops/test does)")
            return (-1, "")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["\(Self.root)/ops/validate-catalogue.py", "--schemas", "\(Self.root)/schemas", "--samples", dir.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out)
    }

    @Test("Upstream records, as the codec writes them, validate")
    func upstream() throws {
        let parcel = try Fixtures.parcel.withUnsafeBytes { try ParcelEvent(json: $0) }
        var noFlight = parcel
        noFlight.flight = nil
        noFlight.mawb = nil
        noFlight.items.append(ParcelEvent.Item(description: "gift", hsCode: nil, quantity: 2))
        let declaration = try Fixtures.declaration.withUnsafeBytes { try CustomsDeclaration(json: $0) }
        let access = try Fixtures.access.withUnsafeBytes { try AccessLog(json: $0) }
        let r = try validate([
            "parcel.event": [parcel.jsonBytes, noFlight.jsonBytes],
            "customs.declaration": [declaration.jsonBytes],
            "access.log": [access.jsonBytes],
        ])
        #expect(r.status == 0, "\(r.output)")
    }

    @Test("The validator really rejects a record that breaks its schema")
    func validatorCanFail() throws {
        let broken = Fixtures.edited(Fixtures.parcel, [("\"hs_code\":\"851762\"", "\"hs_code\":851762")])
        let r = try validate(["parcel.event": [broken]])
        #expect(r.status == 1)
        #expect(r.output.contains("hs_code"), "\(r.output)")
    }
}
