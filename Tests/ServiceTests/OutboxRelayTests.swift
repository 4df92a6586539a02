import FieldworkDomain
import FieldworkProto
@testable import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PostgresNIO
import Prometheus
import Synchronization
import Testing

/// The relay against a real PostgreSQL and a real gRPC consumer on loopback.
@Suite struct OutboxRelayTests {
    final class Calls: Sendable {
        private let list = Mutex<[String]>([])
        private let inFlight = Mutex<(now: Int, most: Int)>((0, 0))
        func append(_ aggregate: String) { list.withLock { $0.append(aggregate) } }
        var all: [String] { list.withLock { $0 } }
        func started() { inFlight.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
        func finished() { inFlight.withLock { $0.now -= 1 } }
        /// The most calls the consumer was handling at once.
        var mostAtOnce: Int { inFlight.withLock { $0.most } }
        /// Person ids the consumer refuses for now.
        let refused = Mutex<Set<String>>([])
    }

    /// A `Deliver` endpoint (as the workflows service) that answers as told and counts calls.
    struct Consumer: RegistrableRPCService {
        let calls: Calls
        let refuse: Bool
        var delay: Duration = .zero
        /// Answers ABORTED ("not yet") to this many calls for aggregate "lag" before taking its row.
        var notYet = 0

        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.unary(Fieldwork_V1_WorkflowsService.Method.Deliver.descriptor) { (request: Fieldwork_V1_DeliverRequest) in
                calls.started()
                defer { calls.finished() }
                calls.append(request.event.personChanged.person.id)
                try await Task.sleep(for: delay)
                if refuse || calls.refused.withLock({ $0.contains(request.event.personChanged.person.id) }) {
                    throw RPCError(code: .invalidArgument, message: "refused")
                }
                if request.event.personChanged.person.id.hasPrefix("lag-"), calls.all.filter({ $0.hasPrefix("lag-") }).count <= notYet {
                    throw RPCError(code: .aborted, message: "no active people in department 'x' in the directory copy yet")
                }
                return Fieldwork_V1_DeliverResponse()
            }
        }
    }

    func withRelay(
        consumerPort: Int, maxRejections: Int = 3, deliveryTimeout: Duration = .milliseconds(300),
        backoff: Backoff = Backoff(baseSeconds: 0.01, capSeconds: 0.05), _ body: (OutboxRelay, Outbox, TestDatabase) async throws -> Void
    ) async throws {
        try await TestDatabase.with { database in
            try await Migrator.migrate(database.client, [RuntimeSchema.core, RuntimeSchema.outboxRows, RuntimeSchema.outboxDueOrder, RuntimeSchema.outboxParkedOrder], logger: TestDatabase.logger)
            let signal = WakeSignal()
            let health = HealthState()
            health.setServing(true)
            let relay = try OutboxRelay(
                serviceName: "visits", subscribers: [Subscriber(name: "workflows", endpoint: Endpoint(host: "127.0.0.1", port: consumerPort))],
                settings: .init(
                    interval: .milliseconds(50), backoff: backoff, maxRejections: maxRejections,
                    deliveryTimeout: deliveryTimeout),
                postgres: database.client, clock: SystemClock(), logger: TestDatabase.logger, signal: signal,
                tokens: try await TokenAuthority(
                    jwks: UserTokenSigner.jwks([await UserTokenSigner(generatingKeyID: "relay-test")]),
                    serviceSecret: "relay-test-secret-0123456789abcdefghij", service: "visits"),
                registry: PrometheusCollectorRegistry(), health: health)
            let outbox = Outbox(source: "visits", subscribers: ["workflows"], signal: signal)
            try await body(relay, outbox, database)
        }
    }

    func append(_ outbox: Outbox, aggregate: String, count: Int, to database: TestDatabase) async throws {
        for index in 0..<count {
            try await database.client.withTransaction(logger: TestDatabase.logger) { connection in
                try await outbox.append(
                    .personChanged(.with { $0.person.id = "\(aggregate)-\(index)" }), aggregateID: aggregate, at: Date(),
                    on: connection, logger: TestDatabase.logger)
            }
        }
    }

