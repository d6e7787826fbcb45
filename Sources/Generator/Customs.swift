import Codec

/// The customs fraud patterns injected into declarations (one pattern per fraudulent declaration).
public enum FraudPattern: String, Sendable, CaseIterable {
    case undervaluation = "UNDERVALUATION"
    case splitConsignment = "SPLIT_CONSIGNMENT"
    case weightMismatch = "WEIGHT_MISMATCH"
    case originMismatch = "ORIGIN_MISMATCH"
    case descriptionMismatch = "DESCRIPTION_MISMATCH"
    case iossInvalid = "IOSS_INVALID"
    case iossShared = "IOSS_SHARED"
    case regimeMisuse = "REGIME_MISUSE"

    /// What an inspecting officer writes down: the pattern, plus the schema's usual code where it differs.
    var findings: [String] {
        switch self {
        case .originMismatch: [rawValue, "FALSE_ORIGIN"]
        case .descriptionMismatch: [rawValue, "MISDESCRIPTION"]
        case .iossInvalid, .iossShared: [rawValue, "IOSS_MISUSE"]
        case .weightMismatch: [rawValue, "UNDECLARED_GOODS"]
        default: [rawValue]
        }
    }
}

/// One good of the e-commerce mix.
struct Good: Sendable {
    let hs: String, description: String, grams: Int64, eur: Int64, weight: Int
    var chapter: Substring { hs.prefix(2) }
}

/// A seller: most are honest; a few "bad sellers" commit most of the fraud, again and again.
struct Merchant: Sendable {
    let id: String, name: String, country: String
    /// Its own IOSS number (nil: VAT is collected at import instead).
    let ioss: String?
    /// Its prices relative to the market (log-normal): some sellers are legitimately cheap.
    let priceFactor: Double
    let bad: Bool
    /// Popularity (repeat merchants).
    let weight: Int

    static func population(_ n: Int, _ r: inout SeededRandom) -> [Merchant] {
        (0..<n).map { i in
            let city = ["Shenzhen", "Yiwu", "Guangzhou", "Hangzhou", "Ningbo", "Hong Kong"][Int(r.next() % 6)]
            let brand = ["Bright Star", "Golden Leaf", "Happy Sun", "Blue Ocean", "Red Lantern"][Int(r.next() % 5)]
            let ioss: String? = r.chance(0.05) ? nil : "IM" + r.element(TrafficGenerator.iossCountryCodes) + pad(r.int(0...9_999_999), 7)
            // Zipf-like popularity: a few big merchants, a long tail.
            let weight = 1 + 400 / (1 + Int(r.next() % UInt64(n)))
            return Merchant(id: "M-" + String(10000 + i), name: city + " " + brand + " Trading Co. " + String(i),
                            country: city == "Hong Kong" ? "HK" : "CN", ioss: ioss,
                            priceFactor: r.logNormal(sigma: 0.3), bad: r.chance(0.03), weight: weight)
        }
    }

    /// A few valid IOSS numbers of honest merchants that many unrelated sellers quote (IOSS_SHARED).
    static func sharedIOSS(_ merchants: [Merchant], _ r: inout SeededRandom) -> [String] {
        let honest = merchants.filter { !$0.bad && $0.ioss != nil }
        return (0..<4).map { _ in r.element(honest).ioss! }
    }
}

/// How often which seller commits fraud, so that declarations are fraudulent at `rate`.
struct FraudModel: Sendable {
    let rate: Double
    /// Chance per regular parcel of a bad seller / of another seller to start a fraud.
    let pBad: Double, pOther: Double
    let sharedIOSS: [String]

