import FieldworkRuntime
import WorkflowsService

await FieldworkServer.main(WorkflowsBlueprint.blueprint)
