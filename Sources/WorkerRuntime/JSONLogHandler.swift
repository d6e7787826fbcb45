#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Codec
import Foundation
import Logging
import Synchronization

/// swift-log handler writing one JSON object per line to stdout:
/// `{"ts":"…","level":"info","logger":"enrichment-worker","msg":"…",…metadata}`.
/// Call sites log identifiers and counts, never record contents or secrets.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    static let output = Mutex<Void>(())

    public init(label: String, level: Logger.Level) {
        self.label = label
        logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level, message = event.message, explicit = event.metadata
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("ts"); w.timestamp(Timestamp(millis: Int64(Date().timeIntervalSince1970 * 1000)))
        w.key("level"); w.string(level.rawValue)
        w.key("logger"); w.string(label)
        w.key("msg"); w.string(message.description)
        var all = metadata
        if let explicit { all.merge(explicit) { $1 } }
        for (k, v) in all.sorted(by: { $0.key < $1.key }) {
            w.key(k)
            w.string(v.description)
        }
        w.endObject()
        var bytes = w.bytes
        bytes.append(0x0A)
        JSONLogHandler.output.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                var done = 0
                while done < buffer.count {
                    let n = write(1, buffer.baseAddress! + done, buffer.count - done)
                    if n <= 0 { break }
                    done += n
                }
            }
        }
    }
}
