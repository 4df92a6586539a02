import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import Testing

/// SPEC §11.1 and §11.4 against the real notifications executable: what a
/// connection, a call and a database statement may take is advertised and
/// enforced, exceeding it costs the one call, never its neighbours on the
/// connection, and a lost database connection is retryable, never INTERNAL.
@Suite(.serialized) struct OperationLimitsTests {
    final class ItemsPerStream: Sendable {
        let counts = Mutex<[Int: Int]>([:])
        let fifthAnswered = Mutex(false)
    }

    /// Notifications with the directory and `limits`; visits publishes to it alone.
    static func start(_ cluster: Cluster, _ limits: [String: String]) async throws -> Story {
        try cluster.start(.notifications, extra: limits)
        try await cluster.waitUntilServing(.notifications)
        try cluster.start(.visits, extra: ["SUBSCRIBERS": "notifications=127.0.0.1:\(cluster.ports[.notifications]!)"])
        try await cluster.waitUntilServing(.visits)
        let story = try await Story(cluster)
        try await story.importDirectory()
        return story
    }

    /// Before, the server enforced 100 streams per connection without saying so:
    /// a client opening the 101st lost all of them. Now the limit is in SETTINGS
    /// and the client queues the call beyond it until a stream closes; the open
    /// streams stay up.
    @Test func aConnectionCarriesAsManyStreamsAsTheServerAdvertises() async throws {
        try await Cluster.with(createDatabases: [.visits, .notifications]) { cluster in
            let story = try await Self.start(cluster, ["MAX_CONCURRENT_STREAMS": "4"])
            let mk02 = try await story.token("MK02")
            let received = ItemsPerStream()
            try await cluster.withClient(.notifications) { client in
                let notifications = Fieldwork_V1_NotificationsService.Client(wrapping: client)
                let metadata = cluster.metadata(mk02)
                #expect(try await notifications.unreadCount(.init(), metadata: metadata).unread == 0)   // connected, SETTINGS exchanged
                let streams = (0..<4).map { stream in
                    Task {
                        try await notifications.subscribe(.init(), metadata: metadata) { response in
                            for try await _ in response.messages { received.counts.withLock { $0[stream, default: 0] += 1 } }
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(500))
                // Four streams open: a fifth call on this connection waits its turn ...
                // (not with a deadline: grpc-swift-nio-transport 2.9's client asserts in debug builds when a
                // queued stream is cancelled before it opens)
                let fifth = Task {
                    let unread = try await notifications.unreadCount(.init(), metadata: metadata).unread
                    received.fifthAnswered.withLock { $0 = true }
                    return unread
                }
                try await Task.sleep(for: .seconds(1))
                #expect(received.fifthAnswered.withLock { $0 } == false)
                // ... while another connection is served at once ...
                #expect(try await cluster.notifications(mk02) { client, metadata in
                    try await client.unreadCount(.init(), metadata: metadata).unread
                } == 0)
                // ... and the fifth goes through as soon as one stream ends.
                streams[0].cancel()
                #expect(try await fifth.value == 0)
                // The other streams are still alive: each receives the next item.
                _ = try await cluster.notifications(story.admin) { client, metadata in
                    try await client.send(.with {
                        $0.requestID = "limits-1"
                        $0.recipients.personIds = ["MK02"]
                        $0.title = "限流测试"
                        $0.body = "每条流都收到"
                    }, metadata: metadata)
                }
                try await cluster.eventually("the item on the three open streams") {
                    received.counts.withLock { $0 == [1: 1, 2: 1, 3: 1] }
                }
                for stream in streams { stream.cancel() }
                for stream in streams { _ = try? await stream.value }
            }
        }
    }

