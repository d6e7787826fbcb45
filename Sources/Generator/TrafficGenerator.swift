import Codec
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        return SeededRandom.mix(state)
    }

    /// The SplitMix64 finaliser; also a stateless hash for per-(principal, day) decisions.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    mutating func chance(_ p: Double) -> Bool { p > 0 && unit() < p }
    /// Uniform in the closed range.
    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    mutating func int64(_ range: ClosedRange<Int64>) -> Int64 { range.lowerBound + Int64(next() % UInt64(range.upperBound - range.lowerBound + 1)) }
    mutating func double(_ range: ClosedRange<Double>) -> Double { range.lowerBound + unit() * (range.upperBound - range.lowerBound) }
    mutating func element<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
    /// exp(N(0, sigma)): multiplicative noise around 1 (Box–Muller).
    mutating func logNormal(sigma: Double) -> Double {
        let u1 = max(unit(), 1e-12), u2 = unit()
        return exp(sigma * (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

/// One record for an upstream topic.
public struct GeneratedRecord: Sendable {
    /// What a record is; hostile records and duplicates are extra records next to the regular traffic.
    public enum Kind: String, Sendable {
        case parcelEvent, declaration, inspection, accessLog, hostile, duplicate
    }

    public let topic: String
    public let key: String
    public let value: [UInt8]
    /// Event time, for pacing (for a duplicate, the original's event time).
    public let time: Timestamp
    public var kind: Kind
    /// Kafka headers; only hostile `binary_headers` records carry any.
    public var headers: [(String, [UInt8])] = []
    /// Ground-truth lines this record completes; write them where the truth goes (file, topic).
    public var truth: [TruthLine] = []
    /// For hostile records, the form of hostility (as in the truth line).
    public var hostileForm: String?

    public init(topic: String, key: String, value: [UInt8], time: Timestamp, kind: Kind = .parcelEvent) {
        self.topic = topic
        self.key = key
        self.value = value
        self.time = time
        self.kind = kind
    }
}

/// Synthetic hub traffic: flights from China–Europe e-commerce airports into LGG, consignees in
/// EU member states weighted by population, an e-commerce HS mix, repeat merchants and
/// consignees. Each parcel has ARRIVED → SORTED → DEPARTED events and one declaration lodged
/// around its arrival.
///
/// With scenarios switched on (`Options.labelled`) the traffic also carries labelled customs
/// fraud, customs inspections, access logs with exfiltration, personal data in free text,
/// hostile records, duplicates and late events; every scenario comes with a ground-truth line
/// (see `TruthLine`) attached to the record that completes it, and `finish()` gives the rest.
/// `Options()` is clean: parcels and declarations only, as tests of the workers expect.
public struct TrafficGenerator {
    public struct Options: Sendable {
        public var seed: UInt64 = 42
        public var start = Timestamp(rfc3339: "2026-11-27T06:00:00.000Z")!
        /// Parcels per hour of event time.
        public var parcelsPerHour = 3_600
        /// Serial number of the first parcel; parcel and declaration ids are made from it.
        public var firstParcelSerial = 0
        public var parcelsTopic = "parcels.events"
        public var declarationsTopic = "customs.declarations"
        public var inspectionsTopic = "customs.inspections"
        public var accessTopic = "access.logs"

        /// Benign access logs of the hub's principals (staff, vendor services, brokers).
        public var accessLogs = false
        /// Size of the principal population.
        public var principals = 120
        /// Share of declarations that are fraudulent.
        public var fraudRate = 0.0
        /// Share of declarations physically inspected (outcome on `inspectionsTopic`).
        public var inspectionRate = 0.0
        /// Exfiltration scenarios started per simulated day (needs `accessLogs`).
        public var exfiltrationPerDay = 0
        /// Hours of benign access history before the first exfiltration scenario.
        public var exfiltrationAfterHours = 24
        /// Share of parcels with personal data written into an item description.
        public var piiRate = 0.0
        /// Per regular record, the chance of an extra hostile/malformed record.
        public var hostileRate = 0.0
        /// Per regular record, the chance of an exact re-send a little later.
        public var duplicateRate = 0.0
        /// Per regular record, the chance that it is emitted 1–60 minutes late.
        public var lateRate = 0.0

        public init() {}

        /// Everything on at the default rates (what `cargowatch generate` produces).
        public static var labelled: Options {
            var o = Options()
            o.accessLogs = true
            o.fraudRate = 0.05
            o.inspectionRate = 0.02
            o.exfiltrationPerDay = 5
            o.piiRate = 0.02
            o.hostileRate = 0.001
            o.duplicateRate = 0.005
            o.lateRate = 0.005
            return o
        }
    }

    var rng: SeededRandom
    let options: Options
    /// Time slots of parcel arrivals (one per parcel of regular traffic).
    var slot = 0
    /// Serial numbers of parcels (split consignments and follow-up orders take extra ones).
    var parcelSerial = 0
    var lastArrival = Timestamp(millis: .min)
    /// Records come out in order of emission time (event time, or later for late records).
    var queue = Heap()
    let merchants: [Merchant]
    let merchantTable: WeightedTable
    let consignees: [Consignee]
    let fraud: FraudModel

    // Access logs.
    let principals: [Principal]
    var accessGeneratedUntil: Timestamp
    var accessSerial = 0
    var exfiltration: [Int: ExfiltrationState] = [:]
    var scenarioSerial = 0
    var patternRotation = 0

    // Accounting for the run line.
    var counts = RunCounts()
    var recentHours: [[Int64]]
    var exfiltratingPrincipals = Set<Int>()
    var principalHours: [Int]

    /// No record is ever created earlier than this before the newest arrival (declarations are
    /// lodged up to 30 minutes before arrival), so records up to it can be emitted in order.
    static let maxLead: Int64 = 1_800_000

    public init(options: Options = Options()) {
        self.options = options
        parcelSerial = options.firstParcelSerial
        rng = SeededRandom(seed: options.seed)
        var r = SeededRandom(seed: options.seed ^ 0xC0FFEE)
        merchants = Merchant.population(400, &r)
        merchantTable = WeightedTable(merchants.map(\.weight))
        let destinationTable = WeightedTable(TrafficGenerator.destinations.map(\.weight))
        consignees = (0..<20_000).map { i in
            let d = TrafficGenerator.destinations[destinationTable.pick(&r)]
            let names = TrafficGenerator.givenNames, families = TrafficGenerator.familyNames, streets = TrafficGenerator.streets
            let given = names[Int(r.next() % UInt64(names.count))]
            let family = families[Int(r.next() % UInt64(families.count))]
            let street = streets[Int(r.next() % UInt64(streets.count))] + " " + String(1 + r.next() % 150)
            return Consignee(name: given + " " + family, street: street,
                             postalCode: d.postal, city: d.city, country: d.country,
                             email: given.lowercased() + "." + family.lowercased() + String(i) + "@example.eu", phone: "+3247" + pad(Int(r.next() % 10_000_000), 7))
        }
        fraud = FraudModel(rate: options.fraudRate, merchants: merchants, sharedIOSS: Merchant.sharedIOSS(merchants, &r))
        principals = options.accessLogs ? Principal.population(max(10, options.principals), &r) : []
        accessGeneratedUntil = Timestamp(millis: options.start.millis.floorDiv(3_600_000) * 3_600_000)
        recentHours = Array(repeating: [], count: principals.count)
        principalHours = Array(repeating: 0, count: principals.count)
    }

    /// The next record in order of emission (event-time order, except for late records and
    /// duplicates, which come when they are due).
    public mutating func next() -> GeneratedRecord {
        while queue.isEmpty || queue.minDue > lastArrival - TrafficGenerator.maxLead { advance() }
        var (record, meta) = queue.popMin()
        account(&record, meta)
        return record
    }

    /// Ground truth still open when the generator stops (exfiltration scenarios cut short),
    /// then the run line, which is always last.
    public mutating func finish() -> [TruthLine] {
        var lines: [TruthLine] = []
        for key in exfiltration.keys.sorted() {
            let s = exfiltration[key]!
            if s.emitted > 0 { lines.append(s.truthLine()) }
        }
        exfiltration.removeAll()
        var benignHours = 0
        for (i, hours) in principalHours.enumerated() where !exfiltratingPrincipals.contains(i) { benignHours += hours }
        lines.append(TruthLine.run(seed: options.seed, start: options.start, counts: counts,
                                   principals: principals.count, benignPrincipalHours: benignHours))
        return lines
    }

    private mutating func advance() {
        makeParcel()
        if !principals.isEmpty {
            while accessGeneratedUntil <= lastArrival { generateAccessHour() }
        }
    }

    /// Queues a regular record, maybe late, maybe with a hostile twin.
    mutating func emit(_ record: GeneratedRecord, _ meta: RecordMeta) {
        var record = record
        var due = record.time
        if meta.scenario < 0 {
            if rng.chance(options.lateRate) {
                let delay = rng.int64(60_000...3_600_000)
                due = record.time + delay
                record.truth.append(.late(id: nextScenarioID("L"), topic: record.topic, key: record.key, delayMs: delay))
            }
            if rng.chance(options.hostileRate) {
                let hostile = makeHostile(from: record, eventID: meta.eventID)
                queue.push(hostile, RecordMeta(eventID: meta.eventID), due: record.time + rng.int64(0...60_000))
            }
        }
        queue.push(record, meta, due: due)
    }

    mutating func nextScenarioID(_ prefix: String) -> String {
        scenarioSerial += 1
        return prefix + "-" + pad(scenarioSerial, 8)
    }

    /// Counts what goes out, closes exfiltration scenarios, schedules duplicates.
    private mutating func account(_ record: inout GeneratedRecord, _ meta: RecordMeta) {
        counts.records += 1
        if record.time > counts.lastEventTime { counts.lastEventTime = record.time }
        switch record.kind {
        case .parcelEvent:
            counts.parcelEvents += 1
            if meta.arrival { counts.parcels += 1 }
        case .declaration: counts.declarations += 1
        case .inspection: counts.inspections += 1
        case .accessLog:
            counts.accessEvents += 1
            if meta.principal >= 0 { countPrincipalHour(meta.principal, record.time) }
            if meta.scenario >= 0, var s = exfiltration[meta.scenario] {
                s.emitted += 1
                if s.emitted == 1 { s.first = record.time; exfiltratingPrincipals.insert(s.principal) }
                s.last = max(s.last, record.time)
                if s.emitted == s.planned {
                    record.truth.append(s.truthLine())
                    exfiltration[meta.scenario] = nil
                } else {
                    exfiltration[meta.scenario] = s
                }
            }
        case .hostile: counts.hostile += 1
        case .duplicate: counts.duplicates += 1; return
        }
        // An exact re-send of a regular record (not of scenario events: their windows stay exact).
        if meta.scenario < 0, record.kind != .hostile, record.kind != .inspection, rng.chance(options.duplicateRate) {
            var copy = GeneratedRecord(topic: record.topic, key: record.key, value: record.value, time: record.time, kind: .duplicate)
            copy.truth = [.duplicate(id: nextScenarioID("D"), topic: record.topic, key: record.key, of: meta.eventID)]
            queue.push(copy, RecordMeta(eventID: meta.eventID), due: record.time + rng.int64(1_000...600_000))
        }
    }

    /// Distinct (principal, UTC hour) pairs; events are late by at most an hour, so the last
    /// few hours per principal are enough to tell a new hour from a seen one.
    private mutating func countPrincipalHour(_ principal: Int, _ time: Timestamp) {
        let hour = time.millis.floorDiv(3_600_000)
        if recentHours[principal].contains(hour) { return }
        principalHours[principal] += 1
        if recentHours[principal].count >= 4, let oldest = recentHours[principal].indices.min(by: { recentHours[principal][$0] < recentHours[principal][$1] }) {
            recentHours[principal][oldest] = hour
        } else {
            recentHours[principal].append(hour)
        }
    }
}

/// Totals for the run line, counted as records are emitted.
struct RunCounts {
    var records = 0, parcels = 0, parcelEvents = 0, declarations = 0, inspections = 0, accessEvents = 0
    var hostile = 0, duplicates = 0
    var lastEventTime = Timestamp(millis: .min)
}

/// What the generator remembers about a queued record (not part of the record).
struct RecordMeta {
    /// event_id (declaration_id for declarations): what a duplicate's truth line points to.
    var eventID: String
    /// The parcel's first event: counts the parcel.
    var arrival = false
    var principal = -1
    /// Exfiltration scenario number, or -1 for regular traffic.
    var scenario = -1
}

/// Picks an index with probability proportional to its weight (binary search on cumulative sums).
struct WeightedTable: Sendable {
    let cumulative: [Int]
    init(_ weights: [Int]) {
        var sum = 0
        cumulative = weights.map { sum += $0; return sum }
    }
    func pick(_ r: inout SeededRandom) -> Int {
        let x = Int(r.next() % UInt64(cumulative.last!))
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > x { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}

/// A binary min-heap of records by due time (stable for equal times by insertion order).
/// The heap orders small plain keys; records wait in slots, so sifting copies no references.
struct Heap {
    private var keys: [(due: Int64, order: Int, slot: Int)] = []
    private var slots: [(record: GeneratedRecord, meta: RecordMeta)?] = []
    private var freeSlots: [Int] = []
    private var counter = 0

    var isEmpty: Bool { keys.isEmpty }
    var minDue: Timestamp { Timestamp(millis: keys[0].due) }
    var count: Int { keys.count }

    private func less(_ a: Int, _ b: Int) -> Bool {
        keys[a].due < keys[b].due || (keys[a].due == keys[b].due && keys[a].order < keys[b].order)
    }

    mutating func push(_ r: GeneratedRecord, _ meta: RecordMeta, due: Timestamp) {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = (r, meta)
        } else {
            slot = slots.count
            slots.append((r, meta))
        }
        keys.append((due.millis, counter, slot))
        counter += 1
        var i = keys.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !less(i, parent) { break }
            keys.swapAt(i, parent)
            i = parent
        }
    }

    mutating func popMin() -> (GeneratedRecord, RecordMeta) {
        let slot = keys[0].slot
        let top = slots[slot].take()!
        freeSlots.append(slot)
        keys[0] = keys[keys.count - 1]
        keys.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < keys.count && less(l, m) { m = l }
            if r < keys.count && less(r, m) { m = r }
            if m == i { break }
            keys.swapAt(i, m)
            i = m
        }
        return top
    }
}
