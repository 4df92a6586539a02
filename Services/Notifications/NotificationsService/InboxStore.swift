import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import PostgresNIO

/// The in-app inbox: items per person.
struct InboxStore: Sendable {
    let environment: ServiceEnvironment
    var logger: Logger { environment.logger }

    func dayAndTime(_ date: Date) -> String {
        environment.calendar.day(of: date).description + " " + Self.clockTime(date, in: environment.calendar.timeZone)
    }

    /// One item per person, at most once per (event, person).
    func insert(
        eventID: UUID, eventType: String, to recipients: Set<String>, title: String, body: String, link: String,
        by principal: Principal, requestID: String, on connection: PostgresConnection
    ) async throws -> [String] {
        // Sorted: a stable order for the rows and the audit entry.
        let people = recipients.filter { !$0.isEmpty }.sorted()
        let now = environment.clock.now()
        let audit = AuditRecord(entityType: "event", entityID: eventID.uuidString.lowercased(), action: "inbox_delivered", changes: [
            .init("recipients", "", people.joined(separator: "|")), .init("title", "", title),
        ])
        let rows = try await connection.execute(
            InsertItems(
                ids: people.map { _ in UUID.timeOrdered() }, people: people, eventID: eventID, eventType: eventType, title: title,
                body: body, link: link, now: now, audit: try AuditEntry(audit, by: principal, requestID: requestID)),
            logger: logger)
        for try await _ in rows {}
        return people
    }

    /// An event's inbox items and their audit entry, in one statement prepared
    /// once per connection: it runs for every event. No lock: a row's cursor is
    /// its transaction's id, and readers see only rows below the horizon
    /// (`visible`), so cursors still follow commit order.
    struct InsertItems: PreparedSQL {
        static let name = "notifications.insert-inbox-items"
        static let sql = Self(ids: [], people: [], eventID: UUID(), eventType: "", title: "", body: "", link: "", now: Date(),
                              audit: .example).query.sql
        var ids: [UUID]       // time-ordered: the primary key takes them on its last pages
        var people: [String]
        var eventID: UUID
        var eventType: String
        var title: String
        var body: String
        var link: String
        var now: Date
        var audit: AuditEntry

        var query: PostgresQuery {
            """
            WITH audited AS (
                INSERT INTO audit_log (\(unescaped: AuditLog.columns))
                VALUES (\(audit.id), \(now), \(audit.actorID), \(audit.actorRole), \(audit.record.entityType),
                        \(audit.record.entityID), \(audit.record.action), \(audit.changesJSON)::jsonb, \(audit.record.reason),
                        \(audit.requestID))
            )
            INSERT INTO inbox_items (id, person_id, event_id, event_type, title, body, link, created_at)
            SELECT i, p, \(eventID), \(eventType), \(title), \(body), \(link), \(now)
            FROM unnest(\(ids)::uuid[], \(people)::text[]) WITH ORDINALITY AS u (i, p, n) ORDER BY n
            ON CONFLICT (event_id, person_id) DO NOTHING
            """
        }
    }

    static func clockTime(_ date: Date, in zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", parts.hour ?? 0, parts.minute ?? 0)
    }

    // MARK: Reads

    /// Rows written by transactions older than every transaction still running:
    /// none of those can commit later with a smaller cursor, so a reader that
    /// hands out cursors only from below this horizon never skips an item.
    static let visible = "xid < pg_snapshot_xmin(pg_current_snapshot())"
    /// The cursor a client sees: the writing transaction's id (one row per person per transaction).
    static let cursorColumn = "xid::text::int8"

    func items(person: String, unreadOnly: Bool, window: TimeWindow, page: Page) async throws -> [Fieldwork_V1_InboxItem] {
        let after = try page.sequenceKey() ?? 0
        let rows = try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.cursorColumn), id, person_id, event_id, event_type, title, body, link, created_at, read_at FROM inbox_items
            WHERE person_id = \(person) AND xid > \(String(after))::xid8 AND \(unescaped: Self.visible)
              AND created_at >= \(window.from) AND created_at < \(window.to) AND (NOT \(unreadOnly) OR read_at IS NULL)
            ORDER BY xid LIMIT \(page.limit)
            """, logger: logger)
        var items: [Fieldwork_V1_InboxItem] = []
        for try await (cursor, id, personID, eventID, eventType, title, body, link, created, read) in rows.decode(
            (Int64, UUID, String, UUID, String, String, String, String, Date, Date?).self)
        {
            items.append(Self.item(cursor, id, personID, eventID, eventType, title, body, link, created, read))
        }
        return items
    }

    /// Items after a cursor, oldest first (for `Subscribe`).
    func items(person: String, after cursor: Int64, limit: Int) async throws -> [Fieldwork_V1_InboxItem] {
        var items: [Fieldwork_V1_InboxItem] = []
        for try await (cursor, id, personID, eventID, eventType, title, body, link, created, read) in try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.cursorColumn), id, person_id, event_id, event_type, title, body, link, created_at, read_at FROM inbox_items
            WHERE person_id = \(person) AND xid > \(String(cursor))::xid8 AND \(unescaped: Self.visible)
            ORDER BY xid LIMIT \(limit)
            """, logger: logger
        ).decode((Int64, UUID, String, UUID, String, String, String, String, Date, Date?).self) {
            items.append(Self.item(cursor, id, personID, eventID, eventType, title, body, link, created, read))
        }
        return items
    }

    func lastCursor(person: String) async throws -> Int64 {
        for try await cursor in try await environment.postgres.query(
            "SELECT coalesce(max(\(unescaped: Self.cursorColumn)), 0)::int8 FROM inbox_items WHERE person_id = \(person) AND \(unescaped: Self.visible)",
            logger: logger
        ).decode(Int64.self) { return cursor }
        return 0
    }

    static func item(
        _ cursor: Int64, _ id: UUID, _ personID: String, _ eventID: UUID, _ eventType: String, _ title: String, _ body: String,
        _ link: String, _ created: Date, _ read: Date?
    ) -> Fieldwork_V1_InboxItem {
        .with {
            $0.cursor = cursor
            $0.id = id.uuidString.lowercased()
            $0.personID = personID
            $0.eventID = eventID.uuidString.lowercased()
            $0.eventType = eventType
            $0.title = title
            $0.body = body
            $0.link = link
            $0.createdAt = .init(created)
            if let read { $0.readAt = .init(read) }
        }
    }

    func unread(person: String) async throws -> Int {
        for try await count in try await environment.postgres.query(
            "SELECT count(*) FROM inbox_items WHERE person_id = \(person) AND read_at IS NULL", logger: logger
        ).decode(Int.self) { return count }
        return 0
    }
}
