import FieldworkDomain
import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import Synchronization

/// What makes one Fieldwork service: its name, ports, settings, schema,
/// access rules, and a factory for its RPC handlers and jobs.
public struct ServiceBlueprint: Sendable {
    public var name: String                   // "visits"
    public var grpcServiceName: String        // "fieldwork.v1.VisitsService"
    public var defaultPort: Int
    public var defaultMetricsPort: Int
    public var settings: [Setting]            // service-specific, besides the common ones
    public var migrations: [Migration]
    /// Every RPC's access rule (SPEC §8.1), declared beside the handlers' registration.
    public var access: [MethodDescriptor: AccessRule]
    /// Builds the handlers (registering only the live RPCs) and registers jobs on `environment.jobs`.
    public var makeService: @Sendable (ServiceEnvironment) async throws -> any RegistrableRPCService

    public init(
        name: String, grpcServiceName: String, defaultPort: Int, defaultMetricsPort: Int, settings: [Setting] = [],
        migrations: [Migration], access: [MethodDescriptor: AccessRule],
        makeService: @escaping @Sendable (ServiceEnvironment) async throws -> any RegistrableRPCService
    ) {
        self.name = name
        self.grpcServiceName = grpcServiceName
        self.defaultPort = defaultPort
        self.defaultMetricsPort = defaultMetricsPort
        self.settings = settings
        self.migrations = migrations
        self.access = access
        self.makeService = makeService
    }

    public var allSettings: [Setting] {
        ServiceConfiguration.commonSettings(defaultPort: defaultPort, defaultMetricsPort: defaultMetricsPort, database: "fieldwork_\(name)")
            + settings
    }
}

