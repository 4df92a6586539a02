import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import GRPCCore
import Synchronization

/// The notifications service: the in-app inbox (SPEC §5).
public enum NotificationsBlueprint {
    public static let blueprint = ServiceBlueprint(
        name: "notifications",
        grpcServiceName: "fieldwork.v1.NotificationsService",
        defaultPort: 7104,
        defaultMetricsPort: 9104,
        migrations: NotificationsMigrations.all,
        access: [
            "UpsertRoute": [.admin], "UpsertTemplate": [.admin],
            "Send": [.admin, .manager, .director, .deptHead],
        ],
        makeService: { environment in NotificationsService(environment: environment) }
    )
}

/// The live RPCs of `fieldwork.v1.NotificationsService`; the rest of the
/// contract answers UNIMPLEMENTED until it is built (see README).
struct NotificationsService: RegistrableRPCService {
    typealias Method = Fieldwork_V1_NotificationsService.Method

    let environment: ServiceEnvironment
    let inbox: InboxStore
    let feed = InboxFeed()

    init(environment: ServiceEnvironment) {
        self.environment = environment
        inbox = InboxStore(environment: environment)
    }

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.unary(Method.ListInbox.descriptor) { try await listInbox($0) }
        router.unary(Method.UnreadCount.descriptor) { try await unreadCount($0) }
        router.unary(Method.MarkRead.descriptor) { try await markRead($0) }
        router.unary(Method.MarkAllRead.descriptor) { try await markAllRead($0) }
        router.serverStreaming(Method.Subscribe.descriptor) { request, writer, _ in try await subscribe(request, writer: writer) }
        router.unary(Method.Send.descriptor) { try await send($0) }
        router.unary(Method.UpsertRoute.descriptor) { try await upsertRoute($0) }
        router.unary(Method.ListRoutes.descriptor) { try await listRoutes($0) }
        router.unary(Method.UpsertTemplate.descriptor) { try await upsertMessageTemplate($0) }
        router.unary(Method.ListTemplates.descriptor) { try await listMessageTemplates($0) }
        router.unary(Method.Deliver.descriptor) { request in
            let recipients = Mutex<[String]>([])
            let response = try await environment.deliver(request) { event, connection in
                if try await DirectoryReplica.apply(event, on: connection, logger: environment.logger) { return }
                let people = try await inbox.notify(for: event, on: connection)
                recipients.withLock { $0 = people }
            }
            feed.wake(recipients.withLock { $0 })   // committed: wake their open streams
            return response
        }
        router.unary(Method.RunJob.descriptor) { try await environment.runJob($0) }
        router.unary(Method.ListAudit.descriptor) { try await environment.listAudit($0) }
    }
}
