import FieldworkDomain
import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import Synchronization

/// Delivers outbox rows to each subscriber's `Deliver` RPC after commit.
///
/// - Order: per subscriber and aggregate, only the oldest undelivered row is
///   eligible, so an aggregate's events arrive in the order they were written.
/// - A consumer that cannot be reached (UNAVAILABLE, deadline) is retried for
///   ever, with exponential backoff and jitter: per row, and per consumer in the
///   background loop, which leaves a consumer that is down alone until its next
///   try instead of reading its backlog again after every commit.
/// - A consumer that answers with an error "rejects" the row; after
///   `maxRejections` the row is parked (kept, counted in metrics, logged) so it
///   no longer blocks its aggregate. `RunJob("outbox-redrive")` puts parked
///   rows back in line. Delivered rows are deleted after the retention period
///   (`outbox-purge`); pending and parked rows never are.
/// - One replica relays at a time per subscriber (a transaction-level advisory lock).
final class OutboxRelay: Service, Sendable {
    struct Settings: Sendable {
        var interval: Duration
        var backoff: Backoff
        var maxRejections: Int
        var deliveryTimeout: Duration = .seconds(5)
        /// Calls in flight per subscriber (each to a different aggregate); below a
        /// consumer's default database pool (10), so calls do not queue for connections.
        var concurrency = 8
    }

    private let subscribers: [(Subscriber, GRPCClient<HTTP2ClientTransport.Posix>)]
    private let settings: Settings
    private let postgres: PostgresClient
    private let clock: any FieldworkClock
    private let logger: Logger
    private let signal: WakeSignal
    private let tokens: TokenAuthority
    private let serviceName: String
    private let registry: PrometheusCollectorRegistry
    private let health: HealthState
    /// Service tokens by subscriber: each is addressed to its receiver.
    private let tokenCache = Mutex<[String: (value: String, renewAt: Date)]>([:])
    /// Subscribers found unreachable: consecutive failed passes, and the time before
    /// which the background loop does not try them again.
    private let resting = Mutex<[String: (failures: Int, until: ContinuousClock.Instant)]>([:])

