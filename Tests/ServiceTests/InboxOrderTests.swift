@testable import FieldworkRuntime
@testable import NotificationsService
import Foundation
import PostgresNIO
import Testing

/// Inbox cursors follow commit order without locks (migration 105): a reader
/// never sees a row that an older, still-running transaction could be followed
/// by, so a subscriber resuming "after cursor N" cannot skip an item.
@Suite struct InboxOrderTests {
    @Test func aLaterCommitWaitsBehindAnOlderOpenTransaction() async throws {
        try await TestDatabase.with { database in
            try await Migrator.migrate(database.client, NotificationsMigrations.all, logger: TestDatabase.logger)
            let logger = TestDatabase.logger
            func insert(_ title: String, on connection: PostgresConnection) async throws {
                try await connection.query(
                    """
                    INSERT INTO inbox_items (id, person_id, event_id, event_type, title, body, link, created_at)
                    VALUES (gen_random_uuid(), 'MK02', gen_random_uuid(), 'test', \(title), '', '', now())
                    """, logger: logger)
            }
            func visibleTitles() async throws -> [String] {
                var titles: [String] = []
                for try await title in try await database.client.query(
                    "SELECT title FROM inbox_items WHERE person_id = 'MK02' AND \(unescaped: InboxStore.visible) ORDER BY xid", logger: logger
                ).decode(String.self) { titles.append(title) }
                return titles
            }
            try await database.client.withConnection { older in
                try await older.query("BEGIN", logger: logger)
                try await insert("older", on: older)            // takes its transaction id first, commits last
                try await database.client.withConnection { newer in
                    try await insert("newer", on: newer)        // commits at once
                }
                // A reader now must not hand out "newer": "older" could still commit behind it.
                #expect(try await visibleTitles() == [])
                try await older.query("COMMIT", logger: logger)
            }
            #expect(try await visibleTitles() == ["older", "newer"])
        }
    }
}
