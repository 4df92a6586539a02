import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import PostgresNIO
import Crypto

/// Deliveries to WeCom robots and webhooks (SPEC §5.2): one row per (source
/// event, channel), claimed under a lease for a post, settled with the
/// receiver's verdict — delivered, retried with backoff and jitter, or
/// dead-lettered after the retry budget. Every attempt is kept.
struct DeliveryStore: Sendable {
    struct Settings: Sendable {
        var maxAttempts: Int
        var backoff: Backoff
        /// WeCom: at most `robotLimit` posts per minute, `robotBurst` at once.
        var robotLimit: Int
        var robotBurst: Int
        /// How long a robot that answered "over the limit" (45009) gets no posts.
        var rateLimitPause: TimeInterval
        /// How long a claimed post may be in flight before another dispatcher may take it over.
        var lease: TimeInterval
    }

    let environment: ServiceEnvironment
    let settings: Settings
    var logger: Logger { environment.logger }

    // MARK: Fan-out

    /// The enabled channels of `kind` that hear a message for these departments
    /// and regions: their own department's or region's, and those set for everyone.
    func channels(
        _ kind: Fieldwork_V1_ChannelKind, departments: [String], regions: [String], on connection: PostgresConnection
    ) async throws -> [String] {
        var ids: [String] = []
        for try await id in try await connection.query(
            """
            SELECT id FROM channels
            WHERE enabled AND kind = \(kind.storedName)
              AND ((department = '' AND region = '') OR department = ANY (\(departments)) OR region = ANY (\(regions)))
            ORDER BY id
            """, logger: logger
        ).decode(String.self) { ids.append(id) }
        return ids
    }

