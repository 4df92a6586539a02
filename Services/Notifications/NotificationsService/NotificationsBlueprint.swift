import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import GRPCCore
import NIOCore
import Synchronization

/// The notifications service: the in-app inbox, WeCom robots and webhooks (SPEC §5).
public enum NotificationsBlueprint {
    public static let blueprint = ServiceBlueprint(
        name: "notifications",
        grpcServiceName: "fieldwork.v1.NotificationsService",
        defaultPort: 7104,
        defaultMetricsPort: 9104,
        settings: [
            Setting("WEBHOOK_ALLOWED_HOSTS", default: "qyapi.weixin.qq.com",
                    help: "hosts robots and webhooks may post to, comma-separated; '*.example.com' allows subdomains"),
            Setting("WEBHOOK_ALLOWED_NETWORKS", default: "",
                    help: "private, loopback or link-local ranges (CIDR) a target may resolve to anyway, e.g. 127.0.0.1/32 for a local receiver"),
            Setting("WEBHOOK_TIMEOUT_MS", default: "5000", help: "deadline of one post to a robot or webhook, from connect to the whole reply"),
            Setting("WEBHOOK_SIGNING_SECRET", default: "", help: "HMAC-SHA256 key for X-Fieldwork-Signature (webhooks need it)", secret: true),
            Setting("DELIVERY_MAX_ATTEMPTS", default: "8", help: "attempts before a delivery is dead-lettered"),
            Setting("DELIVERY_BACKOFF_BASE_MS", default: "2000", help: "first retry delay of a delivery (exponential, with jitter)"),
            Setting("DELIVERY_BACKOFF_CAP_MS", default: "600000", help: "longest retry delay of a delivery"),
            Setting("DELIVERY_CONCURRENCY", default: "16", help: "channels posted to at the same time"),
            Setting("DELIVERY_POLL_MS", default: "500", help: "how often the dispatcher looks for due deliveries"),
            Setting("WECOM_ROBOT_PER_MINUTE", default: "18",
                    help: "posts per robot in any minute; WeCom allows 20, and 18 leaves room for posts still in flight when the minute turns"),
            Setting("WECOM_RATE_LIMIT_PAUSE_SECONDS", default: "60", help: "how long a robot that answered errcode 45009 (over the limit) gets no posts"),
            Setting("WECOM_ROBOT_BURST", default: "5", help: "posts a robot may send at once; the rest of the minute's allowance refills evenly"),
            Setting("SUBSCRIBE_PER_PERSON", default: "5", help: "open Subscribe streams one person may hold on one replica"),
            Setting("SUBSCRIBE_MAX", default: "5000", help: "open Subscribe streams on one replica"),
            Setting("LINK_BASE_URL", default: "",
                    help: "web address that opens fieldwork:// links outside the app (robots, webhooks), e.g. https://crm.example.com/open/"),
        ],
        migrations: NotificationsMigrations.all,
        access: NotificationsService.access,
        makeService: { environment in try NotificationsService(environment: environment) }
    )
}

/// The RPCs of `fieldwork.v1.NotificationsService`.
struct NotificationsService: RegistrableRPCService {
    typealias Method = Fieldwork_V1_NotificationsService.Method

    let environment: ServiceEnvironment
    let inbox: InboxStore
    let deliveries: DeliveryStore
    let fanout: EventFanout
    let dispatcher: DeliveryDispatcher
    let outboundPolicy: OutboundPolicy
    let feed: InboxFeed

    init(environment: ServiceEnvironment) throws {
        let configuration = environment.configuration
        self.environment = environment
        feed = InboxFeed(
            perPerson: try configuration.positiveInt("SUBSCRIBE_PER_PERSON"), total: try configuration.positiveInt("SUBSCRIBE_MAX"))
        let networks = try configuration.string("WEBHOOK_ALLOWED_NETWORKS").split(separator: ",").map { text in
            guard let network = IPNetwork(String(text)) else {
                throw ConfigurationError(description: "\(configuration.prefix)WEBHOOK_ALLOWED_NETWORKS: '\(text)' is not an address or CIDR range")
            }
            return network
        }
        outboundPolicy = OutboundPolicy(
            allowedHosts: configuration.string("WEBHOOK_ALLOWED_HOSTS").split(separator: ",").map(String.init), allowedNetworks: networks)
        inbox = InboxStore(environment: environment)
        deliveries = DeliveryStore(environment: environment, settings: .init(
            maxAttempts: try configuration.positiveInt("DELIVERY_MAX_ATTEMPTS"),
            backoff: Backoff(
                baseSeconds: Double(try configuration.positiveInt("DELIVERY_BACKOFF_BASE_MS")) / 1000,
                capSeconds: Double(try configuration.positiveInt("DELIVERY_BACKOFF_CAP_MS")) / 1000),
            robotLimit: try configuration.positiveInt("WECOM_ROBOT_PER_MINUTE"),
            robotBurst: try configuration.positiveInt("WECOM_ROBOT_BURST"),
            rateLimitPause: Double(try configuration.positiveInt("WECOM_RATE_LIMIT_PAUSE_SECONDS")),
            lease: Double(try configuration.positiveInt("WEBHOOK_TIMEOUT_MS")) / 1000 + 10))
        fanout = EventFanout(
            inbox: inbox, deliveries: deliveries, linkBaseURL: configuration.string("LINK_BASE_URL"), cache: MessageSetupCache())
        dispatcher = DeliveryDispatcher(
            store: deliveries,
            http: OutboundHTTP(policy: outboundPolicy, timeout: .milliseconds(try configuration.positiveInt("WEBHOOK_TIMEOUT_MS"))),
            settings: .init(
                poll: .milliseconds(try configuration.positiveInt("DELIVERY_POLL_MS")),
                concurrency: try configuration.positiveInt("DELIVERY_CONCURRENCY"),
                webhookSecret: configuration.string("WEBHOOK_SIGNING_SECRET")))
        environment.background.add(dispatcher)
    }

