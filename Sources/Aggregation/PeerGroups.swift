import Codec
import WorkerRuntime

/// What one closed activity window adds to its peer group's baselines (org and role), and to
/// its role's across all orgs: the figures, in the order they were taken, and the source countries.
///
/// State is partitioned by principal, so a peer group's principals are spread over all the
/// access task's partitions. Each partition applies its own windows' observations at once and
/// broadcasts them to the others through `aggregation.peer-observations`, so that every
/// partition's copy of a peer baseline learns from the whole group, not from the sixth of it that
/// hashes there. A principal in its first day is judged against that baseline.
struct PeerObservation: Equatable {
    var peerKey: String
    /// The role, whose org-wide group (`PeerGroup.roleKey`) learns the same figures.
    var role: String
    var values: [Value] = []
    var countries: [String] = []
    /// One entry per window and resource kind of sensitive exports: what the role exports.
    var exportKinds: [String] = []

    struct Value: Equatable {
        var metric: Metric
        var x: Double
    }

    init(peerKey: String, role: String) {
        self.peerKey = peerKey
        self.role = role
    }

    var isEmpty: Bool { values.isEmpty && countries.isEmpty && exportKinds.isEmpty }

    mutating func append(_ o: PeerObservation) {
        values += o.values
        countries += o.countries
        exportKinds += o.exportKinds
    }

    /// `from`: the partition that applied it already (it skips its own copy).
    func json(from partition: Int32) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("peer_group"); w.string(peerKey)
        w.key("role"); w.string(role)
        w.key("from_partition"); w.int(Int64(partition))
        w.key("values"); w.beginArray()
        for v in values { w.beginArray(); w.string(v.metric.name); w.double(v.x); w.endArray() }
        w.endArray()
        w.key("countries"); w.beginArray(); for c in countries { w.string(c) }; w.endArray()
        w.key("export_kinds"); w.beginArray(); for k in exportKinds { w.string(k) }; w.endArray()
        w.endObject()
        return w.bytes
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> (PeerObservation, from: Int32) {
        var peerKey: String?, role: String?, from: Int64?, values: [Value] = [], countries: [String] = [], kinds: [String] = []
        try JSONReader.readRecord(bytes, schema: nil) { r, key throws(DecodeError) in
            if key == "peer_group" { peerKey = try r.readString() }
            else if key == "role" { role = try r.readString() }
            else if key == "from_partition" { from = try r.readInt(in: 0...Int64(Int32.max)) }
            else if key == "values" {
                try r.readArray { r, _ throws(DecodeError) in
                    var name: String?, x: Double?
                    try r.readArray { r, i throws(DecodeError) in
                        if i == 0 { name = try r.readString() } else if i == 1 { x = try r.readDouble() } else { try r.skipValue() }
                    }
                    guard let name, let metric = Metric(name: name) else { throw DecodeError("unknown metric in values: \(name ?? "null")") }
                    values.append(Value(metric: metric, x: try required(x, "values[].1")))
                }
            } else if key == "countries" { try r.readArray { r, _ throws(DecodeError) in countries.append(try r.readString()) } }
            // Absent from observations written before session 14.
            else if key == "export_kinds" { try r.readArray { r, _ throws(DecodeError) in kinds.append(try r.readString()) } }
            else { try r.skipValue() }
        }
        var o = PeerObservation(peerKey: try required(peerKey, "peer_group"), role: try required(role, "role"))
        o.values = values
        o.countries = countries
        o.exportKinds = kinds
        return (o, Int32(try required(from, "from_partition")))
    }
}

/// A peer group's baselines and usual source countries (windows per country), as one partition
/// holds them, and what this partition added to them since they were read (to broadcast).
struct PeerGroup {
    var baselines = Array(repeating: Baseline(), count: Metric.allCases.count)
    var countries: [String: Int64] = [:]
    /// Windows with sensitive exports, per resource kind.
    var exportKinds: [String: Int64] = [:]
    var added: PeerObservation

    init(peerKey: String, role: String) { added = PeerObservation(peerKey: peerKey, role: role) }

    /// The key of a peer group: org and role.
    static func key(org: String, role: String) -> String { org + "|" + role }

    /// The key of a role's group across all orgs: the fallback while an org's group is too young
    /// to have a baseline (a small firm's three brokers on their first day).
    static func roleKey(_ role: String) -> String { "*|" + role }

    mutating func add(_ m: Metric, _ x: Double, _ settings: AlertSettings) {
        take(m, x, settings)
        added.values.append(.init(metric: m, x: x))
    }

    mutating func addCountry(_ c: String) {
        countries[c, default: 0] += 1
        added.countries.append(c)
    }

    mutating func addExportKind(_ k: String) {
        exportKinds[k, default: 0] += 1
        added.exportKinds.append(k)
    }

    /// Whether the group exports this kind of resource: at least `share` of its windows' export
    /// kinds, once it has `minWindows` of them (nil before: the group cannot say).
    func exportsKind(_ k: String, share: Double, minWindows: Int64) -> Bool? {
        let total = exportKinds.values.reduce(0, +)
        guard total >= minWindows else { return nil }
        return Double(exportKinds[k] ?? 0) >= share * Double(total)
    }

    /// Another partition's observation, or this group's role-wide twin learning what the group learned.
    mutating func apply(_ o: PeerObservation, _ settings: AlertSettings, from start: (values: Int, countries: Int, kinds: Int) = (0, 0, 0)) {
        for v in o.values[start.values...] { take(v.metric, v.x, settings) }
        for c in o.countries[start.countries...] { countries[c, default: 0] += 1 }
        for k in o.exportKinds[start.kinds...] { exportKinds[k, default: 0] += 1 }
    }

    /// How much `added` holds: for applying only what came after to the role-wide group.
    var mark: (values: Int, countries: Int, kinds: Int) { (added.values.count, added.countries.count, added.exportKinds.count) }

    private mutating func take(_ m: Metric, _ x: Double, _ settings: AlertSettings) {
        baselines[m.rawValue].add(x, alpha: settings.alpha, clip: m.clip, floor: settings.minLogSpread)
    }
}