    /// Queues one delivery per channel; a second fan-out of the same event adds nothing.
    func enqueue(
        eventID: UUID, eventType: String, channelIDs: [String], message: OutboundMessage, at now: Date, on connection: PostgresConnection
    ) async throws -> Int {
        guard !channelIDs.isEmpty else { return 0 }
        let rows = try await connection.query(
            """
            INSERT INTO deliveries (id, event_id, event_type, channel_id, kind, title, body, link, next_attempt_at, created_at)
            SELECT gen_random_uuid(), \(eventID), \(eventType), id, kind, \(message.title), \(message.body), \(message.link), \(now), \(now)
            FROM channels WHERE id = ANY (\(channelIDs))
            ON CONFLICT (event_id, channel_id, kind) DO NOTHING
            RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows.decode(UUID.self) { count += 1 }
        return count
    }

    // MARK: Dispatch

    /// Channels with deliveries due now, for the dispatcher to serve.
    func dueChannels(at now: Date, limit: Int) async throws -> [String] {
        var ids: [String] = []
        for try await id in try await environment.postgres.query(
            """
            SELECT DISTINCT d.channel_id FROM deliveries d JOIN channels c ON c.id = d.channel_id
            WHERE d.status = 'PENDING' AND d.next_attempt_at <= \(now) AND (d.leased_until IS NULL OR d.leased_until < \(now))
              AND c.enabled AND (c.busy_until IS NULL OR c.busy_until < \(now))
            LIMIT \(limit)
            """, logger: logger
        ).decode(String.self) { ids.append(id) }
        return ids
    }

    struct Queued: Sendable {
        var id: UUID
        var eventID: UUID
        var eventType: String
        var message: OutboundMessage
        var attempts: Int
        var createdAt: Date
    }

    /// One HTTP post: a single delivery, or a WeCom digest of several.
    struct Post: Sendable {
        var id: UUID
        var channelID: String
        var kind: Fieldwork_V1_ChannelKind
        var url: String
        var deliveries: [Queued]
    }

    enum Claim: Sendable {
        case post(Post)
        /// The robot's bucket is empty until then.
        case paused(until: Date)
        case idle
    }

    /// Claims the next post for a channel: marks the channel busy (one post at a
    /// time, across replicas) and leases the deliveries it carries. A robot spends
    /// a token per post; when more messages wait than it has tokens, they all go
    /// out as one digest.
    func claimPost(channelID: String, at now: Date) async throws -> Claim {
        let postID = UUID()
        let leasedUntil = now.addingTimeInterval(settings.lease)
        return try await environment.postgres.withTransaction(logger: logger) { connection in
            var channel: (kind: String, url: String)?
            for try await row in try await connection.query(
                """
                UPDATE channels SET busy_post = \(postID), busy_until = \(leasedUntil)
                WHERE id = \(channelID) AND enabled AND (busy_until IS NULL OR busy_until < \(now))
                RETURNING kind, url
                """, logger: logger
            ).decode((String, String).self) { channel = row }
            // Disabled, or another replica is posting to it.
            guard let channel, let kind = Fieldwork_V1_ChannelKind(name: channel.kind) else { return .idle }
            func release() async throws {
                try await connection.query("UPDATE channels SET busy_post = NULL, busy_until = NULL WHERE id = \(channelID)", logger: logger)
            }

            var bucket: TokenBucket?
            let bucketKey = Self.bucketKey(url: channel.url)
            if kind == .wecomRobot {
                try await connection.query(
                    """
                    INSERT INTO channel_buckets (bucket_key, tokens, updated_at) VALUES (\(bucketKey), \(Double(settings.robotBurst)), \(now))
                    ON CONFLICT (bucket_key) DO NOTHING
                    """, logger: logger)
                for try await (tokens, updatedAt) in try await connection.query(
                    "SELECT tokens, updated_at FROM channel_buckets WHERE bucket_key = \(bucketKey) FOR UPDATE", logger: logger
                ).decode((Double, Date).self) {
                    bucket = .limiting(settings.robotLimit, perSeconds: 60, burst: settings.robotBurst, tokens: tokens, updatedAt: updatedAt)
                }
                guard let current = bucket else { return .idle }
                if current.available(at: now) < 1 {
                    try await release()
                    return .paused(until: current.nextTokenAt(after: now))
                }
            }

            var queued: [Queued] = []
            for try await (id, eventID, eventType, title, body, link, attempts, createdAt) in try await connection.query(
                """
                SELECT id, event_id, event_type, title, body, link, attempts, created_at FROM deliveries
                WHERE channel_id = \(channelID) AND status = 'PENDING' AND next_attempt_at <= \(now)
                  AND (leased_until IS NULL OR leased_until < \(now))
                ORDER BY seq LIMIT 200 FOR UPDATE SKIP LOCKED
                """, logger: logger
            ).decode((UUID, UUID, String, String, String, String, Int, Date).self) {
                queued.append(Queued(
                    id: id, eventID: eventID, eventType: eventType, message: OutboundMessage(title: title, body: body, link: link),
                    attempts: attempts, createdAt: createdAt))
            }
            guard let first = queued.first else {
                try await release()
                return .idle
            }

            var chosen = [first]
            if var robot = bucket {
                if queued.count > robot.available(at: now) {
                    chosen = Array(queued.prefix(WeComMarkdown.digest(queued.map(\.message)).count))
                }
                _ = robot.take(at: now)
                try await connection.query(
                    "UPDATE channel_buckets SET tokens = \(robot.tokens), updated_at = \(robot.updatedAt) WHERE bucket_key = \(bucketKey)",
                    logger: logger)
            }
            try await connection.query(
                "UPDATE deliveries SET lease_id = \(postID), leased_until = \(leasedUntil) WHERE id = ANY (\(chosen.map(\.id)))",
                logger: logger)
            return .post(Post(id: postID, channelID: channelID, kind: kind, url: channel.url, deliveries: chosen))
        }
    }

    static func bucketKey(url: String) -> String {
        SHA256.hash(data: Data(url.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Records the receiver's verdict on every delivery the post carried — unless
    /// the post's lease ran out and another post took them over — and frees the channel.
    func settle(_ post: Post, verdict: DeliveryVerdict, latencyMilliseconds: Int, at now: Date) async throws {
        let outcome: String
        let status: String
        var counts = true   // a rate limit is the receiver's pace, not the delivery's failure
        switch verdict {
        case .delivered:
            outcome = "delivered"
            status = "DELIVERED"
        case .retry(let reason, let rateLimited):
            outcome = "retry: " + reason
            status = "PENDING"
            counts = !rateLimited
        case .fail(let reason):
            outcome = "failed: " + reason
            status = "DEAD"
        }
        let nextAttempts = post.deliveries.map { now.addingTimeInterval(settings.backoff.delay(attempt: $0.attempts)) }
        let ids = post.deliveries.map(\.id)
        let error = status == "DELIVERED" ? "" : outcome
        try await environment.postgres.withTransaction(logger: logger) { connection in
            var settled: [UUID] = []
            for try await id in try await connection.query(
                """
                UPDATE deliveries d SET
                    attempts = d.attempts + \(counts ? 1 : 0),
                    status = CASE WHEN \(status) = 'PENDING' AND d.attempts + \(counts ? 1 : 0) >= \(settings.maxAttempts) THEN 'DEAD'
                                  ELSE \(status) END,
                    next_attempt_at = u.next_at,
                    lease_id = NULL,
                    leased_until = NULL,
                    last_error = CASE WHEN \(status) = 'DELIVERED' THEN d.last_error ELSE \(error) END,
                    delivered_at = CASE WHEN \(status) = 'DELIVERED' THEN \(now) ELSE NULL END
                FROM unnest(\(ids)::uuid[], \(nextAttempts)::timestamptz[]) AS u(id, next_at)
                WHERE d.id = u.id AND d.lease_id = \(post.id) AND d.status = 'PENDING'
                RETURNING d.id
                """, logger: logger
            ).decode(UUID.self) { settled.append(id) }
            if settled.count < ids.count {
                logger.warning("a post outlived its lease; its deliveries were taken over", metadata: ["post": "\(post.id)"])
            }
            try await connection.query(
                """
                INSERT INTO delivery_attempts (delivery_id, post_id, at, outcome, latency_ms)
                SELECT id, \(post.id), \(now), \(outcome), \(latencyMilliseconds) FROM unnest(\(settled)::uuid[]) AS u(id)
                """, logger: logger)
            try await connection.query(
                "UPDATE channels SET busy_post = NULL, busy_until = NULL WHERE id = \(post.channelID) AND busy_post = \(post.id)",
                logger: logger)
            if case .retry(_, rateLimited: true) = verdict, post.kind == .wecomRobot {
                // The robot says we are over its limit: nothing more for a while.
                try await connection.query(
                    """
                    UPDATE channel_buckets SET tokens = 0, updated_at = \(now.addingTimeInterval(settings.rateLimitPause))
                    WHERE bucket_key = \(Self.bucketKey(url: post.url))
                    """, logger: logger)
            }
            for try await (id, attempts) in try await connection.query(
                "SELECT id, attempts FROM deliveries WHERE id = ANY (\(settled)) AND status = 'DEAD'", logger: logger
            ).decode((UUID, Int).self) {
                logger.warning("delivery dead-lettered", metadata: [
                    "delivery": "\(id)", "channel": "\(post.channelID)", "attempts": "\(attempts)", "outcome": "\(outcome)",
                ])
            }
        }
    }

    // MARK: Operators

    /// Deliveries in queue order, each with its attempts, and its sequence number as the page key.
    func list(status: String, eventID: UUID?, window: TimeWindow, page: Page) async throws -> [(seq: Int64, delivery: Fieldwork_V1_Delivery)] {
        let after = try page.sequenceKey() ?? 0
        var deliveries: [Fieldwork_V1_Delivery] = []
        var seqs: [Int64] = []
        for try await (seq, id, event, channel, kind, state, attempts, next, error) in try await environment.postgres.query(
            """
            SELECT seq, id, event_id, channel_id, kind, status, attempts, next_attempt_at, last_error FROM deliveries
            WHERE (\(status) = '' OR status = \(status)) AND (\(eventID)::uuid IS NULL OR event_id = \(eventID))
              AND created_at >= \(window.from) AND created_at < \(window.to) AND seq > \(after)
            ORDER BY seq LIMIT \(page.limit)
            """, logger: logger
        ).decode((Int64, UUID, UUID, String, String, String, Int32, Date, String).self) {
            seqs.append(seq)
            deliveries.append(.with {
                $0.id = id.uuidString.lowercased()
                $0.eventID = event.uuidString.lowercased()
                $0.recipient = channel
                $0.channel = Fieldwork_V1_ChannelKind(name: kind) ?? .unspecified
                $0.status = Fieldwork_V1_DeliveryStatus(stored: state)
                $0.attempts = attempts
                if state == "PENDING" { $0.nextAttemptAt = .init(next) }
                $0.lastError = error
            })
        }
        let ids = deliveries.compactMap { UUID(uuidString: $0.id) }
        var history: [UUID: [Fieldwork_V1_DeliveryAttempt]] = [:]
        for try await (id, at, outcome, latency) in try await environment.postgres.query(
            "SELECT delivery_id, at, outcome, latency_ms FROM delivery_attempts WHERE delivery_id = ANY (\(ids)) ORDER BY id",
            logger: logger
        ).decode((UUID, Date, String, Int32).self) {
            history[id, default: []].append(.with { $0.at = .init(at); $0.outcome = outcome; $0.latencyMs = latency })
        }
        for index in deliveries.indices {
            deliveries[index].history = history[ids[index]] ?? []
        }
        return Array(zip(seqs, deliveries)).map { (seq: $0, delivery: $1) }
    }
}

extension Fieldwork_V1_DeliveryStatus {
    init(stored: String) {
        switch stored {
        case "PENDING": self = .pending
        case "DELIVERED": self = .delivered
        case "DEAD": self = .dead
        default: self = .unspecified
        }
    }

    var storedName: String {
        switch self {
        case .pending: "PENDING"
        case .delivered: "DELIVERED"
        case .dead: "DEAD"
        default: ""
        }
    }
}