    init(rate: Double, merchants: [Merchant], sharedIOSS: [String]) {
        self.rate = rate
        self.sharedIOSS = sharedIOSS
        // A split consignment (1 pattern in 8) makes 2–4 fraudulent declarations, 3 on average,
        // out of one decision: solve for the decision rate that gives `rate` per declaration.
        let perDecision = 1 + 2.0 / Double(FraudPattern.allCases.count)
        let target = min(max(rate, 0), 0.9)
        let decision = target / (perDecision - (perDecision - 1) * target)
        let total = merchants.reduce(0) { $0 + $1.weight }
        let badShare = Double(merchants.filter(\.bad).reduce(0) { $0 + $1.weight }) / Double(max(1, total))
        // About 70 % of the fraud comes from bad sellers (repeat behaviour), the rest from anyone.
        pBad = badShare > 0 ? min(0.8, 0.7 * decision / badShare) : 0
        pOther = max(0, (decision - badShare * pBad) / (1 - badShare))
    }
}

/// A declaration line as shipped (true) and as declared.
struct Line {
    var good: Good
    var quantity: Int64
    var trueUnitCents: Int64
    var declaredUnitCents: Int64
    var description: String
    var hs: String
}

extension TrafficGenerator {
    static let origins: [(airport: String, flightPrefix: String, weight: Int)] = [
        ("HGH", "CK", 30), ("PVG", "CA", 20), ("TAO", "YG", 10), ("EHU", "O3", 10), ("SZX", "CZ", 15), ("CAN", "CZ", 10), ("HKG", "CX", 5),
    ]
    static let originTable = WeightedTable(origins.map(\.weight))
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
    /// Standard VAT rates of the member states (2026; reference/ has none), percent.
    static let vatPercent: [String: Double] = [
        "AT": 20, "BE": 21, "BG": 20, "HR": 25, "CY": 19, "CZ": 21, "DK": 25, "EE": 24, "FI": 25.5, "FR": 20, "DE": 19, "GR": 24,
        "HU": 27, "IE": 23, "IT": 22, "LV": 21, "LT": 21, "LU": 17, "MT": 18, "NL": 21, "PL": 23, "PT": 23, "RO": 21, "SK": 23,
        "SI": 22, "ES": 21, "SE": 25,
    ]
    /// ISO 3166 numeric codes allowed in IOSS numbers (EU-27 and 900 for Northern Ireland).
    static let iossCountryCodes = ["040", "056", "100", "191", "196", "203", "208", "233", "246", "250", "276", "300", "348", "372",
                                   "380", "428", "440", "442", "470", "528", "616", "620", "642", "703", "705", "724", "752", "900"]
    static let goods: [Good] = [
        .init(hs: "610910", description: "Cotton T-shirt", grams: 180, eur: 6, weight: 14), .init(hs: "620342", description: "Men's cotton trousers", grams: 450, eur: 14, weight: 6),
        .init(hs: "640411", description: "Sports shoes", grams: 800, eur: 22, weight: 7), .init(hs: "420292", description: "Backpack", grams: 600, eur: 12, weight: 5),
        .init(hs: "392690", description: "Plastic phone holder", grams: 60, eur: 3, weight: 10), .init(hs: "851762", description: "Bluetooth earphones", grams: 120, eur: 18, weight: 8),
        .init(hs: "854442", description: "USB charging cable", grams: 50, eur: 2, weight: 8), .init(hs: "850760", description: "Power bank 10000mAh", grams: 250, eur: 15, weight: 4),
        .init(hs: "950300", description: "Plastic toy car", grams: 300, eur: 7, weight: 7), .init(hs: "330499", description: "Face cream", grams: 120, eur: 5, weight: 5),
        .init(hs: "711719", description: "Fashion earrings", grams: 20, eur: 3, weight: 6), .init(hs: "910211", description: "Quartz wristwatch", grams: 90, eur: 11, weight: 3),
        .init(hs: "940542", description: "LED strip 5m", grams: 200, eur: 8, weight: 5), .init(hs: "630260", description: "Cotton bath towel", grams: 400, eur: 7, weight: 3),
        .init(hs: "392410", description: "Silicone kitchen spatula", grams: 80, eur: 2, weight: 4), .init(hs: "900410", description: "Sunglasses", grams: 40, eur: 4, weight: 3),
        .init(hs: "847130", description: "Tablet computer", grams: 500, eur: 95, weight: 1), .init(hs: "880240", description: "Camera drone", grams: 700, eur: 120, weight: 1),
        // Plain descriptions that contain words of the ICS2 stop list, legitimately.
        .init(hs: "871494", description: "Bicycle brake parts", grams: 150, eur: 9, weight: 2), .init(hs: "961511", description: "Hair accessories: plastic combs", grams: 30, eur: 2, weight: 2),
        .init(hs: "851830", description: "Wireless gaming headset", grams: 350, eur: 45, weight: 1), .init(hs: "851713", description: "Smartphone 128GB", grams: 220, eur: 130, weight: 1),
    ]
    static let goodsTable = WeightedTable(goods.map(\.weight))
    /// Goods worth undervaluing (and pricey enough to push an H7 over EUR 150).
    static let priceyGoods = goods.filter { $0.eur >= 11 }
    /// Benign variety of descriptions, none vague.
    static let descriptionSuffixes = ["", "", "", ", black", ", size M", ", blue", " (set of 2)", ", new", " - model 2026"]
    static let vagueDescriptions = ["gift", "Gift", "parts", "Parts", "sample", "SAMPLE", "accessories", "as ordered", "goods", "Gift item", "spare parts"]
    static let falseOrigins = ["VN", "MY", "TR", "US", "TH", "IN"]
    static let givenNames = ["Marie", "Jan", "Anna", "Søren", "José", "Eleni", "Luca", "Zofia", "Mateus", "Ana", "Pieter", "Ioana", "Lars", "Chiara"]
    static let familyNames = ["Dupont", "Kowalski", "Müller", "Østergaard", "García", "Papadopoulou", "Rossi", "Nowak", "Silva", "Janssens", "Popescu", "Virtanen"]
    static let streets = ["Rue de la Loi", "Hauptstraße", "Via Roma", "Calle Mayor", "ul. Długa", "Kerkstraat", "Strada Mare"]
    static let usdPerEUR = Amount("1.16")!

