import FieldworkRuntime
import ScoringService

await FieldworkServer.main(ScoringBlueprint.blueprint)
