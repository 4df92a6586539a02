import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import GRPCCore

/// The scoring service (SPEC §4). Live so far: it keeps its copy of the
/// directory from the visits service's events; facts, the health model and
/// strategy rules are the scoring issue's work.
public enum ScoringBlueprint {
    public static let blueprint = ServiceBlueprint(
        name: "scoring",
        grpcServiceName: "fieldwork.v1.ScoringService",
        defaultPort: 7103,
        defaultMetricsPort: 9103,
        migrations: [RuntimeSchema.core, RuntimeSchema.directoryReplica],
        access: [:],
        makeService: { environment in ScoringService(environment: environment) }
    )
}

/// The live RPCs of `fieldwork.v1.ScoringService`; the rest of the contract
/// answers UNIMPLEMENTED until it is built (see README).
struct ScoringService: RegistrableRPCService {
    typealias Method = Fieldwork_V1_ScoringService.Method

    let environment: ServiceEnvironment

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.unary(Method.Deliver.descriptor) { request in
            try await environment.deliver(request) { event, connection in
                try await DirectoryReplica.apply(event, on: connection, logger: environment.logger)
            }
        }
        router.unary(Method.RunJob.descriptor) { try await environment.runJob($0) }
        router.unary(Method.ListAudit.descriptor) { try await environment.listAudit($0) }
    }
}