    /// Illustrative customs duty rates (not the tariff): textiles and footwear 12 %, the rest 3.5 %.
    static func dutyRate(_ hs: String) -> Double {
        ["61", "62", "63", "64"].contains(hs.prefix(2)) ? 0.12 : 0.035
    }

    /// Evaded duty and VAT in cents (documented formula; all amounts in EUR, intrinsic values):
    ///
    ///     duty_due  = (T_relief > 150 ? duty_rate(HS) : 0) · T + extra_rate · T
    ///     vat_due   = vat(destination) · (T + duty_due)
    ///     duty_paid = (regime == H1 ? duty_rate(HS) · D : 0)
    ///     vat_paid  = vat_remitted ? vat(destination) · (D + duty_paid) : 0
    ///     evaded    = max(0, duty_due + vat_due − duty_paid − vat_paid)
    ///
    /// T is the true value, D the declared one, T_relief the value the EUR 150 duty relief is
    /// judged on (the whole order for a split consignment, whose parts each get their share).
    /// vat_remitted is false when the IOSS number is malformed or someone else's: the VAT
    /// declared through it never reaches the treasury. extra_rate is illustrative: 25 % of
    /// trade-defence duty dodged by a false origin, 8 % of duty dodged by misdescription;
    /// 0 otherwise. duty_rate is `dutyRate(_:)`, vat the standard rate of the destination.
    static func evadedCents(trueCents: Int64, declaredCents: Int64, reliefCents: Int64, hs: String, regime: String,
                            destination: String, vatRemitted: Bool, extraRate: Double) -> Int64 {
        let t = Double(trueCents), d = Double(declaredCents), vat = (vatPercent[destination] ?? 21) / 100
        let dutyDue = (reliefCents > 15_000 ? dutyRate(hs) : 0) * t + extraRate * t
        let vatDue = vat * (t + dutyDue)
        let dutyPaid = regime == "H1" ? dutyRate(hs) * d : 0
        let vatPaid = vatRemitted ? vat * (d + dutyPaid) : 0
        return max(0, Int64((dutyDue + vatDue - dutyPaid - vatPaid).rounded()))
    }

    /// Frequent buyers legitimately receive several parcels a day from different sellers.
    mutating func pickConsignee() -> Consignee {
        rng.chance(0.05) ? consignees[Int(rng.next() % 1_000)] : consignees[Int(rng.next() % UInt64(consignees.count))]
    }