    /// A message over MAX_MESSAGE_BYTES gets RESOURCE_EXHAUSTED naming the limit
    /// (before: CANCELLED "RST_STREAM error code 8"), and the connection goes on.
    @Test func anOversizedMessageIsRefusedByNameAndTheConnectionGoesOn() async throws {
        try await Cluster.with(createDatabases: [.visits, .notifications]) { cluster in
            let story = try await Self.start(cluster, [:])
            try await cluster.withClient(.notifications) { client in
                let notifications = Fieldwork_V1_NotificationsService.Client(wrapping: client)
                let metadata = cluster.metadata(story.admin)
                for size in [5_000_000, 10_000_000] {
                    let error = await #expect(throws: RPCError.self) {
                        _ = try await notifications.send(.with {
                            $0.requestID = "big-\(size)"
                            $0.recipients.personIds = ["MK02"]
                            $0.title = "大消息"
                            $0.body = String(repeating: "x", count: size)
                        }, metadata: metadata)
                    }
                    #expect(error?.code == .resourceExhausted)
                    #expect(error?.message.contains("MAX_MESSAGE_BYTES") == true && error?.message.contains("4194304") == true, "\(String(describing: error))")
                }
                // Nothing was sent, and the same connection still serves.
                let unread = try await notifications.unreadCount(.with { $0.personID = "MK02" }, metadata: metadata).unread
                #expect(unread == 0)
            }
        }
    }

    /// A unary call that runs past UNARY_DEADLINE_SECONDS ends DEADLINE_EXCEEDED
    /// even when the client set no deadline of its own.
    @Test func aUnaryCallEndsAtTheServersDeadline() async throws {
        try await Cluster.with(createDatabases: [.visits, .notifications]) { cluster in
            let story = try await Self.start(cluster, ["UNARY_DEADLINE_SECONDS": "1"])
            let mk02 = try await story.token("MK02")
            // A migration-like lock holds the inbox for 3 s.
            let lock = Task.detached {
                try cluster.psql(
                    "BEGIN; LOCK TABLE inbox_items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;",
                    database: cluster.database(.notifications))
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(await rpcCode {
                _ = try await cluster.notifications(mk02) { client, metadata in try await client.unreadCount(.init(), metadata: metadata) }
            } == .deadlineExceeded)
            try await lock.value
            #expect(try await cluster.notifications(mk02) { client, metadata in
                try await client.unreadCount(.init(), metadata: metadata).unread
            } == 0)
        }
    }

    /// Holds an exclusive lock on notifications' inbox for `seconds`, as a long migration or a stuck session would.
    static func lockInbox(_ cluster: Cluster, seconds: Int) -> Task<Void, any Error> {
        Task.detached {
            try cluster.psql(
                "BEGIN; LOCK TABLE inbox_items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(\(seconds)); COMMIT;",
                database: cluster.database(.notifications))
        }
    }

    /// PostgreSQL ends a statement past DATABASE_STATEMENT_TIMEOUT_MS: the call gets
    /// DEADLINE_EXCEEDED long before the lock it waited on is released.
    @Test func aStatementPastItsTimeLimitEndsTheCall() async throws {
        try await Cluster.with(createDatabases: [.visits, .notifications]) { cluster in
            let story = try await Self.start(cluster, ["DATABASE_STATEMENT_TIMEOUT_MS": "500"])
            let mk02 = try await story.token("MK02")
            let lock = Self.lockInbox(cluster, seconds: 6)
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            #expect(await rpcCode {
                _ = try await cluster.notifications(mk02) { client, metadata in try await client.unreadCount(.init(), metadata: metadata) }
            } == .deadlineExceeded)
            let waited = ContinuousClock.now - started
            #expect(waited < .seconds(4), "waited \(waited): the statement ran until the lock was released")
            try await lock.value
        }
    }

    /// A call whose database session is terminated (a restart, a failover) gets
    /// UNAVAILABLE, which clients retry; before, INTERNAL. The service goes on.
    @Test func aLostDatabaseConnectionIsUnavailable() async throws {
        try await Cluster.with(createDatabases: [.visits, .notifications]) { cluster in
            let story = try await Self.start(cluster, [:])
            let mk02 = try await story.token("MK02")
            let lock = Self.lockInbox(cluster, seconds: 4)
            try await Task.sleep(for: .milliseconds(300))
            let call = Task {
                await rpcCode {
                    _ = try await cluster.notifications(mk02) { client, metadata in try await client.unreadCount(.init(), metadata: metadata) }
                }
            }
            // The call's session waits on the lock: end it as a server shutdown would (SQLSTATE 57P01).
            try await cluster.eventually("the call waits on the lock") {
                try cluster.scalar(.notifications, """
                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                    """) == "1"
            }
            try cluster.psql("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = '\(cluster.database(.notifications))' AND wait_event_type = 'Lock'
                """)
            #expect(await call.value == .unavailable)
            try await lock.value
            #expect(try await cluster.notifications(mk02) { client, metadata in
                try await client.unreadCount(.init(), metadata: metadata).unread
            } == 0)
        }
    }

    /// SPEC §11.2: each open stream reads the database, so they are bounded per
    /// person (SUBSCRIBE_PER_PERSON) and per replica (SUBSCRIBE_MAX); the excess is
    /// refused by name, and a closed stream frees its place.
    @Test func subscriptionsAreBoundedPerPersonAndPerReplica() async throws {
        try await Cluster.with(createDatabases: [.visits, .notifications]) { cluster in
            let story = try await Self.start(cluster, ["SUBSCRIBE_PER_PERSON": "2", "SUBSCRIBE_MAX": "3"])
            let mk02 = try await story.token("MK02"), e1002 = try await story.token("E1002"), lg02 = try await story.token("LG02")
            @Sendable func hold(_ token: String) -> Task<Void, any Error> {
                Task {
                    try await cluster.notifications(token) { client, metadata in
                        try await client.subscribe(.init(), metadata: metadata) { response in for try await _ in response.messages {} }
                    }
                }
            }
            /// A stream open for a second: nil when it was admitted (and then ended by its deadline).
            @Sendable func refusal(_ token: String) async -> RPCError? {
                do {
                    try await cluster.notifications(token) { client, metadata in
                        var options = CallOptions.defaults
                        options.timeout = .seconds(1)
                        try await client.subscribe(.init(), metadata: metadata, options: options) { response in
                            for try await _ in response.messages {}
                        }
                    }
                    return RPCError(code: .internalError, message: "the stream ended without its deadline")
                } catch let error as RPCError {
                    return error.code == .deadlineExceeded ? nil : error
                } catch {
                    return RPCError(code: .internalError, message: "\(error)")
                }
            }
            let held = [hold(mk02), hold(mk02)]
            try await Task.sleep(for: .milliseconds(500))
            let third = await refusal(mk02)
            #expect(third?.code == .resourceExhausted && third?.message.contains("SUBSCRIBE_PER_PERSON") == true, "\(String(describing: third))")
            let other = hold(e1002)   // another person: admitted, and the replica is full
            try await Task.sleep(for: .milliseconds(500))
            let full = await refusal(lg02)
            #expect(full?.code == .resourceExhausted && full?.message.contains("SUBSCRIBE_MAX") == true, "\(String(describing: full))")
            // One of MK02's streams closes: its place is free again.
            held[0].cancel()
            _ = try? await held[0].value
            try await cluster.eventually("a place for LG02") { await refusal(lg02) == nil }
            for task in [held[1], other] { task.cancel(); _ = try? await task.value }
        }
    }
}
