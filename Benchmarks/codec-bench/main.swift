// codec-bench: decode + encode of parcel events with the Codec module vs Foundation's
// JSONDecoder/JSONEncoder on the same records, in one run, on one thread.
//   codec-bench [--records N] [--rounds R]
import Codec
import Foundation

/// Foundation's peer: the same record as a Codable struct.
struct FoundationParcel: Codable {
    struct Flight: Codable { var number: String; var origin_airport: String }
    struct Merchant: Codable { var id: String; var name: String }
    struct Consignee: Codable {
        var name: String; var street: String; var postal_code: String; var city: String; var country: String
        var email: String?; var phone: String?
    }
    struct Money: Codable { var amount: Decimal; var currency: String }
    struct Item: Codable { var description: String; var hs_code: String?; var quantity: Int }
    var schema: String
    var event_id: String
    var parcel_id: String
    var tracking_number: String
    var mawb: String?
    var event_type: String
    var occurred_at: Date
    var hub: String
    var flight: Flight?
    var merchant: Merchant
    var consignee: Consignee
    var weight_grams: Int
    var declared_value: Money
    var items: [Item]
    var customs_declaration_id: String?
}

var recordCount = 50_000
var rounds = 5
var runFoundation = true
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--records": recordCount = Int(args.next() ?? "") ?? recordCount
    case "--rounds": rounds = Int(args.next() ?? "") ?? rounds
    case "--codec-only": runFoundation = false  // for profiling
    default:
        print("usage: codec-bench [--records N] [--rounds R]\nexample: codec-bench --records 100000")
        exit(a == "--help" || a == "-h" ? 0 : 64)
    }
}

// Varied records: different ids, names, item counts, optional fields present or not.
let names = ["Marie Dupont", "Jan Kowalski", "Anna Müller", "Søren Østergaard", "José García", "Eleni Papadopoulou"]
let descriptions = ["Bluetooth earphones", "Phone case", "Cotton T-shirt", "LED strip 5m", "Kids toy car", "Silicone spatula"]
let hs = ["851762", "392690", "610910", "940542", "950300", "392410"]
var records: [[UInt8]] = []
for i in 0..<recordCount {
    let items = (0..<(1 + i % 3)).map { k in
        ParcelEvent.Item(description: descriptions[(i + k) % descriptions.count], hsCode: k == 2 ? nil : hs[(i + k) % hs.count], quantity: Int64(1 + k))
    }
    let event = ParcelEvent(
        eventID: String(format: "6f1c2a7e-3b9d-4c1e-9a51-%012d", i), parcelID: String(format: "LGG-P-%010d", i / 3),
        trackingNumber: String(format: "RB%09dCN", i), mawb: i % 4 == 0 ? nil : "160-12345675",
        eventType: ParcelEvent.EventType.known[i % 6],
        occurredAt: Timestamp(millis: 1_795_817_643_512 + Int64(i) * 1000), hub: "LGG",
        flight: i % 5 == 0 ? nil : ParcelEvent.Flight(number: "CK231", originAirport: "HGH"),
        merchant: ParcelEvent.Merchant(id: "M-\(i % 1000)", name: "Shenzhen Bright Star Trading Co."),
        consignee: Consignee(name: names[i % names.count], street: "Rue de la Loi \(i % 200)", postalCode: "1000", city: "Bruxelles",
                             country: "BE", email: i % 2 == 0 ? "buyer\(i)@example.be" : nil, phone: "+32470123456"),
        weightGrams: Int64(100 + i % 2000), declaredValue: Money(amount: Amount(micros: Int64(1_000_000 + (i % 15000) * 10_000)), currency: "USD"),
        items: items, customsDeclarationID: i % 3 == 0 ? nil : "26BE0000001234\(i % 100)H7")
    records.append(event.jsonBytes)
}
let totalBytes = records.reduce(0) { $0 + $1.count }
let datas = records.map { Data($0) }

func measure(_ body: () throws -> Int) rethrows -> Double {
    let start = ContinuousClock.now
    let n = try body()
    let d = ContinuousClock.now - start
    return Double(n) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
}

var ours: [Double] = [], foundation: [Double] = []
var sink = 0
let decoder = JSONDecoder()
let encoder = JSONEncoder()
decoder.dateDecodingStrategy = .custom { d in
    let s = try d.singleValueContainer().decode(String.self)
    guard let t = Timestamp(rfc3339: s) else { throw DecodingError.dataCorrupted(.init(codingPath: d.codingPath, debugDescription: "bad date")) }
    return Date(timeIntervalSince1970: Double(t.millis) / 1000)
}
encoder.dateEncodingStrategy = .iso8601
for _ in 0..<rounds {
    ours.append(try measure {
        var w = JSONWriter(capacity: 1024)
        for r in records {
            let event = try r.withUnsafeBytes { try ParcelEvent(json: $0) }
            w.removeAll()
            event.encode(to: &w)
            sink &+= w.count
        }
        return records.count
    })
    if runFoundation { foundation.append(try measure {
        for d in datas {
            let event = try decoder.decode(FoundationParcel.self, from: d)
            sink &+= try encoder.encode(event).count
        }
        return datas.count
    }) }
}
func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
print("\(recordCount) parcel events (avg \(totalBytes / recordCount) bytes), decode + encode, one thread, median of \(rounds) rounds")
print(String(format: "Codec:              %9.0f records/s", median(ours)))
if runFoundation {
    print(String(format: "Foundation JSON:    %9.0f records/s", median(foundation)))
    print(String(format: "Codec / Foundation: %9.1fx", median(ours) / median(foundation)))
}
if sink == 42 { print("") }  // keeps the work observable