    /// A unit price around the good's typical price: seller level × unit noise, sometimes a clearance sale.
    mutating func unitCents(_ g: Good, _ m: Merchant) -> Int64 {
        var price = Double(g.eur * 100) * m.priceFactor * rng.logNormal(sigma: 0.2)
        if rng.chance(0.04) { price *= rng.double(0.3...0.6) }
        return max(50, Int64(price))
    }

    mutating func line(_ g: Good, _ m: Merchant, quantity: Int64) -> Line {
        let cents = unitCents(g, m)
        return Line(good: g, quantity: quantity, trueUnitCents: cents, declaredUnitCents: cents,
                    description: g.description + rng.element(TrafficGenerator.descriptionSuffixes), hs: g.hs)
    }

    mutating func benignLines(_ m: Merchant) -> [Line] {
        let count = 1 + Int(rng.next() % 3 == 0 ? rng.next() % 3 : 0)
        return (0..<count).map { _ in line(TrafficGenerator.goods[TrafficGenerator.goodsTable.pick(&rng)], m, quantity: Int64(1 + rng.next() % 3)) }
    }

    /// Lines of pricey goods whose true total lies in 160–450 EUR.
    mutating func priceyLines(_ m: Merchant, minCents: Int64 = 16_000, maxCents: Int64 = 45_000) -> [Line] {
        for _ in 0..<20 {
            let g = rng.element(TrafficGenerator.priceyGoods)
            var l = line(g, m, quantity: 1)
            l.quantity = max(1, rng.int64(minCents...maxCents) / l.trueUnitCents)
            let total = l.trueUnitCents * l.quantity
            if total >= minCents && total <= maxCents { return [l] }
        }
        // Fallback: one smartphone-class item at a fixed price in range.
        var l = line(TrafficGenerator.goods.first { $0.hs == "851713" }!, m, quantity: 1)
        l.trueUnitCents = rng.int64(minCents...maxCents)
        l.declaredUnitCents = l.trueUnitCents
        return [l]
    }

    mutating func makeParcel() {
        let i = slot
        slot += 1
        let spacing = 3_600_000 / Int64(max(1, options.parcelsPerHour))
        let arrival = Timestamp(millis: options.start.millis + Int64(i) * spacing)
        lastArrival = arrival
        let origin = TrafficGenerator.origins[TrafficGenerator.originTable.pick(&rng)]
        let merchant = merchants[merchantTable.pick(&rng)]
        let consignee = pickConsignee()
        if fraud.rate > 0, rng.chance(merchant.bad ? fraud.pBad : fraud.pOther) {
            let pattern = FraudPattern.allCases[Int(rng.next() % UInt64(FraudPattern.allCases.count))]
            if pattern == .splitConsignment {
                makeSplitConsignment(arrival: arrival, origin: origin, merchant: merchant, consignee: consignee)
            } else {
                makeFraudulent(pattern, arrival: arrival, origin: origin, merchant: merchant, consignee: consignee)
            }
            return
        }
        ship(arrival: arrival, origin: origin, merchant: merchant, consignee: consignee, lines: benignLines(merchant))
        // Benign look-alike of a split: a second order from the same seller to the same consignee a few hours later.
        if rng.chance(0.005) {
            ship(arrival: arrival + rng.int64(1_800_000...18_000_000), origin: origin, merchant: merchant, consignee: consignee, lines: benignLines(merchant))
        }
    }

