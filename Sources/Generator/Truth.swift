import Codec

/// One line of ground truth (format: /tmp/notes/truth-format.md): a JSON object with `kind`
/// and a unique `scenario_id`, which is also its key on the truth topic.
public struct TruthLine: Sendable {
    public let kind: String
    public let scenarioID: String
    /// The JSON object, without a trailing newline.
    public let json: [UInt8]

    init(kind: String, scenarioID: String, _ fields: (inout JSONWriter) -> Void) {
        self.kind = kind
        self.scenarioID = scenarioID
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("kind"); w.string(kind)
        w.key("scenario_id"); w.string(scenarioID)
        fields(&w)
        w.endObject()
        json = w.bytes
    }

    static func run(seed: UInt64, start: Timestamp, counts: RunCounts, principals: Int, benignPrincipalHours: Int) -> TruthLine {
        TruthLine(kind: "run", scenarioID: "run") { w in
            w.key("seed"); w.int(seed)
            w.key("start"); w.timestamp(start)
            w.key("end"); w.timestamp(counts.records > 0 ? counts.lastEventTime : start)
            // Regular records only: hostile records and duplicates are counted apart.
            w.key("parcels"); w.int(counts.parcels)
            w.key("declarations"); w.int(counts.declarations)
            w.key("access_events"); w.int(counts.accessEvents)
            w.key("inspections"); w.int(counts.inspections)
            w.key("principals"); w.int(principals)
            w.key("benign_principal_hours"); w.int(benignPrincipalHours)
            w.key("parcel_events"); w.int(counts.parcelEvents)
            w.key("hostile"); w.int(counts.hostile)
            w.key("duplicates"); w.int(counts.duplicates)
            w.key("records"); w.int(counts.records)
        }
    }

    static func fraud(id: String, pattern: FraudPattern, declarationID: String, parcelID: String, sellerID: String, lodgedAt: Timestamp,
                      evadedCents: Int64, trueCents: Int64, declaredCents: Int64, group: (id: String, size: Int)?) -> TruthLine {
        TruthLine(kind: "fraud", scenarioID: id) { w in
            w.key("pattern"); w.string(pattern.rawValue)
            w.key("declaration_id"); w.string(declarationID)
            w.key("parcel_id"); w.string(parcelID)
            w.key("seller_id"); w.string(sellerID)
            w.key("lodged_at"); w.timestamp(lodgedAt)
            w.key("evaded_eur"); w.micros(evadedCents * 10_000)
            w.key("true_value_eur"); w.micros(trueCents * 10_000)
            w.key("declared_value_eur"); w.micros(declaredCents * 10_000)
            if let group {
                w.key("group"); w.string(group.id)
                w.key("group_size"); w.int(group.size)
            }
        }
    }

    static func exfiltration(id: String, pattern: ExfiltrationPattern, principalID: String, start: Timestamp, end: Timestamp, events: Int) -> TruthLine {
        TruthLine(kind: "exfiltration", scenarioID: id) { w in
            w.key("pattern"); w.string(pattern.rawValue)
            w.key("principal_id"); w.string(principalID)
            w.key("start"); w.timestamp(start)
            w.key("end"); w.timestamp(end)
            w.key("events"); w.int(events)
        }
    }

    static func pii(id: String, parcelID: String, declarationID: String?, form: String) -> TruthLine {
        TruthLine(kind: "pii_in_text", scenarioID: id) { w in
            w.key("parcel_id"); w.string(parcelID)
            w.key("declaration_id"); w.string(declarationID)
            w.key("form"); w.string(form)
        }
    }

    static func hostile(id: String, topic: String, key: String?, form: String) -> TruthLine {
        TruthLine(kind: "hostile", scenarioID: id) { w in
            w.key("topic"); w.string(topic)
            w.key("key"); w.string(key)
            w.key("form"); w.string(form)
        }
    }

    static func duplicate(id: String, topic: String, key: String, of eventID: String) -> TruthLine {
        TruthLine(kind: "duplicate", scenarioID: id) { w in
            w.key("topic"); w.string(topic)
            w.key("key"); w.string(key)
            w.key("of_event_id"); w.string(eventID)
        }
    }

    static func late(id: String, topic: String, key: String, delayMs: Int64) -> TruthLine {
        TruthLine(kind: "late", scenarioID: id) { w in
            w.key("topic"); w.string(topic)
            w.key("key"); w.string(key)
            w.key("delay_ms"); w.int(delayMs)
        }
    }
}
