import FleetConfig
import Foundation
import ReferenceData

/// Where a worker's policy file is: the configured path, else `policy/<name>` next to the
/// reference data, in the working directory, or in the image.
public enum PolicyFile {
    public static func locate(_ name: String, configured: String, key: String, referenceDir: String?) throws -> String {
        if !configured.isEmpty { return configured }
        var candidates: [String] = []
        if let ref = ReferenceLoader.locate(referenceDir) {
            candidates.append(URL(fileURLWithPath: ref).deletingLastPathComponent().appendingPathComponent("policy/\(name)").path)
        }
        candidates += [FileManager.default.currentDirectoryPath + "/policy/\(name)", "/opt/cargowatch/policy/\(name)"]
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw ConfigError(key: key, source: nil, message: "no policy file found (looked in \(candidates.joined(separator: ", ")))")
        }
        return found
    }
}
