import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import GRPCCore

/// The workflows service: request templates and task cards (SPEC §3).
public enum WorkflowsBlueprint {
    public static let blueprint = ServiceBlueprint(
        name: "workflows",
        grpcServiceName: "fieldwork.v1.WorkflowsService",
        defaultPort: 7102,
        defaultMetricsPort: 9102,
        migrations: WorkflowsMigrations.all,
        access: [:],
        makeService: { environment in WorkflowsService(environment: environment) }
    )
}

/// The live RPCs of `fieldwork.v1.WorkflowsService`; the rest of the contract
/// answers UNIMPLEMENTED until it is built (see README).
struct WorkflowsService: RegistrableRPCService {
    typealias Method = Fieldwork_V1_WorkflowsService.Method

    let environment: ServiceEnvironment
    let store: CardStore

    init(environment: ServiceEnvironment) {
        self.environment = environment
        store = CardStore(environment: environment)
    }

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.unary(Method.ListTemplates.descriptor) { try await listTemplates($0) }
        router.unary(Method.GetRequest.descriptor) { try await getRequest($0) }
        router.unary(Method.ListRequests.descriptor) { try await listRequests($0) }
        router.unary(Method.GetCard.descriptor) { try await getCard($0) }
        router.unary(Method.ListCards.descriptor) { try await listCards($0) }
        router.unary(Method.Deliver.descriptor) { request in
            try await environment.deliver(request) { event, connection in
                if try await DirectoryReplica.apply(event, on: connection, logger: environment.logger) { return }
                try await store.createRequest(for: event, on: connection)
            }
        }
        router.unary(Method.RunJob.descriptor) { try await environment.runJob($0) }
        router.unary(Method.ListAudit.descriptor) { try await environment.listAudit($0) }
    }
}
