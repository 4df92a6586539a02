import FieldworkProto
import Foundation
import GRPCCore
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// (f) health follows migrations and the database; SIGTERM drains in-flight RPCs and exits 0.
@Suite(.serialized) struct LifecycleTests {
    @Test func healthIsServingOnlyAfterMigrationsRan() async throws {
        // The visits database does not exist yet: the service starts, but cannot migrate.
        try await Cluster.with(createDatabases: [.workflows, .scoring, .notifications]) { cluster in
            try cluster.start(.visits)
            try await cluster.eventually("health answers") { await cluster.health(.visits) != nil }
            #expect(await cluster.health(.visits) == .notServing)
            let story = try await Story(cluster)
            await #expect { try await story.code() } throws: { ($0 as? RPCError)?.code == .unavailable }

            // Watch reports every change: NOT_SERVING now, SERVING once the database exists and migrations ran.
            let seen = Mutex<[Grpc_Health_V1_HealthCheckResponse.ServingStatus]>([])
            let watcher = Task {
                try await cluster.withClient(.visits) { client in
                    try await Grpc_Health_V1_Health.Client(wrapping: client).watch(.init()) { response in
                        for try await message in response.messages {
                            seen.withLock { $0.append(message.status) }
                            if message.status == .serving { return }
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(500))
            #expect(await cluster.health(.visits) == .notServing)
            try cluster.createDatabase(.visits)
            try await cluster.waitUntilServing(.visits)
            try await watcher.value
            #expect(seen.withLock { $0 } == [.notServing, .serving])
            #expect(try cluster.scalar(.visits, "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations") == "1,3,4,5,7,8,100,101,102,103,104,105,106,107")
            #expect(try cluster.scalar(.visits, "SELECT to_regclass('visits') IS NOT NULL") == "t")
            // Every service has the runtime's jobs; the purge finds nothing delivered a week ago here.
            let purge = try await cluster.visits(story.admin) { client, metadata in
                try await client.runJob(.with { $0.name = "outbox-purge" }, metadata: metadata)
            }
            #expect(purge.itemsProcessed == 0 && purge.summary.hasPrefix("deleted 0 outbox row(s)"), "\(purge.summary)")
            let retention = try await cluster.visits(story.admin) { client, metadata in
                try await client.runJob(.with { $0.name = "retention-purge" }, metadata: metadata)
            }
            #expect(retention.summary == "deleted 0 consumed event id(s) older than 90 day(s) and 0 stored answer(s) older than 30 day(s)")
        }
    }

    @Test func sigtermFinishesTheInFlightCallAndExitsZero() async throws {
        try await Cluster.with { cluster in
            // A drain long enough for the import on a busy machine: this test is about finishing, not speed.
            try cluster.start(.visits, extra: ["DRAIN_SECONDS": "120"])
            try await cluster.waitUntilServing(.visits)
            let story = try await Story(cluster)

            // A real slow RPC: importing a few thousand customers in one transaction.
            let rows = 1200
            var csv = "id,name,region,latitude,longitude\n"
            for index in 0..<rows { csv += "H-BULK-\(index),批量医院\(index),杭州,30.\(2000 + index),120.1780\n" }
            let content = Data(csv.utf8)
            let started = ContinuousClock.now
            let call = Task {
                let response = try await cluster.visits(story.admin) { client, metadata in
                    try await client.importCsv(.with { $0.kind = .customers; $0.content = content }, metadata: metadata)
                }
                return (response, ContinuousClock.now)
            }
            try await Task.sleep(for: .milliseconds(400))
            let pid = try #require(cluster.process(.visits)?.processIdentifier)
            let signalled = ContinuousClock.now
            kill(pid, SIGTERM)

            let (response, finished) = try await call.value
            #expect(response.rowsCreated == Int32(rows))
            // The call was in flight when the signal arrived, and it was not cut off.
            #expect(finished > signalled, "import took \(finished - started); raise `rows` if it finishes before the signal")
            #expect(await cluster.stop(.visits, signal: 0) == 0)
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM customers") == String(rows))
            // Stopped means stopped: nothing listens any more.
            #expect(await cluster.health(.visits) == nil)
        }
    }
}
