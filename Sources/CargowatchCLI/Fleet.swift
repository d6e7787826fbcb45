import Catalogue
import FleetConfig
import Foundation
import WorkerRuntime
import Enrichment

/// The fleet's workers, as the CLI knows them (for topics, config docs and the demo).
public enum Fleet {
    public static let workers: [WorkerDefinition] = [EnrichmentWorker.definition]

    /// Internal topics (changelogs) of every worker's tasks, with the group ids the environment
    /// configures (so `topics create` matches what the workers will look for).
    public static func internalTopics(environment: [String: String]) throws -> [Topic] {
        var result: [Topic] = []
        for worker in workers {
            let config = try ConfigLoader.load(worker.spec, configFile: nil, environment: environment.filter { $0.key.hasPrefix("CARGOWATCH_") == false })
            let options = RuntimeOptions(worker: worker.name, config: config)
            for task in try worker.tasks(config, options) {
                for changelog in task.changelogTopics(baseGroup: options.groupID) {
                    result.append(Topic(changelog, role: .internal, key: "state key", schema: nil, producers: [worker.name], consumers: [worker.name],
                                        config: ["cleanup.policy": "compact", "min.compaction.lag.ms": "0"],
                                        "Changelog of a state store of \(worker.name) (task \(task.name)); restores state after restart or rebalance."))
                }
            }
        }
        return result
    }
}
