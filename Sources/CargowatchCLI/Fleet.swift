import Catalogue
import FleetConfig
import Foundation
import WorkerRuntime
import Enrichment
import Sensitivity
import Fraud
import Aggregation

/// The fleet's workers, as the CLI knows them (for topics, config docs and the demo).
public enum Fleet {
    public static let workers: [WorkerDefinition] = [EnrichmentWorker.definition, SensitivityWorker.definition, FraudWorker.definition, AggregationWorker.definition]

    /// Internal topics (changelogs) of every worker's tasks, named after each worker's group id
    /// (`CARGOWATCH_GROUP_ID` applies to one worker only, so the defaults are used here).
    public static func internalTopics(environment: [String: String]) throws -> [Topic] {
        var result: [Topic] = []
        // Only topic names are wanted: settings of one worker (ports, keys) must not stop the
        // others from being listed, and no secret is needed to name a topic.
        var env = environment.filter { !$0.key.hasPrefix("CARGOWATCH_") }
        env["CARGOWATCH_PSEUDONYM_KEY"] = "placeholder: names only, never used to pseudonymise"
        for worker in workers {
            let config = try ConfigLoader.load(worker.spec, configFile: nil, environment: env)
            let options = RuntimeOptions(worker: worker.name, config: config)
            for task in try worker.tasks(config, options) {
                for changelog in task.changelogTopics(baseGroup: options.groupID) {
                    let stores = task.changelogStores.joined(separator: ", ")
                    result.append(Topic(changelog, role: .internal, key: "store name, 0x1F, state key", schema: nil, producers: [worker.name], consumers: [worker.name],
                                        config: ["cleanup.policy": "compact", "min.compaction.lag.ms": "0"],
                                        "Changelog of the state stores of \(worker.name)'s task \(task.name) (\(stores)); restores state after restart or rebalance."))
                }
            }
        }
        return result
    }
}
