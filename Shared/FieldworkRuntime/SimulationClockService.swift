import FieldworkProto
import Foundation
import GRPCCore

/// `fieldwork.v1.SimulationClock`: lets a simulation set the business time of a
/// service that runs with `SIMULATED_CLOCK=on` (the showcase replays six months
/// in minutes). Registered only then, and admin-only.
struct SimulationClockService: Fieldwork_V1_SimulationClock.SimpleServiceProtocol {
    typealias Method = Fieldwork_V1_SimulationClock.Method

    static let access: [MethodDescriptor: AccessRule] = [
        Method.SetTime.descriptor: .admin,
    ]

    let clock: ManualClock

    func setTime(request: Fieldwork_V1_SetTimeRequest, context: ServerContext) async throws -> Fieldwork_V1_SetTimeResponse {
        guard request.hasNow else {
            throw RPCError(code: .invalidArgument, message: "now: is required")
        }
        clock.set(try request.now.instant(field: "now"))
        return .with { $0.now = .init(date: clock.now()) }
    }
}

extension AccessRules {
    /// The simulated clock's rules, for servers that register it and for the rule tests.
    public static let simulationClock = SimulationClockService.access
}
