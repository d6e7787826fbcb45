import Catalogue
import Codec
import FleetConfig
import Foundation
import ReferenceData
import WorkerRuntime

/// One task over the three inputs; stateless, so it can be the fastest worker.
final class SensitivityHandler: StreamHandler {
    let redactor: Redactor
    let tagger: AccessTagger
    let topics: SensitivityWorker.Topics

    init(redactor: Redactor, tagger: AccessTagger, topics: SensitivityWorker.Topics) {
        self.redactor = redactor
        self.tagger = tagger
        self.topics = topics
    }

    func handle(_ record: InputRecord, _ context: HandlerContext) throws {
        let value = try record.requireValue()
        switch record.topic {
        case topics.accessIn:
            let access = try AccessLog(json: value)
            let tags = tagger.tags(access, context.reference)
            context.emit(topic: topics.accessOut, key: access.principal.id) { w in
                RecordSplice.splice(value, into: &w) { w in
                    w.key("provenance"); record.provenance.encode(to: &w)
                    w.key("tags"); tags.encode(policyVersion: tagger.policy.version, to: &w)
                }
            }
        case topics.parcelsIn, topics.declarationsIn:
            let isParcel = record.topic == topics.parcelsIn
            // Typed decode first: a malformed record is a dead letter, not a half-redacted one.
            let key: String
            if isParcel { key = try ParcelEvent(json: value).parcelID } else { key = try CustomsDeclaration(json: value).declarationID }
            try context.emit(topic: isParcel ? topics.parcelsOut : topics.declarationsOut, key: key) { (w: inout JSONWriter) throws(DecodeError) in
                try redactor.redact(json: value, kind: isParcel ? "parcel" : "declaration", source: record.provenance, withContact: isParcel, into: &w)
            }
        default:
            throw DecodeError("unexpected input topic \(record.topic)")
        }
    }
}

public enum SensitivityWorker {
    public static let name = Catalogue.Worker.sensitivity

    public struct Topics: Sendable {
        let parcelsIn: String, declarationsIn: String, accessIn: String
        let parcelsOut: String, declarationsOut: String, accessOut: String
    }

    public static let definition = WorkerDefinition(
        name: name, defaultHTTPPort: 8082,
        settings: [
            PseudonymKey.settings[0], PseudonymKey.settings[1],
            Setting("pseudonym.key_id", .name, default: "k1", "Identifier of the key, written into every redacted record; change it when rotating the key."),
            Setting("sensitivity.policy", .string, default: "", "Policy file (default: policy/sensitivity.yaml next to the reference data)."),
            Setting("sensitivity.working_hours", .string, default: "07:00-19:00", "Working hours of the hub, Europe/Brussels time."),
            Setting("sensitivity.working_days", .string, default: "mon-fri", "Working days (mon…sun, lists and ranges)."),
            Setting("sensitivity.topics.parcels_in", .name, default: Catalogue.parcelsEnriched, "Enriched parcel events."),
            Setting("sensitivity.topics.declarations_in", .name, default: Catalogue.customsEnriched, "Enriched declarations."),
            Setting("sensitivity.topics.access_in", .name, default: Catalogue.accessLogs, "Access events."),
            Setting("sensitivity.topics.parcels_out", .name, default: Catalogue.parcelsRedacted, "PII-free parcel events."),
            Setting("sensitivity.topics.declarations_out", .name, default: Catalogue.customsRedacted, "PII-free declarations."),
            Setting("sensitivity.topics.access_out", .name, default: Catalogue.accessTagged, "Tagged access events."),
        ]
    ) { config, options in
        let key = try PseudonymKey.load(config)
        let policyPath = try PolicyFile.locate("sensitivity.yaml", configured: config.string("sensitivity.policy"), key: "sensitivity.policy", referenceDir: options.referenceDirectory)
        let policy: SensitivityPolicy
        do { policy = try SensitivityPolicy.load(path: policyPath) } catch {
            throw ConfigError(key: "sensitivity.policy", source: config.values["sensitivity.policy"]?.source, message: "\(error)")
        }
        guard let hours = WorkingHours.parse(hours: config.string("sensitivity.working_hours"), days: config.string("sensitivity.working_days")) else {
            throw ConfigError(key: "sensitivity.working_hours", source: config.values["sensitivity.working_hours"]?.source,
                              message: "expected e.g. 07:00-19:00 with working_days like mon-fri")
        }
        let topics = Topics(parcelsIn: config.string("sensitivity.topics.parcels_in"), declarationsIn: config.string("sensitivity.topics.declarations_in"),
                            accessIn: config.string("sensitivity.topics.access_in"), parcelsOut: config.string("sensitivity.topics.parcels_out"),
                            declarationsOut: config.string("sensitivity.topics.declarations_out"), accessOut: config.string("sensitivity.topics.access_out"))
        let redactor = Redactor(policy: policy, pseudonymizer: Pseudonymizer(key: key, keyID: config.string("pseudonym.key_id")))
        let tagger = AccessTagger(policy: policy, hours: hours)
        return [TaskDefinition(name: "main", inputs: [topics.parcelsIn, topics.declarationsIn, topics.accessIn],
                               outputs: [topics.parcelsOut, topics.declarationsOut, topics.accessOut]) {
            SensitivityHandler(redactor: redactor, tagger: tagger, topics: topics)
        }]
    }
}

/// The pseudonymisation key, shared by every worker that makes keyed pseudonyms (the same person
/// must get the same pseudonym in every worker): from `pseudonym.key`
/// (CARGOWATCH_PSEUDONYM_KEY) or the file `pseudonym.key_file`; missing or short is a
/// configuration error (exit 78). The key is never printed.
public enum PseudonymKey {
    public static let settings = [
        Setting("pseudonym.key", .secret, default: nil,
                "Secret key of the keyed pseudonyms (HMAC-SHA256). Required (or pseudonym.key_file). Never printed or logged."),
        Setting("pseudonym.key_file", .string, default: "", "File holding the pseudonym key (e.g. a mounted Secret)."),
    ]

    public static func load(_ config: LoadedConfig) throws -> [UInt8] {
        var key = config.text("pseudonym.key") ?? ""
        let keyFile = config.string("pseudonym.key_file")
        if key.isEmpty && !keyFile.isEmpty {
            guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
                throw ConfigError(key: "pseudonym.key_file", source: config.values["pseudonym.key_file"]?.source, message: "cannot read \(keyFile)")
            }
            key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard key.utf8.count >= 16 else {
            throw ConfigError(key: "pseudonym.key", source: config.values["pseudonym.key"]?.source,
                              message: key.isEmpty ? "required: set CARGOWATCH_PSEUDONYM_KEY (or pseudonym.key_file); without a key no pseudonyms can be made"
                                                   : "too short: use at least 16 bytes of secret")
        }
        return Array(key.utf8)
    }
}