    private mutating func makeFraudulent(_ pattern: FraudPattern, arrival: Timestamp, origin: (airport: String, flightPrefix: String, weight: Int),
                                         merchant: Merchant, consignee: Consignee) {
        var origin = origin
        var lines = pattern == .undervaluation ? priceyLines(merchant, minCents: 3_000, maxCents: 60_000)
            : pattern == .regimeMisuse ? priceyLines(merchant) : benignLines(merchant)
        // The other patterns keep the value honest and under EUR 150 (an H7), so each shows one pattern only.
        var attempts = 0
        while pattern != .undervaluation && pattern != .regimeMisuse && attempts < 20
                && lines.reduce(0, { $0 + $1.declaredUnitCents * $1.quantity }) > 15_000 {
            lines = benignLines(merchant)
            attempts += 1
        }
        var plan = FraudPlan(pattern: pattern)
        switch pattern {
        case .undervaluation:
            let factor = rng.double(0.10...0.35)
            for k in lines.indices { lines[k].declaredUnitCents = max(10, Int64(Double(lines[k].trueUnitCents) * factor)) }
        case .weightMismatch:
            plan.hiddenMassFactor = rng.double(1.5...4)
        case .originMismatch:
            // The flight came from mainland China: a Vietnamese or Turkish origin cannot be right.
            if origin.airport == "HKG" { origin = TrafficGenerator.origins[0] }
            plan.originCountry = rng.element(TrafficGenerator.falseOrigins)
        case .descriptionMismatch:
            if rng.chance(0.6) {
                for k in lines.indices { lines[k].description = rng.element(TrafficGenerator.vagueDescriptions) }
            } else {
                // A description of one kind of goods under an unrelated HS chapter.
                for k in lines.indices {
                    let other = TrafficGenerator.goods.filter { $0.chapter != lines[k].good.chapter }
                    lines[k].description = rng.element(other).description
                }
            }
        case .iossInvalid:
            plan.ioss = malformedIOSS()
            plan.vatRemitted = false
        case .iossShared:
            plan.ioss = rng.element(fraud.sharedIOSS)
            plan.vatRemitted = false
        case .regimeMisuse, .splitConsignment:
            break
        }
        ship(arrival: arrival, origin: origin, merchant: merchant, consignee: consignee, lines: lines, fraud: plan)
    }

    /// IOSS numbers that look right at a glance but are not.
    mutating func malformedIOSS() -> String {
        let code = rng.element(TrafficGenerator.iossCountryCodes), digits = pad(rng.int(0...9_999_999), 7)
        switch rng.next() % 7 {
        case 0: return "IN" + code + digits                      // intermediary number, not valid on a declaration
        case 1: return "IM" + code + String(digits.prefix(5))    // too short
        case 2: return "IM" + code + digits + "4"                // too long
        case 3: return "IM" + rng.element(["156", "840", "643", "344"]) + digits  // non-EU country code
        case 4: return "EU" + code + digits                      // wrong prefix (non-Union scheme)
        case 5: return "IMCN" + pad(rng.int(0...99_999_999), 8)  // the wrong pattern copied from public code
        default: return "im" + code + digits                     // lower case
        }
    }

    /// One order over EUR 150 cut into 2–4 parcels, each under 150, same seller and consignee, within hours.
    private mutating func makeSplitConsignment(arrival: Timestamp, origin: (airport: String, flightPrefix: String, weight: Int),
                                               merchant: Merchant, consignee: Consignee) {
        var parts: [[Line]] = []
        for _ in 0..<20 {
            let k = rng.int(2...4)
            parts = (0..<k).map { _ in
                let target = rng.int64(6_000...14_500)
                var l = line(rng.element(TrafficGenerator.goods), merchant, quantity: 1)
                l.quantity = max(1, target / l.trueUnitCents)
                while l.quantity > 1 && l.trueUnitCents * l.quantity >= 15_000 { l.quantity -= 1 }
                return [l]
            }
            let values = parts.map { $0.reduce(0) { $0 + $1.trueUnitCents * $1.quantity } }
            if values.allSatisfy({ $0 < 15_000 }) && values.reduce(0, +) > 15_000 { break }
            parts = []
        }
        guard !parts.isEmpty else { return }
        let groupCents = parts.reduce(0) { $0 + $1.reduce(0) { $0 + $1.trueUnitCents * $1.quantity } }
        let group = nextScenarioID("S")
        var t = arrival
        for part in parts {
            var plan = FraudPlan(pattern: .splitConsignment)
            plan.group = (group, parts.count)
            plan.reliefCents = groupCents
            ship(arrival: t, origin: origin, merchant: merchant, consignee: consignee, lines: part, fraud: plan)
            t = t + rng.int64(600_000...5_400_000)
        }
    }