/// Runs a service process: PostgreSQL pool, migrations, health, gRPC server,
/// outbox relay, jobs and metrics, in one `ServiceGroup` that drains on SIGTERM.
public enum FieldworkServer {
    /// The executable's entry point: parses flags and environment, runs until SIGTERM/SIGINT.
    public static func main(_ blueprint: ServiceBlueprint) async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.contains("--help") || arguments.contains("-h") {
            print(ServiceConfiguration.usage(service: blueprint.name, settings: blueprint.allSettings))
            return
        }
        if arguments.contains("--access-table") {
            do {
                print(try AccessRules(blueprint.access).markdown(service: blueprint.grpcServiceName))
            } catch {
                FileHandle.standardError.write(Data("fieldwork-\(blueprint.name): \(error)\n".utf8))
                exit(1)
            }
            return
        }
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration(
                service: blueprint.name, settings: blueprint.allSettings, arguments: arguments,
                environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("fieldwork-\(blueprint.name): \(error)\n".utf8))
            exit(2)
        }
        let level = Logger.Level(rawValue: configuration.string("LOG_LEVEL")) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            // A simulated clock stands still until `SimulationClock/SetTime` moves it.
            let clock: any FieldworkClock = configuration.bool("SIMULATED_CLOCK") ? ManualClock(Date()) : SystemClock()
            try await run(blueprint, configuration: configuration, clock: clock)
        } catch {
            Logger(label: "fieldwork.\(blueprint.name)").critical("service failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    public static func run(_ blueprint: ServiceBlueprint, configuration: ServiceConfiguration, clock: any FieldworkClock) async throws {
        let logger = Logger(label: "fieldwork.\(blueprint.name)")
        guard let calendar = BusinessCalendar(timeZoneIdentifier: configuration.string("TIME_ZONE")) else {
            throw ConfigurationError(description: "\(configuration.prefix)TIME_ZONE: unknown time zone '\(configuration.string("TIME_ZONE"))'")
        }
        let host = configuration.string("HOST")
        let port = try configuration.int("PORT")
        let metricsPort = try configuration.int("METRICS_PORT")
        let healthPort = try configuration.int("HEALTH_PORT")
        let subscribers = try configuration.subscribers()
        let security = try TransportSecurity.resolve(configuration)
        try PublishedSecrets.refuse(configuration, environment: ProcessInfo.processInfo.environment)
        let jwksSource: JWKSSource
        let userKeys: UserTokenKeys
        do {
            jwksSource = try JWKSSource(file: configuration.string("JWKS_FILE"), url: configuration.string("JWKS_URL"))
            userKeys = try await UserTokenKeys(source: jwksSource)
        } catch let error as ConfigurationError {
            throw ConfigurationError(description: "\(configuration.prefix)\(error.description)")
        }
        let tokens = try await TokenAuthority(
            userKeys: userKeys, serviceSecret: configuration.string("JWT_SECRET"), service: blueprint.name,
            issuer: configuration.string("JWT_ISSUER"), audience: configuration.string("JWT_AUDIENCE"))
        let postgres = try Database.makeClient(
            url: configuration.string("DATABASE_URL"), maximumConnections: try configuration.int("DATABASE_POOL_SIZE"),
            timeouts: .init(
                statement: .milliseconds(try configuration.milliseconds32("DATABASE_STATEMENT_TIMEOUT_MS")),
                idleInTransaction: .milliseconds(try configuration.milliseconds32("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS"))),
            logger: logger)

        let registry = PrometheusCollectorRegistry()
        let health = HealthState()
        let signal = WakeSignal()
        let jobs = JobRunner(clock: clock, calendar: calendar, logger: logger, scheduled: configuration.bool("JOBS"))
        let environment = ServiceEnvironment(
            name: blueprint.name, configuration: configuration, postgres: postgres, clock: clock, calendar: calendar,
            logger: logger, outbox: Outbox(source: blueprint.name, subscribers: subscribers.map(\.name), signal: signal),
            jobs: jobs, tokens: tokens, background: BackgroundServices())
        let relay = try OutboxRelay(
            serviceName: blueprint.name, subscribers: subscribers, transportSecurity: security?.client ?? .plaintext,
            settings: .init(
                interval: try configuration.milliseconds("RELAY_INTERVAL_MS"),
                backoff: Backoff(
                    baseSeconds: Double(try configuration.int("RELAY_BACKOFF_BASE_MS")) / 1000,
                    capSeconds: Double(try configuration.int("RELAY_BACKOFF_CAP_MS")) / 1000),
                maxRejections: try configuration.int("RELAY_MAX_REJECTIONS")),
            postgres: postgres, clock: clock, logger: logger, signal: signal, tokens: tokens, registry: registry, health: health)
        jobs.register(Job("outbox-relay", schedule: .manual) { _ in
            let report = await relay.relayAll(wait: true)
            guard report.unreachable.isEmpty else {
                // "Delivered" must mean delivered: a caller that settles on this job learns who is missing.
                let who = report.unreachable.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
                throw RPCError(code: .unavailable, message: "delivered \(report.delivered) outbox row(s); could not reach \(who)")
            }
            return JobOutcome(items: report.delivered, summary: "delivered \(report.delivered) outbox row(s)")
        })
        let retentionDays = try configuration.days("OUTBOX_RETENTION_DAYS")
        let retention = RetentionPurge(
            inboxDays: try configuration.days("INBOX_RETENTION_DAYS"), idempotencyDays: try configuration.days("IDEMPOTENCY_RETENTION_DAYS"))
        jobs.register(Job("retention-purge", schedule: .daily(hour: 3, minute: 40)) { asOf in
            try await retention.run(asOf: asOf, now: clock.now(), postgres: postgres, logger: logger)
        })
        // Delivered rows are kept a while for inspection; without this the table only grows.
        jobs.register(Job("outbox-purge", schedule: .daily(hour: 3, minute: 30)) { asOf in
            let cutoff = OutboxRelay.purgeCutoff(asOf: asOf, now: clock.now(), retentionDays: retentionDays)
            let count = try await relay.purge(deliveredBefore: cutoff)
            return JobOutcome(items: count, summary: "deleted \(count) outbox row(s) delivered more than \(retentionDays) day(s) before")
        })
        jobs.register(Job("outbox-redrive", schedule: .manual) { _ in
            let count = try await relay.redrive()
            return JobOutcome(items: count, summary: "put \(count) parked outbox row(s) back in line")
        })

        let service = try await blueprint.makeService(environment)
        var rpcServices: [any RegistrableRPCService] = [service, HealthService(state: health, serviceNames: [blueprint.grpcServiceName])]
        if let simulated = clock as? ManualClock, configuration.bool("SIMULATED_CLOCK") {
            logger.warning("SIMULATED_CLOCK is on: business time moves only by SimulationClock/SetTime (never in production)")
            rpcServices.append(SimulationClockService(clock: simulated))
        }
        // Server reflection lists what this server registers (itself included) and serves the embedded schema.
        rpcServices.append(try ServerReflectionService(describing: rpcServices))
        let access = AccessRules(blueprint.access).merging(SimulationClockService.access)
        let limits = try TransportLimits(configuration)
        let server = GRPCServer(
            transport: MessageSizeLimit(
                .http2NIOPosix(
                    address: .ipv4(host: host, port: port), transportSecurity: security?.server ?? .plaintext, config: limits.serverConfig),
                maxMessageBytes: limits.maxMessageBytes),
            services: rpcServices,
            interceptors: [
                RequestLogInterceptor(logger: logger, metrics: RPCMetrics(registry: registry), readiness: health),
                ServerDeadlineInterceptor(unaryLimit: limits.unaryDeadline),
                AuthInterceptor(authority: tokens, access: access),
            ]
        )

        var services: [any Service] = [PostgresService(client: postgres)]
        if metricsPort >= 0 { services.append(MetricsServer(host: host, port: metricsPort, registry: registry, logger: logger)) }
        services += [
            UserTokenKeysRefresher(
                keys: userKeys, source: jwksSource, interval: .seconds(try configuration.positiveInt("JWKS_REFRESH_SECONDS")), logger: logger),
            DatabaseMonitor(postgres: postgres, migrations: blueprint.migrations, health: health, logger: logger),
            jobs,
            relay,
        ]
        services += environment.background.services
        services += [
            GRPCServerService(server: server, health: health, name: blueprint.name, logger: logger),
        ]
        if healthPort >= 0 {
            // Serving status only, no data and no auth: safe in plaintext on any address,
            // so kubelet's native gRPC probes work while PORT requires mTLS.
            let healthServer = GRPCServer(
                transport: .http2NIOPosix(address: .ipv4(host: host, port: healthPort), transportSecurity: .plaintext, config: limits.serverConfig),
                services: [HealthService(state: health, serviceNames: [blueprint.grpcServiceName])])
            services.append(GRPCServerService(server: healthServer, health: health, name: "\(blueprint.name) health", logger: logger))
        }
        let drain = try configuration.int("DRAIN_SECONDS")
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(drain + 5)
        // A handler that ignores cancellation must not keep a stopped service alive: after this, the process ends.
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: groupConfiguration).run()
        logger.info("stopped")
    }
}

