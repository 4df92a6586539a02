import Foundation
import Logging
import PostgresNIO

/// Deletes what a service no longer needs from the runtime's growing tables
/// (SPEC §11.6): consumed event ids (`inbox`) and the stored answers of
/// idempotent commands (`idempotency_keys`), each after its retention.
public struct RetentionPurge: Sendable {
    /// A table that only grows, and the column that says how old a row is.
    public enum Table: String, Sendable, CaseIterable {
        case inbox, idempotencyKeys = "idempotency_keys"

        var ageColumn: String { self == .inbox ? "received_at" : "created_at" }
    }

    public var inboxDays: Int
    public var idempotencyDays: Int

    public init(inboxDays: Int, idempotencyDays: Int) {
        self.inboxDays = inboxDays
        self.idempotencyDays = idempotencyDays
    }

    /// The `retention-purge` job: both tables, each before `asOf` (never later than now) minus its retention.
    func run(asOf: Date, now: Date, postgres: PostgresClient, logger: Logger) async throws -> JobOutcome {
        let inbox = try await Self.purge(.inbox, before: OutboxRelay.purgeCutoff(asOf: asOf, now: now, retentionDays: inboxDays),
                                         postgres: postgres, logger: logger)
        let keys = try await Self.purge(
            .idempotencyKeys, before: OutboxRelay.purgeCutoff(asOf: asOf, now: now, retentionDays: idempotencyDays),
            postgres: postgres, logger: logger)
        return JobOutcome(
            items: inbox + keys,
            summary: "deleted \(inbox) consumed event id(s) older than \(inboxDays) day(s) and \(keys) stored answer(s) older than \(idempotencyDays) day(s)")
    }

    /// Deletes `table`'s rows older than `cutoff`, 5 000 at a time through the age
    /// index, skipping rows another replica is deleting; returns how many went.
    static func purge(_ table: Table, before cutoff: Date, postgres: PostgresClient, logger: Logger) async throws -> Int {
        var total = 0
        while true {
            var deleted = 0
            // The table and column names are this enum's own, never input.
            let name = table.rawValue, age = table.ageColumn
            let query: PostgresQuery = """
                WITH gone AS (
                    DELETE FROM \(unescaped: name) WHERE ctid IN (
                        SELECT ctid FROM \(unescaped: name) WHERE \(unescaped: age) < \(cutoff)
                        ORDER BY \(unescaped: age) LIMIT 5000 FOR UPDATE SKIP LOCKED)
                    RETURNING 1
                ) SELECT count(*)::int8 FROM gone
                """
            for try await count in try await postgres.query(query, logger: logger).decode(Int64.self) { deleted = Int(count) }
            total += deleted
            if deleted < 5000 { return total }
        }
    }
}
