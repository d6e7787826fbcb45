import Enrichment
import Foundation
import WorkerRuntime

exit(await WorkerMain.run(EnrichmentWorker.definition))
