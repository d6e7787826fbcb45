import Codec
import Foundation
import Testing
import TestSupport

/// Records the models encode must validate against the catalogue's JSON Schemas, checked by a
/// real validator (python-jsonschema, Draft 2020-12, with format checks) via
/// ops/validate-catalogue.py: schema and code cannot drift apart.
@Suite("Models conform to the JSON Schemas")
struct SchemaConformanceTests {
    func validate(_ samples: [String: [[UInt8]]]) throws -> (status: Int32, output: String) {
        try SchemaValidator.validate(samples)
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
