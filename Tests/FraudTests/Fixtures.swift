import Codec
import Foundation
@testable import Fraud
import ReferenceData
@testable import Sensitivity
import TestSupport
import WorkerRuntime

enum Setup {
    static let root = Repo.root
    static let reference = try! ReferenceLoader.load(directory: "\(root)/reference")
    /// The repository's policy; `CARGOWATCH_QUALITY_POLICY` names another, to try a change on QualityTests.
    static let policy = try! FraudPolicy.load(path: ProcessInfo.processInfo.environment["CARGOWATCH_QUALITY_POLICY"] ?? "\(root)/policy/fraud.yaml")
    static let topics = FraudWorker.Topics(declarationsIn: "customs.enriched", inspectionsIn: "customs.inspections", riskOut: "customs.risk")

    /// The `score` task over `partitions` partitions of its input (each with its own stores, as
    /// on the fleet); broadcasts reach all of them.
    static func scorer(partitions: Int32 = 1) -> HandlerHarness {
        let handler = RiskScorer(scorer: Scorer(policy: policy, iossCodes: []), pseudonymizer: Pseudonymizer(key: Array("test key of sixteen bytes+".utf8), keyID: "t"),
                                 output: "customs.risk", learningOut: "fraud.declarations-by-seller", memoRetention: .seconds(30 * 86_400))
        let h = HandlerHarness(handler: handler, stores: RiskScorer.stores.map(StoreDefinition.init), worker: "fraud-worker", reference: reference,
                               partitions: Array(0..<partitions))
        h.context.partitionCounts["fraud.declarations-by-seller"] = partitions
        return h
    }
}

/// A declaration as the enrichment-worker emits it, with the fields the scorer reads.
struct Declaration {
    struct Line {
        var hs = "610910"
        var description = "Cotton T-shirt"
        var quantity: Int64 = 1
        var netMassGrams: Int64 = 200
        var unitEUR = 6.0
    }

    var id = "26BE000000000001H7"
    var parcel = "LGG-P-1"
    var seller = "M-1"
    var consignee = "Marie Dupont"
    var street = "Rue de la Loi 16"
    var regime = "H7"
    var ioss: String? = "IM3720000001"
    var origin = "CN"
    var flightOrigin: String? = "CN"
    var lines = [Line()]
    var grossGrams: Int64 = 260
    var scannedGrams: Int64? = 262
    var lodged = "2026-11-27T08:00:00.000Z"

    var total: Double { lines.reduce(0) { $0 + $1.unitEUR * Double($1.quantity) } }

    /// customs.enriched JSON: the upstream declaration plus valuation and hub_observation.
    var json: String {
        let items = lines.map { l in
            #"{"hs_code":"\#(l.hs)","description":"\#(l.description)","quantity":\#(l.quantity),"net_mass_grams":\#(l.netMassGrams),"intrinsic_value":{"amount":\#(l.unitEUR),"currency":"EUR"}}"#
        }.joined(separator: ",")
        let valued = lines.map { l in
            let lineValue = l.unitEUR * Double(l.quantity)
            let perKg = l.netMassGrams > 0 ? lineValue / (Double(l.netMassGrams) / 1000) : 0
            return #"{"hs_code":"\#(l.hs)","hs_chapter":"\#(l.hs.prefix(2))","hs_heading":"\#(l.hs.prefix(4))","line_value_eur":\#(lineValue),"value_per_kg_eur":\#(perKg)}"#
        }.joined(separator: ",")
        let iossJSON = ioss.map { "\"\($0)\"" } ?? "null"
        let obs = scannedGrams.map { g in
            #"{"weight_grams":\#(g),"origin_airport":"XXX","origin_country":\#(flightOrigin.map { "\"\($0)\"" } ?? "null"),"merchant_id":"\#(seller)","parcel_event_id":"\#(parcel)-0","observed_at":"\#(lodged)"}"#
        } ?? "null"
        return #"{"schema":"customs.declaration/1","declaration_id":"\#(id)","parcel_id":"\#(parcel)","lodged_at":"\#(lodged)","regime":"\#(regime)","declarant_id":"BE0123456789","seller":{"id":"\#(seller)","name":"Seller \#(seller)","country":"CN"},"ioss_number":\#(iossJSON),"consignee":{"name":"\#(consignee)","street":"\#(street)","postal_code":"1000","city":"Bruxelles","country":"BE"},"origin_country":"\#(origin)","destination_country":"BE","items":[\#(items)],"gross_mass_grams":\#(grossGrams),"transport_cost":null,"vat_declared":null,"source":{"topic":"customs.declarations","partition":0,"offset":1},"valuation":{"schema":"customs.valuation/1","items":[\#(valued)],"total_intrinsic_value_eur":\#(total)},"hub_observation":\#(obs)}"#
    }
}

func json(_ text: String?) -> [String: Any] {
    (text.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]) ?? [:]
}

/// Sends one record to the scorer and, as its input topic would, what it broadcasts to that topic
/// (signal outcomes); returns every record it emitted.
@discardableResult
func deliver(_ h: HandlerHarness, key: String?, value: String?, headers: [(name: String, value: [UInt8])] = [], partition: Int32 = 0) -> [HandlerHarness.Emitted] {
    let out = h.outputs(of: h.send(topic: "fraud.declarations-by-seller", key: key, value: value, partition: partition, headers: headers))
    return out + out.filter { $0.topic == "fraud.declarations-by-seller" }.flatMap {
        deliver(h, key: $0.key, value: $0.value, headers: $0.headers, partition: $0.partition ?? 0)
    }
}

/// An inspection outcome, routed to the scorer as the `route` task does (by default inspected at
/// the fixture declarations' lodging time, so it is due at once).
@discardableResult
func inspect(_ h: HandlerHarness, _ id: String, _ outcome: String, at: String = "2026-11-27T08:00:00Z", correctedEUR: Double? = nil) -> [HandlerHarness.Emitted] {
    let corrected = correctedEUR.map { #"{"amount":\#($0),"currency":"EUR"}"# } ?? "null"
    return deliver(h, key: id, value: #"{"schema":"customs.inspection/1","declaration_id":"\#(id)","inspected_at":"\#(at)","outcome":"\#(outcome)","findings":[],"corrected_value":\#(corrected)}"#,
                   headers: [(name: "cw.kind", value: Array("inspection".utf8))])
}

/// The risk records of one send, decoded.
func risks(_ h: HandlerHarness, _ d: Declaration, headers: [(name: String, value: [UInt8])] = []) -> [[String: Any]] {
    deliver(h, key: d.seller, value: d.json, headers: headers).filter { $0.topic == "customs.risk" }.map { json($0.value) }
}

func codes(_ risk: [String: Any]) -> Set<String> { Set((risk["reasons"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }) }
func score(_ risk: [String: Any]) -> Double { risk["score"] as? Double ?? -1 }
