import Foundation
import Fraud
import WorkerRuntime

WorkerMain.terminate(await WorkerMain.run(FraudWorker.definition))
