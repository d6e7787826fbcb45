import Foundation
import Fraud
import WorkerRuntime

exit(await WorkerMain.run(FraudWorker.definition))