    /// Builds one parcel (three events) and its declaration, maybe inspected, maybe with personal data in text.
    mutating func ship(arrival: Timestamp, origin: (airport: String, flightPrefix: String, weight: Int), merchant: Merchant,
                       consignee: Consignee, lines: [Line], fraud plan: FraudPlan? = nil) {
        let serial = parcelSerial
        parcelSerial += 1
        let flight = ParcelEvent.Flight(number: "\(origin.flightPrefix)\(100 + (arrival.millis / 7_200_000) % 900)", originAirport: origin.airport)
        var itemsMass: Int64 = 0, trueCents: Int64 = 0, declaredCents: Int64 = 0
        for l in lines {
            itemsMass += l.good.grams * l.quantity
            trueCents += l.trueUnitCents * l.quantity
            declaredCents += l.declaredUnitCents * l.quantity
        }
        let honestGross = itemsMass + 40 + Int64(rng.next() % 60)
        // Scales differ a little from what sellers declare.
        var declaredGross = max(1, Int64(Double(honestGross) * rng.double(0.96...1.04)))
        var scanned = honestGross
        if let plan, plan.pattern == .weightMismatch {
            // Undeclared goods of the same kind ride along: the scale sees them, the declaration does not.
            let hidden = Int64(Double(honestGross) * plan.hiddenMassFactor)
            scanned = honestGross + hidden
            declaredGross = honestGross
            trueCents = declaredCents + declaredCents * hidden / max(1, itemsMass)
        }
        let originCountry = plan?.originCountry ?? (origin.airport == "HKG" ? (rng.chance(0.7) ? "CN" : "HK") : "CN")
        let regime = plan?.pattern == .regimeMisuse ? "H7" : declaredCents > 15_000 ? "H1" : "H7"
        let ioss: String? = regime == "H1" ? nil : plan?.ioss ?? merchant.ioss
        let vatRate = (TrafficGenerator.vatPercent[consignee.country] ?? 21) / 100
        let parcelID = "LGG-P-" + pad(serial, 10)
        let declarationID = "26BE" + pad(serial, 12) + regime

        var parcelItems = lines.map { ParcelEvent.Item(description: $0.description, hsCode: $0.hs, quantity: $0.quantity) }
        var declItems = lines.map {
            CustomsDeclaration.Item(hsCode: $0.hs, description: $0.description, quantity: $0.quantity, netMassGrams: $0.good.grams * $0.quantity,
                                    intrinsicValue: Money(amount: Amount(micros: $0.declaredUnitCents * 10_000), currency: "EUR"))
        }
        var piiTruth: TruthLine?
        if rng.chance(options.piiRate) {
            let (form, text) = piiText(consignee)
            parcelItems[0].description += " — " + text
            let inDeclaration = rng.chance(0.5)
            if inDeclaration { declItems[0].description += " — " + text }
            piiTruth = .pii(id: nextScenarioID("P"), parcelID: parcelID, declarationID: inDeclaration ? declarationID : nil, form: form)
        }

        let usd = Amount(micros: declaredCents * 10_000).multiplied(by: TrafficGenerator.usdPerEUR)
        var t = arrival
        for (k, type) in [ParcelEvent.EventType.arrived, .sorted, .departed].enumerated() {
            let event = ParcelEvent(
                eventID: "\(parcelID)-\(k)", parcelID: parcelID, trackingNumber: "RB" + pad(serial % 1_000_000_000, 9) + "CN",
                mawb: "160-" + pad(Int((arrival.millis / 7_200_000) % 100_000_000), 8), eventType: type, occurredAt: t, hub: "LGG",
                flight: flight, merchant: .init(id: merchant.id, name: merchant.name), consignee: consignee, weightGrams: scanned,
                declaredValue: Money(amount: usd, currency: "USD"), items: parcelItems, customsDeclarationID: k == 0 ? nil : declarationID)
            var record = GeneratedRecord(topic: options.parcelsTopic, key: parcelID, value: event.jsonBytes, time: t, kind: .parcelEvent)
            if k == 0, let piiTruth { record.truth.append(piiTruth) }
            emit(record, RecordMeta(eventID: event.eventID, arrival: k == 0))
            t = t + Int64(1_800_000 + Int64(rng.next() % 3_600_000))
        }
        let lodged = arrival + Int64(rng.next() % 5_400_000) - 1_800_000
        let declaration = CustomsDeclaration(
            declarationID: declarationID, parcelID: parcelID, lodgedAt: lodged, regime: regime, declarantID: "BE0123456789",
            seller: .init(id: merchant.id, name: merchant.name, country: merchant.country), iossNumber: ioss,
            consignee: Consignee(name: consignee.name, street: consignee.street, postalCode: consignee.postalCode, city: consignee.city, country: consignee.country),
            originCountry: originCountry, destinationCountry: consignee.country, items: declItems, grossMassGrams: declaredGross,
            transportCost: Money(amount: Amount(micros: rng.int64(150...600) * 10_000), currency: "EUR"),
            vatDeclared: ioss == nil ? nil : Money(amount: Amount(micros: Int64(Double(declaredCents) * vatRate) * 10_000), currency: "EUR"))
        var record = GeneratedRecord(topic: options.declarationsTopic, key: declarationID, value: declaration.jsonBytes, time: lodged, kind: .declaration)
        if let plan {
            let mainHS = lines.max { $0.trueUnitCents * $0.quantity < $1.trueUnitCents * $1.quantity }!.hs
            let extra = plan.pattern == .originMismatch ? 0.25 : plan.pattern == .descriptionMismatch ? 0.08 : 0
            let evaded = TrafficGenerator.evadedCents(trueCents: trueCents, declaredCents: declaredCents, reliefCents: plan.reliefCents ?? trueCents,
                                                      hs: mainHS, regime: regime, destination: consignee.country,
                                                      vatRemitted: plan.vatRemitted, extraRate: extra)
            record.truth.append(.fraud(id: nextScenarioID("F"), pattern: plan.pattern, declarationID: declarationID, parcelID: parcelID,
                                       sellerID: merchant.id, lodgedAt: lodged, evadedCents: evaded, trueCents: trueCents,
                                       declaredCents: declaredCents, group: plan.group))
        }
        emit(record, RecordMeta(eventID: declarationID))
        if rng.chance(options.inspectionRate) {
            inspect(declarationID: declarationID, lodged: lodged, plan: plan, trueCents: trueCents, declaredCents: declaredCents)
        }
    }

