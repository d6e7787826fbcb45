import Foundation
import Sensitivity
import WorkerRuntime

WorkerMain.terminate(await WorkerMain.run(SensitivityWorker.definition))
