import Codec

/// Zero-padded decimal.
func pad(_ n: Int, _ width: Int) -> String {
    let s = String(n)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

/// A small deterministic PRNG (SplitMix64): the same seed gives the same traffic everywhere.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One record for an upstream topic.
public struct GeneratedRecord: Sendable {
    public let topic: String
    public let key: String
    public let value: [UInt8]
    /// Event time, for pacing.
    public let time: Timestamp
}

/// Synthetic hub traffic: flights from China–Europe e-commerce airports into LGG in waves,
/// consignees in EU member states weighted by population, an e-commerce HS mix, repeat
/// merchants and consignees. Each parcel has ARRIVED → SORTED → DEPARTED events and one
/// declaration lodged around its arrival. (Labelled fraud, exfiltration and hostile-record
/// scenarios with ground truth are the CLI generator's next step.)
public struct TrafficGenerator {
    public struct Options: Sendable {
        public var seed: UInt64 = 42
        public var start = Timestamp(rfc3339: "2026-11-27T06:00:00.000Z")!
        /// Parcels per hour of event time.
        public var parcelsPerHour = 3_600
        public var parcelsTopic = "parcels.events"
        public var declarationsTopic = "customs.declarations"
        public init() {}
    }

    static let origins: [(airport: String, flightPrefix: String, weight: Int)] = [
        ("HGH", "CK", 30), ("PVG", "CA", 20), ("TAO", "YG", 10), ("EHU", "O3", 10), ("SZX", "CZ", 15), ("CAN", "CZ", 10), ("HKG", "CX", 5),
    ]
    /// EU member states with 2024 population in millions (rounded), as destination weights.
    static let destinations: [(country: String, city: String, postal: String, weight: Int)] = [
        ("DE", "Berlin", "10115", 84), ("FR", "Paris", "75001", 68), ("IT", "Milano", "20121", 59), ("ES", "Madrid", "28001", 48),
        ("PL", "Warszawa", "00-001", 37), ("RO", "Bucuresti", "010011", 19), ("NL", "Amsterdam", "1011", 18), ("BE", "Bruxelles", "1000", 12),
        ("CZ", "Praha", "110 00", 11), ("SE", "Stockholm", "111 20", 10), ("PT", "Lisboa", "1100-001", 10), ("GR", "Athina", "105 52", 10),
        ("HU", "Budapest", "1011", 10), ("AT", "Wien", "1010", 9), ("BG", "Sofia", "1000", 6), ("DK", "Kobenhavn", "1050", 6),
        ("FI", "Helsinki", "00100", 6), ("SK", "Bratislava", "811 01", 5), ("IE", "Dublin", "D01", 5), ("HR", "Zagreb", "10000", 4),
        ("LT", "Vilnius", "01100", 3), ("SI", "Ljubljana", "1000", 2), ("LV", "Riga", "LV-1050", 2), ("EE", "Tallinn", "10111", 1),
        ("CY", "Nicosia", "1010", 1), ("LU", "Luxembourg", "1111", 1), ("MT", "Valletta", "VLT 1000", 1),
    ]
    /// (HS-6, description, grams per unit, EUR per unit, weight)
    static let goods: [(hs: String, description: String, grams: Int64, eur: Int64, weight: Int)] = [
        ("610910", "Cotton T-shirt", 180, 6, 14), ("620342", "Men's cotton trousers", 450, 14, 6), ("640411", "Sports shoes", 800, 22, 7),
        ("420292", "Backpack", 600, 12, 5), ("392690", "Plastic phone holder", 60, 3, 10), ("851762", "Bluetooth earphones", 120, 18, 8),
        ("854442", "USB charging cable", 50, 2, 8), ("850760", "Power bank 10000mAh", 250, 15, 4), ("950300", "Plastic toy car", 300, 7, 7),
        ("330499", "Face cream", 120, 5, 5), ("711719", "Fashion earrings", 20, 3, 6), ("910211", "Quartz wristwatch", 90, 11, 3),
        ("940542", "LED strip 5m", 200, 8, 5), ("630260", "Cotton bath towel", 400, 7, 3), ("392410", "Silicone kitchen spatula", 80, 2, 4),
        ("900410", "Sunglasses", 40, 4, 3), ("847130", "Tablet computer", 500, 95, 1), ("880240", "Camera drone", 700, 120, 1),
    ]
    static let givenNames = ["Marie", "Jan", "Anna", "Søren", "José", "Eleni", "Luca", "Zofia", "Mateus", "Ana", "Pieter", "Ioana", "Lars", "Chiara"]
    static let familyNames = ["Dupont", "Kowalski", "Müller", "Østergaard", "García", "Papadopoulou", "Rossi", "Nowak", "Silva", "Janssens", "Popescu", "Virtanen"]
    static let streets = ["Rue de la Loi", "Hauptstraße", "Via Roma", "Calle Mayor", "ul. Długa", "Kerkstraat", "Strada Mare"]

    var rng: SeededRandom
    let options: Options
    var parcelIndex = 0
    var lastArrival = Timestamp(millis: .min)
    /// Min-heap by event time: records come out in event-time order across parcels.
    var queue = Heap()
    let merchants: [(id: String, name: String, country: String)]
    let consignees: [Consignee]

    public init(options: Options = Options()) {
        self.options = options
        rng = SeededRandom(seed: options.seed)
        var r = SeededRandom(seed: options.seed ^ 0xC0FFEE)
        merchants = (0..<400).map { i in
            let city = ["Shenzhen", "Yiwu", "Guangzhou", "Hangzhou", "Ningbo"][Int(r.next() % 5)]
            let brand = ["Bright Star", "Golden Leaf", "Happy Sun", "Blue Ocean", "Red Lantern"][Int(r.next() % 5)]
            return ("M-" + String(10000 + i), city + " " + brand + " Trading Co. " + String(i), "CN")
        }
        consignees = (0..<20_000).map { i in
            let d = TrafficGenerator.pick(TrafficGenerator.destinations.map { ($0, $0.weight) }, &r)
            let names = TrafficGenerator.givenNames, families = TrafficGenerator.familyNames, streets = TrafficGenerator.streets
            let given = names[Int(r.next() % UInt64(names.count))]
            let family = families[Int(r.next() % UInt64(families.count))]
            let street = streets[Int(r.next() % UInt64(streets.count))] + " " + String(1 + r.next() % 150)
            return Consignee(name: given + " " + family, street: street,
                             postalCode: d.postal, city: d.city, country: d.country,
                             email: given.lowercased() + "." + family.lowercased() + String(i) + "@example.eu", phone: "+3247" + pad(Int(r.next() % 10_000_000), 7))
        }
    }

    static func pick<T>(_ items: [(T, Int)], _ r: inout SeededRandom) -> T {
        let total = items.reduce(0) { $0 + $1.1 }
        var x = Int(r.next() % UInt64(total))
        for (item, w) in items {
            if x < w { return item }
            x -= w
        }
        return items[items.count - 1].0
    }

    /// The next record in event-time order.
    public mutating func next() -> GeneratedRecord {
        while queue.isEmpty || queue.min!.time > lastArrival { makeParcel() }
        return queue.popMin()
    }

    private mutating func makeParcel() {
        let i = parcelIndex
        parcelIndex += 1
        let spacing = 3_600_000 / Int64(max(1, options.parcelsPerHour))
        // Waves: flights land in bursts at the top of each 2-hour slot.
        let arrival = Timestamp(millis: options.start.millis + Int64(i) * spacing)
        lastArrival = arrival
        let origin = TrafficGenerator.pick(TrafficGenerator.origins.map { ($0, $0.weight) }, &rng)
        let flight = ParcelEvent.Flight(number: "\(origin.flightPrefix)\(100 + (arrival.millis / 7_200_000) % 900)", originAirport: origin.airport)
        let merchant = merchants[Int(rng.next() % UInt64(merchants.count))]
        let consignee = consignees[Int(rng.next() % UInt64(consignees.count))]
        let lines = 1 + Int(rng.next() % 3 == 0 ? rng.next() % 3 : 0)
        var parcelItems: [ParcelEvent.Item] = [], declItems: [CustomsDeclaration.Item] = []
        var totalEUR: Int64 = 0, mass: Int64 = 0
        for _ in 0..<lines {
            let g = TrafficGenerator.pick(TrafficGenerator.goods.map { ($0, $0.weight) }, &rng)
            let qty = Int64(1 + rng.next() % 3)
            let cents = g.eur * 100 + Int64(rng.next() % 200) - 100
            parcelItems.append(.init(description: g.description, hsCode: g.hs, quantity: qty))
            declItems.append(.init(hsCode: g.hs, description: g.description, quantity: qty, netMassGrams: g.grams * qty,
                                   intrinsicValue: Money(amount: Amount(micros: max(50, cents) * 10_000), currency: "EUR")))
            totalEUR += max(50, cents) * qty
            mass += g.grams * qty
        }
        let gross = mass + 40 + Int64(rng.next() % 60)
        let parcelID = "LGG-P-" + pad(i, 10)
        let declarationID = "26BE" + pad(i, 12) + "H7"
        let usd = Amount(micros: totalEUR * 10_000).multiplied(by: Amount("1.16")!)
        var t = arrival
        for (k, type) in [ParcelEvent.EventType.arrived, .sorted, .departed].enumerated() {
            let event = ParcelEvent(
                eventID: "\(parcelID)-\(k)", parcelID: parcelID, trackingNumber: "RB" + pad(i % 1_000_000_000, 9) + "CN",
                mawb: "160-" + pad(Int((arrival.millis / 7_200_000) % 100_000_000), 8), eventType: type, occurredAt: t, hub: "LGG",
                flight: flight, merchant: .init(id: merchant.id, name: merchant.name), consignee: consignee, weightGrams: gross,
                declaredValue: Money(amount: usd, currency: "USD"), items: parcelItems, customsDeclarationID: k == 0 ? nil : declarationID)
            queue.push(GeneratedRecord(topic: options.parcelsTopic, key: parcelID, value: event.jsonBytes, time: t))
            t = t + Int64(1_800_000 + Int64(rng.next() % 3_600_000))
        }
        let lodged = arrival + Int64(rng.next() % 5_400_000) - 1_800_000
        let over = totalEUR > 15_000
        let declaration = CustomsDeclaration(
            declarationID: declarationID, parcelID: parcelID, lodgedAt: lodged, regime: over ? "H1" : "H7", declarantID: "BE0123456789",
            seller: .init(id: merchant.id, name: merchant.name, country: merchant.country),
            iossNumber: over ? nil : "IM372" + pad(Int(merchant.id.dropFirst(2))! * 7 % 10_000_000, 7),
            consignee: Consignee(name: consignee.name, street: consignee.street, postalCode: consignee.postalCode, city: consignee.city, country: consignee.country),
            originCountry: "CN", destinationCountry: consignee.country, items: declItems, grossMassGrams: gross,
            transportCost: Money(amount: Amount(micros: 2_500_000), currency: "EUR"),
            vatDeclared: Money(amount: Amount(micros: totalEUR * 10_000).multiplied(by: Amount("0.21")!), currency: "EUR"))
        queue.push(GeneratedRecord(topic: options.declarationsTopic, key: declarationID, value: declaration.jsonBytes, time: lodged))
    }
}

/// A binary min-heap of records by event time (stable for equal times by insertion order).
struct Heap {
    private var items: [(GeneratedRecord, Int)] = []
    private var counter = 0

    var isEmpty: Bool { items.isEmpty }
    var min: GeneratedRecord? { items.first?.0 }

    private func less(_ a: Int, _ b: Int) -> Bool {
        (items[a].0.time, items[a].1) < (items[b].0.time, items[b].1)
    }

    mutating func push(_ r: GeneratedRecord) {
        items.append((r, counter))
        counter += 1
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !less(i, parent) { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func popMin() -> GeneratedRecord {
        let top = items[0].0
        items[0] = items[items.count - 1]
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && less(l, m) { m = l }
            if r < items.count && less(r, m) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}
