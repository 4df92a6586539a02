@testable import FieldworkRuntime
import Foundation
import PostgresNIO
import Testing

/// SPEC §11.6: consumed event ids and stored answers go after their retention,
/// and nothing younger does.
struct RetentionPurgeTests {
    @Test func eachTableLosesOnlyWhatIsPastItsRetention() async throws {
        try await TestDatabase.with { database in
            try await Migrator.migrate(database.client, [RuntimeSchema.core, RuntimeSchema.retentionOrder], logger: TestDatabase.logger)
            let now = Date()
            func daysAgo(_ days: Double) -> Date { now.addingTimeInterval(-days * 86_400) }
            for (days, count) in [(120.0, 3), (89.0, 2)] {
                for _ in 0..<count {
                    try await database.client.query(
                        "INSERT INTO inbox (event_id, event_type, source, received_at) VALUES (\(UUID()), 'visits.PersonChanged', 'visits', \(daysAgo(days)))",
                        logger: TestDatabase.logger)
                }
            }
            for (index, days) in [45.0, 31.0, 29.0, 1.0].enumerated() {
                try await database.client.query(
                    """
                    INSERT INTO idempotency_keys (method, principal, request_id, response, created_at)
                    VALUES ('CheckIn', 'E1001', \("r\(index)"), '\\x00'::bytea, \(daysAgo(days)))
                    """, logger: TestDatabase.logger)
            }
            let purge = RetentionPurge(inboxDays: 90, idempotencyDays: 30)
            // A run "as of" next year purges only up to now: the future never counts.
            let outcome = try await purge.run(asOf: now.addingTimeInterval(365 * 86_400), now: now, postgres: database.client, logger: TestDatabase.logger)
            #expect(outcome.items == 5)
            #expect(outcome.summary == "deleted 3 consumed event id(s) older than 90 day(s) and 2 stored answer(s) older than 30 day(s)")
            #expect(try await database.scalar("SELECT count(*) FROM inbox", as: Int.self) == 2)
            #expect(try await database.scalar("SELECT string_agg(request_id, ',' ORDER BY request_id) FROM idempotency_keys", as: String.self) == "r2,r3")
            // Again: nothing more to delete.
            #expect(try await purge.run(asOf: now, now: now, postgres: database.client, logger: TestDatabase.logger).items == 0)
        }
    }

    @Test func bigBacklogsGoInBatches() async throws {
        try await TestDatabase.with { database in
            try await Migrator.migrate(database.client, [RuntimeSchema.core, RuntimeSchema.retentionOrder], logger: TestDatabase.logger)
            try await database.client.query(
                """
                INSERT INTO inbox (event_id, event_type, source, received_at)
                SELECT gen_random_uuid(), 'visits.PersonChanged', 'visits', now() - interval '200 days' FROM generate_series(1, 12001)
                """, logger: TestDatabase.logger)
            let deleted = try await RetentionPurge.purge(.inbox, before: Date().addingTimeInterval(-90 * 86_400), postgres: database.client, logger: TestDatabase.logger)
            #expect(deleted == 12_001)
            #expect(try await database.scalar("SELECT count(*) FROM inbox", as: Int.self) == 0)
        }
    }
}
