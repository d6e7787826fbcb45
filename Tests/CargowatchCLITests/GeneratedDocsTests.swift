import CargowatchCLI
import Catalogue
import Foundation
import Testing

/// Documents generated from code must match what is committed: they cannot drift.
@Suite("Generated documents are up to date")
struct GeneratedDocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func committed(_ path: String) -> String { (try? String(contentsOfFile: "\(Self.root)/\(path)", encoding: .utf8)) ?? "(missing)" }

    @Test("asyncapi.yaml equals the catalogue's rendering (regenerate: cargowatch topics asyncapi --output asyncapi.yaml)")
    func asyncAPI() {
        #expect(committed("asyncapi.yaml") == AsyncAPIDocument.render())
    }

    @Test("docs/topics.md equals the catalogue (regenerate: cargowatch topics docs --output docs/topics.md)")
    func topicsTable() {
        #expect(committed("docs/topics.md") == TopicsDocument.render())
    }

    @Test("docs/configuration.md equals the settings in code (regenerate: cargowatch config-docs --output docs/configuration.md)")
    func configTable() {
        #expect(committed("docs/configuration.md") == ConfigDocs.render(workers: Fleet.workers))
    }

    @Test("Every topic with a schema has its schema file, and every schema file belongs to a topic")
    func schemasExist() throws {
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: "\(Self.root)/schemas").filter { $0.hasSuffix(".schema.json") })
        let named = Set(Catalogue.topics.compactMap(\.schema).map { "\($0).schema.json" })
        let missing = named.subtracting(files)
        #expect(missing.isEmpty, "topics without a schema file: \(missing.sorted())")
        #expect(files.subtracting(named).isEmpty, "schema files no topic uses: \(files.subtracting(named).sorted())")
    }
}
