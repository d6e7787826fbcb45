import Enrichment
import Foundation
import WorkerRuntime

WorkerMain.terminate(await WorkerMain.run(EnrichmentWorker.definition))