    /// Who may call each RPC (SPEC §8); `registerMethods` below serves them.
    static let access: [MethodDescriptor: AccessRule] = [
        Method.ListInbox.descriptor: .people(objects: "own inbox; admin any"),
        Method.UnreadCount.descriptor: .people(objects: "as ListInbox"),
        Method.MarkRead.descriptor: .people(objects: "own inbox"),
        Method.MarkAllRead.descriptor: .people(objects: "own inbox"),
        Method.Subscribe.descriptor: .people(objects: "own inbox"),
        Method.Send.descriptor: .only(.manager, .director, .deptHead, .admin),
        Method.UpsertChannel.descriptor: .admin,
        Method.ListChannels.descriptor: .admin,
        Method.UpsertRoute.descriptor: .admin,
        Method.ListRoutes.descriptor: .people(objects: ""),
        Method.UpsertTemplate.descriptor: .admin,
        Method.ListTemplates.descriptor: .people(objects: ""),
        Method.ListDeliveries.descriptor: .only(.ops, .admin),
        Method.ListDeadLetters.descriptor: .only(.ops, .admin),
        Method.Redeliver.descriptor: .only(.ops, .admin),
        Method.Deliver.descriptor: .service,
        Method.RunJob.descriptor: .admin,
        Method.ListAudit.descriptor: .only(.manager, .director, .deptHead, .executive, .admin, objects: "routes, templates open; an inbox its owner; an event's delivery its recipients (executive: no title); channels, deliveries: admin"),
    ]

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.unary(Method.ListInbox.descriptor) { try await listInbox($0) }
        router.unary(Method.UnreadCount.descriptor) { try await unreadCount($0) }
        router.unary(Method.MarkRead.descriptor) { try await markRead($0) }
        router.unary(Method.MarkAllRead.descriptor) { try await markAllRead($0) }
        router.serverStreaming(Method.Subscribe.descriptor) { request, writer, _ in try await subscribe(request, writer: writer) }
        router.unary(Method.Send.descriptor) { try await send($0) }
        router.unary(Method.UpsertChannel.descriptor) { try await upsertChannel($0) }
        router.unary(Method.ListChannels.descriptor) { try await listChannels($0) }
        router.unary(Method.UpsertRoute.descriptor) { try await upsertRoute($0) }
        router.unary(Method.ListRoutes.descriptor) { try await listRoutes($0) }
        router.unary(Method.UpsertTemplate.descriptor) { try await upsertMessageTemplate($0) }
        router.unary(Method.ListTemplates.descriptor) { try await listMessageTemplates($0) }
        router.unary(Method.ListDeliveries.descriptor) { try await listDeliveries($0, deadOnly: false) }
        router.unary(Method.ListDeadLetters.descriptor) { try await listDeliveries($0, deadOnly: true) }
        router.unary(Method.Redeliver.descriptor) { try await redeliver($0) }
        router.unary(Method.Deliver.descriptor) { request in
            let result = Mutex(EventFanout.Result())
            let response = try await environment.deliver(request) { event, connection in
                if try await DirectoryReplica.apply(event, on: connection, logger: environment.logger) { return }
                let fannedOut = try await fanout.fanOut(event, on: connection)
                result.withLock { $0 = fannedOut }
            }
            published(result.withLock { $0 })
            return response
        }
        router.unary(Method.RunJob.descriptor) { try await environment.runJob($0) }
        router.unary(Method.ListAudit.descriptor) { try await listAudit($0) }
    }

    /// After a commit: wake the streams of people who got an item, and the dispatcher if deliveries were queued.
    func published(_ result: EventFanout.Result) {
        feed.wake(result.people)
        if result.queued > 0 { dispatcher.wake() }
    }
}
