import FieldworkRuntime
import VisitsService

await FieldworkServer.main(VisitsBlueprint.blueprint)
