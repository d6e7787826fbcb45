import Aggregation
import Foundation
import WorkerRuntime

exit(await WorkerMain.run(AggregationWorker.definition))