    func withConsumer(
        refuse: Bool, port: Int = 0, delay: Duration = .zero, notYet: Int = 0, _ body: (Int, Calls) async throws -> Void
    ) async throws {
        let calls = Calls()
        let server = GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext),
            services: [Consumer(calls: calls, refuse: refuse, delay: delay, notYet: notYet)])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            let port = try await server.listeningAddress!.ipv4!.port
            try await body(port, calls)
            server.beginGracefulShutdown()
        }
    }

    /// Delivery happens in order per aggregate; rows are marked delivered once.
    @Test func deliversEveryRowInOrderPerAggregate() async throws {
        try await withConsumer(refuse: false) { port, calls in
            try await withRelay(consumerPort: port) { relay, outbox, database in
                try await append(outbox, aggregate: "a", count: 3, to: database)
                try await append(outbox, aggregate: "b", count: 2, to: database)
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await relay.runClientsForTest() }
                    #expect(await relay.relayAll(wait: true) == .init(delivered: 5))
                    #expect(await relay.relayAll(wait: true) == .init(delivered: 0))
                    relay.stopClientsForTest()
                }
                #expect(calls.all.filter { $0.hasPrefix("a-") } == ["a-0", "a-1", "a-2"])
                #expect(calls.all.filter { $0.hasPrefix("b-") } == ["b-0", "b-1"])
                #expect(calls.all.count == 5)
                let allDelivered = try await database.scalar("SELECT bool_and(delivered_at IS NOT NULL) FROM outbox", as: Bool.self)
                #expect(allDelivered)
            }
        }
    }

    /// A consumer that keeps refusing a row gets it `maxRejections` times; then it is parked, not lost.
    /// Heads of different aggregates are delivered at once (a slow consumer does
    /// not make the relay wait for each call in turn); an aggregate's rows still
    /// arrive one after another, in order.
    @Test func headsOfDifferentAggregatesAreDeliveredAtOnce() async throws {
        try await withConsumer(refuse: false, delay: .milliseconds(200)) { port, calls in
            try await withRelay(consumerPort: port, deliveryTimeout: .seconds(5)) { relay, outbox, database in
                for aggregate in 0..<8 { try await append(outbox, aggregate: "agg\(aggregate)", count: 1, to: database) }
                try await append(outbox, aggregate: "z", count: 3, to: database)
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await relay.runClientsForTest() }
                    #expect(await relay.relayAll(wait: true) == .init(delivered: 11))
                    relay.stopClientsForTest()
                }
                #expect(calls.mostAtOnce >= 4)
                #expect(calls.all.filter { $0.hasPrefix("z-") } == ["z-0", "z-1", "z-2"])
            }
        }
    }

    /// `outbox-purge` deletes rows delivered before the cut-off, in batches
    /// (12 000 rows: three statements), and keeps rows delivered since and rows
    /// still pending or parked, however old.
    @Test func purgeDeletesOnlyRowsDeliveredBeforeTheCutOff() async throws {
        try await withRelay(consumerPort: 9) { relay, _, database in
            let now = Date()
            func insert(_ count: Int, aggregate: String, createdDaysAgo: Double, delivered: Double?, parked: Bool = false) async throws {
                let created = now.addingTimeInterval(-createdDaysAgo * 86_400)
                let deliveredAt = delivered.map { now.addingTimeInterval(-$0 * 86_400) }
                try await database.client.query(
                    """
                    INSERT INTO outbox (event_id, subscriber, aggregate_id, event_type, payload, created_at, next_attempt_at, delivered_at, parked_at)
                    SELECT gen_random_uuid(), 'workflows', \(aggregate), 'test', '\\x00', \(created), \(created), \(deliveredAt)::timestamptz,
                           CASE WHEN \(parked) THEN \(created) END
                    FROM generate_series(1, \(count))
                    """, logger: TestDatabase.logger)
            }
            try await insert(12_000, aggregate: "old-delivered", createdDaysAgo: 30, delivered: 29)
            try await insert(3, aggregate: "recently-delivered", createdDaysAgo: 30, delivered: 6)
            try await insert(2, aggregate: "old-pending", createdDaysAgo: 30, delivered: nil)
            try await insert(2, aggregate: "old-parked", createdDaysAgo: 30, delivered: nil, parked: true)
            // After rows that stay: the batches walk past them.
            try await insert(1, aggregate: "old-delivered-late", createdDaysAgo: 30, delivered: 29)

            let deleted = try await relay.purge(deliveredBefore: now.addingTimeInterval(-7 * 86_400))
            #expect(deleted == 12_001)
            let left = try await database.scalar(
                "SELECT string_agg(aggregate_id || '=' || n, ',' ORDER BY aggregate_id) FROM (SELECT aggregate_id, count(*) n FROM outbox GROUP BY 1) c",
                as: String.self)
            #expect(left == "old-parked=2,old-pending=2,recently-delivered=3")
            #expect(try await relay.purge(deliveredBefore: now.addingTimeInterval(-7 * 86_400)) == 0)
        }
    }

    /// A RunJob("outbox-purge") with an as_of in the future cuts off at now minus
    /// the retention period, not at the as_of minus it.
    @Test func purgeCutoffNeverPassesNowMinusTheRetention() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let week: TimeInterval = 7 * 86_400
        #expect(OutboxRelay.purgeCutoff(asOf: now.addingTimeInterval(365 * 86_400), now: now, retentionDays: 7) == now - week)
        #expect(OutboxRelay.purgeCutoff(asOf: now - 86_400, now: now, retentionDays: 7) == now - 86_400 - week)
    }

    @Test func aRefusedRowIsParkedAfterTheBudgetAndCanBeRedriven() async throws {
        try await withConsumer(refuse: true) { port, calls in
            try await withRelay(consumerPort: port, maxRejections: 3) { relay, outbox, database in
                try await append(outbox, aggregate: "x", count: 1, to: database)
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await relay.runClientsForTest() }
                    for _ in 0..<20 {
                        await relay.relayAll(wait: true)
                        try await Task.sleep(for: .milliseconds(60))
                    }
                    relay.stopClientsForTest()
                }
                #expect(calls.all.count == 3)
                #expect(try await database.scalar("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL", as: Int.self) == 1)
                let lastError = try await database.scalar("SELECT last_error FROM outbox", as: String.self)
                #expect(lastError.contains("refused"))
                #expect(try await relay.redrive() == 1)
                #expect(try await database.scalar("SELECT count(*) FROM outbox WHERE parked_at IS NULL AND delivered_at IS NULL", as: Int.self) == 1)
            }
        }
    }

    /// A consumer that answers "not yet" (ABORTED: its directory copy lags) more often than
    /// the rejection budget gets the row again with backoff, never parks it, and the
    /// pass goes on with the other aggregates meanwhile (SPEC §11.5).
    @Test func aRowTheConsumerCannotTakeYetIsRetriedNotParked() async throws {
        try await withConsumer(refuse: false, notYet: 5) { port, calls in
            try await withRelay(consumerPort: port, maxRejections: 2) { relay, outbox, database in
                try await append(outbox, aggregate: "lag", count: 1, to: database)
                try await append(outbox, aggregate: "other", count: 3, to: database)
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await relay.runClientsForTest() }
                    for _ in 0..<30 {
                        await relay.relayAll(wait: true)
                        if try await database.scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NULL", as: Int.self) == 0 { break }
                        try await Task.sleep(for: .milliseconds(60))
                    }
                    relay.stopClientsForTest()
                }
                #expect(calls.all.filter { $0 == "lag-0" }.count == 6)   // five "not yet", then taken
                #expect(calls.all.filter { $0.hasPrefix("other-") } == ["other-0", "other-1", "other-2"])
                #expect(try await database.scalar(
                    "SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL AND parked_at IS NULL AND rejections = 0", as: Int.self) == 4)
            }
        }
    }

    /// A parked row holds back the later rows of its aggregate (other aggregates go on),
    /// so after the redrive the consumer gets them in order (SPEC §11.5).
    @Test func aParkedRowHoldsItsAggregateAndTheRedriveKeepsTheOrder() async throws {
        try await withConsumer(refuse: false) { port, calls in
            calls.refused.withLock { $0 = ["x-0"] }
            try await withRelay(consumerPort: port, maxRejections: 2) { relay, outbox, database in
                try await append(outbox, aggregate: "x", count: 2, to: database)
                try await append(outbox, aggregate: "y", count: 1, to: database)
                func relayFor(_ passes: Int) async throws {
                    for _ in 0..<passes {
                        await relay.relayAll(wait: true)
                        try await Task.sleep(for: .milliseconds(60))
                    }
                }
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await relay.runClientsForTest() }
                    try await relayFor(10)
                    #expect(calls.all == ["x-0", "y-0", "x-0"] || calls.all == ["y-0", "x-0", "x-0"], "\(calls.all)")
                    #expect(try await database.scalar("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL", as: Int.self) == 1)
                    // The consumer is fixed; an operator redrives: x-0, then x-1.
                    calls.refused.withLock { $0 = [] }
                    #expect(try await relay.redrive() == 1)
                    try await relayFor(5)
                    relay.stopClientsForTest()
                }
                #expect(calls.all.filter { $0.hasPrefix("x-") } == ["x-0", "x-0", "x-0", "x-1"])
                #expect(try await database.scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NULL", as: Int.self) == 0)
            }
        }
    }

    /// A consumer that is down is retried with growing delays and never parked.
    @Test func anUnreachableConsumerIsRetriedNotParked() async throws {
        // Port 1 on loopback: nothing listens there, every connection is refused.
        try await withRelay(consumerPort: 1, maxRejections: 2) { relay, outbox, database in
            try await append(outbox, aggregate: "y", count: 2, to: database)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await relay.runClientsForTest() }
                for _ in 0..<8 {
                    let report = await relay.relayAll(wait: true)
                    // The deliver-now job learns who could not be reached.
                    #expect(report.delivered == 0)
                    #expect(report.unreachable.keys.sorted() == ["workflows"])
                    try await Task.sleep(for: .milliseconds(60))
                }
                relay.stopClientsForTest()
            }
            #expect(try await database.scalar("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL OR delivered_at IS NOT NULL", as: Int.self) == 0)
            // Only the head of the aggregate is tried while it fails: order is kept.
            #expect(try await database.scalar("SELECT max(attempts) FROM outbox", as: Int.self) >= 3)
            #expect(try await database.scalar("SELECT min(attempts) FROM outbox", as: Int.self) == 0)
        }
    }

    /// While a consumer is down, the background loop leaves it alone until its
    /// backoff is over, even when new rows (new aggregates, due at once) arrive:
    /// otherwise every commit would read its whole backlog again. The deliver-now
    /// job still tries it.
    @Test func anUnreachableConsumerRestsBetweenTries() async throws {
        try await withRelay(consumerPort: 1, backoff: Backoff(baseSeconds: 20, capSeconds: 60)) { relay, outbox, database in
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await relay.runClientsForTest() }
                try await append(outbox, aggregate: "first", count: 1, to: database)
                #expect(await relay.relayAll().unreachable.keys.sorted() == ["workflows"])
                try await append(outbox, aggregate: "second", count: 1, to: database)
                #expect(await relay.relayAll() == .init(resting: ["workflows"]))
                let attempts: PostgresQuery = "SELECT sum(attempts)::int8 FROM outbox"   // 'first' tried once, 'second' not at all
                #expect(try await database.scalar(attempts, as: Int.self) == 1)
                #expect(await relay.relayAll(wait: true).unreachable.keys.sorted() == ["workflows"])
                #expect(try await database.scalar("SELECT attempts FROM outbox WHERE aggregate_id = 'first'", as: Int.self) == 2)
                relay.stopClientsForTest()
            }
        }
    }

    /// The deliver-now job waits for a consumer that is still starting instead of
    /// failing fast, so a caller that settles on it is not left with undelivered rows.
    @Test func deliverNowWaitsForAConsumerThatComesUpLate() async throws {
        // A loopback port that was free a moment ago; the consumer takes it up after the first call.
        var freePort = 0
        try await withConsumer(refuse: false) { port, _ in freePort = port }
        let port = freePort
        try await withRelay(consumerPort: port, deliveryTimeout: .seconds(10)) { relay, outbox, database in
            try await append(outbox, aggregate: "late", count: 2, to: database)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await relay.runClientsForTest() }
                let delivered = AsyncStream<Void>.makeStream()
                group.addTask {
                    try await Task.sleep(for: .milliseconds(700))
                    try await withConsumer(refuse: false, port: port) { _, _ in
                        for await _ in delivered.stream {}   // serve until the relay is done
                    }
                }
                let report = await relay.relayAll(wait: true)
                #expect(report == .init(delivered: 2))
                delivered.continuation.finish()
                relay.stopClientsForTest()
            }
            #expect(try await database.scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL", as: Int.self) == 2)
        }
    }
}
