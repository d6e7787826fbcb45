import Foundation
import Sensitivity
import WorkerRuntime

exit(await WorkerMain.run(SensitivityWorker.definition))