/// Runs the PostgreSQL pool for the other services' lifetime.
struct PostgresService: Service {
    let client: PostgresClient
    func run() async throws {
        await cancelWhenGracefulShutdown { await client.run() }
    }
}

/// Applies migrations (retrying until the database answers), then keeps
/// checking the database and reports the result to health.
struct DatabaseMonitor: Service {
    let postgres: PostgresClient
    let migrations: [Migration]
    let health: HealthState
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var delay = Duration.milliseconds(200)
            while !Task.isCancelled {
                do {
                    try await Migrator.migrate(postgres, migrations, logger: logger)
                    break
                } catch {
                    logger.warning("migrations not applied yet", metadata: ["error": "\(String(reflecting: error))"])
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                }
            }
            while !Task.isCancelled {
                var reachable = false
                do {
                    _ = try await postgres.query("SELECT 1", logger: logger)
                    reachable = true
                } catch {
                    logger.warning("database check failed", metadata: ["error": "\(error)"])
                }
                health.setServing(reachable)
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }
}

/// The gRPC server as a lifecycle service: on graceful shutdown it reports
/// NOT_SERVING, stops accepting new RPCs and lets in-flight ones finish.
struct GRPCServerService<Transport: ServerTransport>: Service {
    let server: GRPCServer<Transport>
    let health: HealthState
    let name: String
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                if let address = try await server.listeningAddress {
                    logger.info("listening", metadata: ["address": "\(address)"])
                    print("fieldwork-\(name) listening on \(address)")
                }
            }
        } onGracefulShutdown: {
            logger.info("draining")
            health.beginDraining()
            server.beginGracefulShutdown()
        }
    }
}

/// The lifecycle services a blueprint's `makeService` registers besides its RPCs.
public final class BackgroundServices: Sendable {
    private let registered = Mutex<[any Service]>([])

    public init() {}

    public func add(_ service: any Service) { registered.withLock { $0.append(service) } }

    var services: [any Service] { registered.withLock { $0 } }
}
