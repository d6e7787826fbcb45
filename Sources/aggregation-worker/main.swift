import Aggregation
import Foundation
import WorkerRuntime

WorkerMain.terminate(await WorkerMain.run(AggregationWorker.definition))