    /// An officer's verdict 2–48 h after lodging, true to the ground truth.
    private mutating func inspect(declarationID: String, lodged: Timestamp, plan: FraudPlan?, trueCents: Int64, declaredCents: Int64) {
        let at = lodged + rng.int64(7_200_000...172_800_000)
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("schema"); w.string("customs.inspection/1")
        w.key("declaration_id"); w.string(declarationID)
        w.key("inspected_at"); w.timestamp(at)
        w.key("outcome"); w.string(plan == nil ? "compliant" : "fraud")
        w.key("findings"); w.beginArray()
        for code in plan?.pattern.findings ?? [] { w.string(code) }
        w.endArray()
        w.key("corrected_value")
        if plan != nil && trueCents != declaredCents {
            w.money(Money(amount: Amount(micros: trueCents * 10_000), currency: "EUR"))
        } else {
            w.null()
        }
        w.endObject()
        let record = GeneratedRecord(topic: options.inspectionsTopic, key: declarationID, value: w.bytes, time: at, kind: .inspection)
        queue.push(record, RecordMeta(eventID: declarationID), due: at)
    }
}

/// How a fraudulent declaration departs from the truth.
struct FraudPlan {
    var pattern: FraudPattern
    var originCountry: String?
    var ioss: String?
    var vatRemitted = true
    var hiddenMassFactor = 0.0
    var group: (id: String, size: Int)?
    /// The value the duty relief is judged on when it is not the declaration's own (split consignments).
    var reliefCents: Int64?
}