    init(
        serviceName: String, subscribers: [Subscriber], transportSecurity: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext,
        settings: Settings, postgres: PostgresClient,
        clock: any FieldworkClock, logger: Logger, signal: WakeSignal, tokens: TokenAuthority,
        registry: PrometheusCollectorRegistry, health: HealthState
    ) throws {
        self.subscribers = try subscribers.map { subscriber in
            let transport = try HTTP2ClientTransport.Posix(
                target: subscriber.endpoint.grpcTarget,
                transportSecurity: transportSecurity
            )
            return (subscriber, GRPCClient(transport: transport))
        }
        self.serviceName = serviceName
        self.settings = settings
        self.postgres = postgres
        self.clock = clock
        self.logger = logger
        self.signal = signal
        self.tokens = tokens
        self.registry = registry
        self.health = health
    }

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for (_, client) in subscribers {
                group.addTask { try await client.runConnections() }
            }
            await withGracefulShutdownHandler {
                var lastGauge = ContinuousClock.now - .seconds(60)
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    guard self.health.isMigrated else {
                        try? await Task.sleep(for: .milliseconds(100))
                        continue
                    }
                    _ = await self.relayAll()
                    if ContinuousClock.now - lastGauge > .seconds(5) {
                        await self.updateGauges()
                        lastGauge = .now
                    }
                    await self.signal.wait(timeout: self.settings.interval)
                }
            } onGracefulShutdown: {
                self.signal.wake()
            }
            // Flush what the last RPCs committed before the process goes.
            if health.isMigrated { _ = await relayAll() }
            for (_, client) in subscribers { client.beginGracefulShutdown() }
        }
    }

    /// What one `relayAll` did: rows delivered, and the subscribers it could not reach.
    struct Report: Sendable, Equatable {
        var delivered = 0
        var unreachable: [String: String] = [:]   // subscriber → last error
        var resting: [String] = []                // subscribers left alone this time (down, waiting out their backoff)
    }

    /// Delivers everything due now. With `wait` (the `outbox-relay` job: "deliver
    /// now"), a pass waits for another replica's (or the background loop's) pass
    /// instead of skipping, rows waiting out an unreachable consumer's backoff are
    /// tried at once, and a call waits for its consumer's connection (up to the
    /// delivery timeout) instead of failing fast, so the job returns after a full
    /// flush or names who could not be reached. Refused rows keep their backoff
    /// (they count toward parking).
    @discardableResult
    func relayAll(wait: Bool = false) async -> Report {
        let now = ContinuousClock.now
        let resting = wait ? [] : self.resting.withLock { $0.filter { $0.value.until > now }.keys.sorted() }
        // Subscribers are independent (own rows, own lock): a slow one must not hold up the others.
        var report = await withTaskGroup(of: (String, Pass).self) { group in
            for (subscriber, client) in subscribers where !resting.contains(subscriber.name) {
                group.addTask {
                    var total = Pass()
                    // Keep going while progress is made: each pass moves every aggregate one row on.
                    while true {
                        do {
                            let pass = try await self.pass(subscriber: subscriber, client: client, wait: wait)
                            total.delivered += pass.delivered
                            total.unreachable = pass.unreachable
                            total.answered = total.answered || pass.answered
                            if pass.delivered == 0 || pass.unreachable != nil { break }
                        } catch {
                            self.logger.warning("outbox relay pass failed", metadata: ["subscriber": "\(subscriber.name)", "error": "\(error)"])
                            break
                        }
                    }
                    self.rest(subscriber.name, after: total)
                    return (subscriber.name, total)
                }
            }
            return await group.reduce(into: Report()) { report, result in
                report.delivered += result.1.delivered
                if let error = result.1.unreachable { report.unreachable[result.0] = error }
            }
        }
        report.resting = resting
        return report
    }

    /// After a subscriber's passes: one that could not be reached rests for the
    /// backoff of its consecutive failures; one that answered a call (accepted or
    /// refused) is tried on every wake again. Passes that made no call (nothing
    /// due, another replica's turn) change nothing, so a subscriber that stays
    /// down rests longer and longer.
    private func rest(_ subscriber: String, after pass: Pass) {
        resting.withLock { resting in
            if pass.unreachable != nil {
                let failures = (resting[subscriber]?.failures ?? 0) + 1
                resting[subscriber] = (failures, .now + .seconds(settings.backoff.delay(attempt: failures - 1)))
            } else if pass.answered {
                resting[subscriber] = nil
            }
        }
    }

    private struct Pass {
        var delivered = 0
        var unreachable: String?
        /// The subscriber answered at least one call (accepted or refused).
        var answered = false
    }

    /// Runs the subscriber clients' connections without the relay loop (tests drive `relayAll` by hand).
    func runClientsForTest() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for (_, client) in subscribers { group.addTask { try await client.runConnections() } }
        }
    }

    func stopClientsForTest() {
        for (_, client) in subscribers { client.beginGracefulShutdown() }
    }

    /// Puts parked rows back in line; the `outbox-redrive` job.
    func redrive() async throws -> Int {
        let rows = try await postgres.query(
            """
            UPDATE outbox SET parked_at = NULL, rejections = 0, next_attempt_at = \(clock.now())
            WHERE parked_at IS NOT NULL RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        signal.wake()
        return count
    }

    /// What `outbox-purge` run for `asOf` deletes: rows delivered more than the
    /// retention period before it, where a future `asOf` (a RunJob) counts as now,
    /// so no call deletes rows still inside the retention period.
    static func purgeCutoff(asOf: Date, now: Date, retentionDays: Int) -> Date {
        min(asOf, now).addingTimeInterval(-Double(retentionDays) * 86_400)
    }

    /// Deletes the rows delivered before `cutoff`, 5 000 at a time so that no
    /// statement runs long or locks many rows; the `outbox-purge` job. Pending
    /// and parked rows stay, however old.
    ///
    /// Each batch starts after the last id the previous one deleted, so the
    /// primary key is walked once instead of from its start per batch; a row
    /// another replica is deleting is skipped, not waited for.
    func purge(deliveredBefore cutoff: Date) async throws -> Int {
        var total = 0
        var after: Int64 = 0
        while true {
            var deleted = 0
            var last: Int64?
            let rows = try await postgres.query(
                """
                WITH gone AS (
                    DELETE FROM outbox WHERE id IN (
                        SELECT id FROM outbox WHERE id > \(after) AND delivered_at < \(cutoff)
                        ORDER BY id LIMIT 5000 FOR UPDATE SKIP LOCKED)
                    RETURNING id
                ) SELECT count(*)::int8, max(id) FROM gone
                """, logger: logger)
            for try await (count, maxID) in rows.decode((Int64, Int64?).self) { (deleted, last) = (Int(count), maxID) }
            total += deleted
            guard deleted == 5000, let last else { return total }
            after = last
        }
    }

    private struct Row {
        var id: Int64
        var eventID: UUID
        var payload: [UInt8]
        var attempts: Int
        var rejections: Int
    }

    private func pass(subscriber: Subscriber, client: GRPCClient<HTTP2ClientTransport.Posix>, wait: Bool) async throws -> Pass {
        let now = clock.now()
        // Receivers check a token's lifetime against the wall clock, also under a simulated business clock.
        let token = try await serviceToken(to: subscriber.name, now: Date())
        return try await postgres.withTransaction(logger: logger) { connection in
            // The pass waits on its deliveries (up to 100 rows, 5 s each, 8 at a time) with the
            // transaction open: the pool's idle-in-transaction limit must not end it meanwhile.
            try await connection.query("SET LOCAL idle_in_transaction_session_timeout = 0", logger: logger)
            let lockKey = "fieldwork-relay:" + subscriber.name
            var locked = false
            let lock: PostgresQuery = wait
                ? "SELECT true FROM (SELECT pg_advisory_xact_lock(hashtextextended(\(lockKey), 0))) locked"
                : "SELECT pg_try_advisory_xact_lock(hashtextextended(\(lockKey), 0))"
            for try await value in try await connection.query(lock, logger: logger).decode(Bool.self) { locked = value }
            guard locked else { return Pass() }

            // The oldest due rows that head their aggregate (no earlier row of it
            // still pending or parked): a walk of `outbox_due` that stops at the batch size.
            var due: [Row] = []
            let rows = try await connection.query(
                """
                SELECT id, event_id, payload, attempts, rejections FROM outbox o
                WHERE subscriber = \(subscriber.name) AND delivered_at IS NULL AND parked_at IS NULL
                  AND (next_attempt_at <= \(now) OR (\(wait) AND rejections = 0))
                  AND NOT EXISTS (
                      SELECT FROM outbox earlier
                      WHERE earlier.subscriber = o.subscriber AND earlier.aggregate_id = o.aggregate_id AND earlier.id < o.id
                        AND earlier.delivered_at IS NULL AND earlier.parked_at IS NULL)
                  -- A parked earlier row holds the aggregate until it is redriven: a redrive keeps the order.
                  AND NOT EXISTS (
                      SELECT FROM outbox parked
                      WHERE parked.subscriber = o.subscriber AND parked.aggregate_id = o.aggregate_id AND parked.id < o.id
                        AND parked.delivered_at IS NULL AND parked.parked_at IS NOT NULL)
                ORDER BY id LIMIT 100
                """, logger: logger)
            for try await (id, eventID, payload, attempts, rejections) in rows.decode((Int64, UUID, ByteBuffer, Int, Int).self) {
                due.append(Row(id: id, eventID: eventID, payload: Array(payload.readableBytesView), attempts: attempts, rejections: rejections))
            }

            // Delivered rows are marked in one statement when the pass ends (or stops
            // early); the transaction commits both together, so nothing changes for a
            // crash mid-pass: the rows are delivered again and the consumers' inboxes drop them.
            var delivered: [Int64] = []
            func markDelivered() async throws {
                guard !delivered.isEmpty else { return }
                try await connection.query(
                    "UPDATE outbox SET delivered_at = \(clock.now()), attempts = attempts + 1, last_error = NULL WHERE id = ANY(\(delivered))",
                    logger: logger)
            }
            // A pass's rows are the heads of distinct aggregates, so they may be delivered at
            // once (up to `concurrency` calls in flight) without breaking an aggregate's order.
            // One sequential call at a time capped a subscriber at one over the call's latency.
            let outcomes = await deliverAll(due, to: subscriber, client: client, token: token, waitForReady: wait)
            var unreachable: String?
            var answered = false
            for (row, (outcome, elapsed)) in zip(due, outcomes) {
                switch outcome {
                case .delivered:
                    delivered.append(row.id)
                    answered = true
                case .unreachable(let error):
                    let retryAt = try await retryLater(row, error: error, on: connection)
                    logger.debug("subscriber unreachable", metadata: ["subscriber": "\(subscriber.name)", "retry_at": "\(retryAt)"])
                    unreachable = unreachable ?? error
                case .deferred(let error):
                    // "Not yet" (e.g. the consumer's directory copy lags): retried with backoff, never parked.
                    answered = true
                    let retryAt = try await retryLater(row, error: error, on: connection)
                    logger.info("subscriber deferred event", metadata: [
                        "subscriber": "\(subscriber.name)", "event_id": "\(row.eventID)", "error": "\(error)", "retry_at": "\(retryAt)",
                    ])
                case .rejected(let error):
                    answered = true
                    let park = row.rejections + 1 >= settings.maxRejections
                    let retryAt = clock.now().addingTimeInterval(settings.backoff.delay(attempt: row.attempts))
                    try await connection.query(
                        """
                        UPDATE outbox SET attempts = attempts + 1, rejections = rejections + 1, next_attempt_at = \(retryAt),
                            last_error = \(error), parked_at = CASE WHEN \(park) THEN \(clock.now()) ELSE NULL END
                        WHERE id = \(row.id)
                        """, logger: logger)
                    let level: Logger.Level = park ? .error : .warning
                    logger.log(level: level, park ? "outbox row parked" : "subscriber rejected event", metadata: [
                        "subscriber": "\(subscriber.name)", "event_id": "\(row.eventID)", "error": "\(error)",
                        "elapsed_ms": "\(elapsed.milliseconds)",
                    ])
                case .notTried:
                    break
                }
            }
            try await markDelivered()
            return Pass(delivered: delivered.count, unreachable: unreachable, answered: answered)
        }
    }

    /// Puts `row` back for another try after its backoff, without counting a refusal; returns when.
    private func retryLater(_ row: Row, error: String, on connection: PostgresConnection) async throws -> Date {
        let retryAt = clock.now().addingTimeInterval(settings.backoff.delay(attempt: row.attempts))
        try await connection.query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = \(retryAt), last_error = \(error) WHERE id = \(row.id)",
            logger: logger)
        return retryAt
    }

    /// `deferred`: the consumer answered ABORTED, "not yet, try again later": the row is
    /// retried with backoff without counting toward parking, and the pass goes on.
    /// `notTried`: not sent, because the subscriber was found unreachable first.
    private enum Outcome: Sendable { case delivered, unreachable(String), deferred(String), rejected(String), notTried }

    /// Delivers `rows` with up to `settings.concurrency` calls in flight; their
    /// outcomes and call durations, in the rows' order. Once a call finds the
    /// subscriber unreachable no more are started: the rest would fail the same way.
    private func deliverAll(
        _ rows: [Row], to subscriber: Subscriber, client: GRPCClient<HTTP2ClientTransport.Posix>, token: String, waitForReady: Bool
    ) async -> [(Outcome, Duration)] {
        await withTaskGroup(of: (Int, Outcome, Duration).self) { group in
            var outcomes = [(Outcome, Duration)](repeating: (.notTried, .zero), count: rows.count)
            var next = 0
            func start() {
                let index = next
                next += 1
                group.addTask {
                    let started = ContinuousClock.now
                    let outcome = await self.deliver(rows[index], to: subscriber, client: client, token: token, waitForReady: waitForReady)
                    return (index, outcome, ContinuousClock.now - started)
                }
            }
            while next < min(settings.concurrency, rows.count) { start() }
            var reachable = true
            for await (index, outcome, elapsed) in group {
                outcomes[index] = (outcome, elapsed)
                if case .unreachable = outcome { reachable = false }
                if reachable, next < rows.count { start() }
            }
            return outcomes
        }
    }

    private func deliver(
        _ row: Row, to subscriber: Subscriber, client: GRPCClient<HTTP2ClientTransport.Posix>, token: String, waitForReady: Bool
    ) async -> Outcome {
        do {
            let event = try Fieldwork_V1_Event(serializedBytes: row.payload)
            var options = CallOptions.defaults
            options.timeout = settings.deliveryTimeout
            // A consumer that is starting or reconnecting is waited for, within the timeout.
            options.waitForReady = waitForReady
            _ = try await client.unary(
                request: ClientRequest(message: Fieldwork_V1_DeliverRequest.with { $0.event = event },
                                       metadata: ["authorization": "Bearer \(token)", "x-request-id": "relay-\(row.eventID)"]),
                descriptor: MethodDescriptor(fullyQualifiedService: subscriber.grpcService, method: "Deliver"),
                serializer: ProtobufSerializer<Fieldwork_V1_DeliverRequest>(),
                deserializer: ProtobufDeserializer<Fieldwork_V1_DeliverResponse>(),
                options: options
            ) { response in try response.message }
            return .delivered
        } catch let error as RPCError {
            switch error.code {
            case .unavailable, .deadlineExceeded, .cancelled, .resourceExhausted:
                return .unreachable("\(error.code): \(error.message)")
            case .aborted:
                return .deferred("\(error.code): \(error.message)")
            default:
                return .rejected("\(error.code): \(error.message)")
            }
        } catch {
            return .rejected("\(error)")
        }
    }

    /// A `service`-role token for Deliver calls to `subscriber`, renewed well before it expires.
    private func serviceToken(to subscriber: String, now: Date) async throws -> String {
        if let cached = tokenCache.withLock({ $0[subscriber] }), cached.renewAt > now { return cached.value }
        let value = try await tokens.serviceToken(to: subscriber, validFor: 3600, now: now)
        tokenCache.withLock { $0[subscriber] = (value, now.addingTimeInterval(600)) }
        return value
    }

    /// Pending and parked rows per subscriber, counted through the partial
    /// indexes: delivered rows, which stay in the table, are never read.
    private func updateGauges() async {
        do {
            let rows = try await postgres.query(
                """
                SELECT subscriber, sum(pending)::bigint, sum(parked)::bigint FROM (
                    SELECT subscriber, count(*) AS pending, 0 AS parked FROM outbox
                    WHERE delivered_at IS NULL AND parked_at IS NULL GROUP BY subscriber
                    UNION ALL
                    SELECT subscriber, 0, count(*) FROM outbox
                    WHERE delivered_at IS NULL AND parked_at IS NOT NULL GROUP BY subscriber
                ) counts GROUP BY subscriber
                """, logger: logger)
            var seen = Set<String>()
            for try await (subscriber, pending, parked) in rows.decode((String, Int, Int).self) {
                seen.insert(subscriber)
                registry.makeGauge(descriptor: MetricNames.outboxPending, labels: [("subscriber", subscriber)]).set(Int64(pending))
                registry.makeGauge(descriptor: MetricNames.outboxParked, labels: [("subscriber", subscriber)]).set(Int64(parked))
            }
            for (subscriber, _) in subscribers where !seen.contains(subscriber.name) {
                registry.makeGauge(descriptor: MetricNames.outboxPending, labels: [("subscriber", subscriber.name)]).set(Int64(0))
                registry.makeGauge(descriptor: MetricNames.outboxParked, labels: [("subscriber", subscriber.name)]).set(Int64(0))
            }
        } catch {
            logger.debug("outbox gauge update failed", metadata: ["error": "\(error)"])
        }
    }
}
