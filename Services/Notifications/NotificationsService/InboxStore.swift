import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import PostgresNIO

/// The in-app inbox: items per person, rendered from the event type's template.
struct InboxStore: Sendable {
    let environment: ServiceEnvironment
    var logger: Logger { environment.logger }

    /// Recipients and variables of the events that reach the inbox; returns the
    /// people who got an item (to wake their open streams after the commit).
    @discardableResult
    func notify(for event: Fieldwork_V1_Event, on connection: PostgresConnection) async throws -> [String] {
        switch event.payload {
        case .cardCreated(let card):
            // Every active member of the card's department (from the directory copy).
            let members = try await DirectoryReplica.members(of: card.department, on: connection, logger: logger)
            guard !members.isEmpty else {
                // The copy may lag behind (the directory and the card come from different services):
                // refuse, so the relay retries this event later instead of it reaching nobody.
                throw DomainError.failedPrecondition("no members of department '\(card.department)' in the directory copy yet")
            }
            let dueAt = dayAndTime(card.dueAt.date)
            return try await deliver(event, to: members, variables: [
                "number": card.number, "title": card.title, "description": card.description_p, "department": card.department,
                "customer_name": card.customerName, "due_at": dueAt, "card_id": card.cardID, "request_id": card.requestID,
            ], on: connection)
        case .cardEscalated(let escalation):
            // The head or director the card escalated to; the department's members know already.
            return try await deliver(event, to: escalation.escalatedTo.isEmpty ? [] : [escalation.escalatedTo], variables: [
                "number": escalation.number, "department": escalation.department, "card_id": escalation.cardID,
                "level_name": escalation.level == 1 ? "部门负责人" : "总监",
                "overdue_since": dayAndTime(escalation.overdueSince.date),
            ], on: connection)
        case .requestCompleted(let completed):
            return try await deliver(event, to: [completed.requesterID], variables: [
                "request_id": completed.requestID, "completed_at": dayAndTime(completed.completedAt.date),
            ], on: connection)
        case .approvalStepPending(let pending):
            return try await deliver(event, to: [pending.approverID], variables: [
                "approval_id": pending.approvalID, "subject": pending.subject, "step": String(pending.step + 1),
            ], on: connection)
        case .approvalDecided(let decided):
            return try await deliver(event, to: [decided.submitterID], variables: [
                "approval_id": decided.approvalID, "outcome_name": decided.outcome == "APPROVED" ? "通过" : "驳回",
            ], on: connection)
        default:
            return []
        }
    }

    private func dayAndTime(_ date: Date) -> String {
        environment.calendar.day(of: date).description + " " + Self.clockTime(date, in: environment.calendar.timeZone)
    }

    private func deliver(
        _ event: Fieldwork_V1_Event, to recipients: [String], variables: [String: String], on connection: PostgresConnection
    ) async throws -> [String] {
        // Sorted, so two deliveries lock the same people in the same order.
        let people = Array(Set(recipients.filter { !$0.isEmpty })).sorted()
        guard !people.isEmpty else {
            logger.warning("event has no inbox recipients", metadata: ["event": "\(event.type)", "id": "\(event.id)"])
            return []
        }
        guard let template = try await template(for: event.type, on: connection) else {
            logger.warning("no message template", metadata: ["event": "\(event.type)"])
            return []
        }
        let title = TemplateText.render(template.title, variables)
        let body = TemplateText.render(template.body, variables)
        let link = TemplateText.render(template.link, variables)
        let eventID = UUID(uuidString: event.id)!
        let now = environment.clock.now()
        for person in people {
            // A person's cursors must follow commit order, or a stream resuming "after
            // cursor N" could skip an item that committed late with a lower number:
            // hold the person's lock from taking the number until the commit.
            _ = try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtextextended(\("inbox:" + person), 0))", logger: logger)
            try await connection.query(
                """
                INSERT INTO inbox_items (id, person_id, event_id, event_type, title, body, link, created_at)
                VALUES (\(UUID()), \(person), \(eventID), \(event.type), \(title), \(body), \(link), \(now))
                ON CONFLICT (event_id, person_id) DO NOTHING
                """, logger: logger)
        }
        try await environment.audit(
            AuditRecord(entityType: "event", entityID: event.id, action: "inbox_delivered", changes: [
                .init("recipients", "", people.joined(separator: "|")), .init("title", "", title),
            ]),
            by: try Principal.required(), at: now, requestID: event.id, on: connection)
        return people
    }

    private func template(for eventType: String, on connection: PostgresConnection) async throws -> (title: String, body: String, link: String)? {
        let rows = try await connection.query(
            """
            SELECT title, body, link_template FROM message_templates
            WHERE event_type = \(eventType) AND locale = 'zh-CN' ORDER BY version DESC LIMIT 1
            """, logger: logger)
        for try await row in rows.decode((String, String, String).self) { return row }
        return nil
    }

    static func clockTime(_ date: Date, in zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", parts.hour ?? 0, parts.minute ?? 0)
    }

    // MARK: Reads

    func items(person: String, unreadOnly: Bool, window: TimeWindow, page: Page) async throws -> [Fieldwork_V1_InboxItem] {
        let after = page.after.isEmpty ? 0 : Int64(page.after) ?? -1
        guard after >= 0 else { throw DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued") }
        let rows = try await environment.postgres.query(
            """
            SELECT cursor, id, person_id, event_id, event_type, title, body, link, created_at, read_at FROM inbox_items
            WHERE person_id = \(person) AND cursor > \(after) AND created_at >= \(window.from) AND created_at < \(window.to)
              AND (NOT \(unreadOnly) OR read_at IS NULL)
            ORDER BY cursor LIMIT \(page.limit)
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
            SELECT cursor, id, person_id, event_id, event_type, title, body, link, created_at, read_at FROM inbox_items
            WHERE person_id = \(person) AND cursor > \(cursor) ORDER BY cursor LIMIT \(limit)
            """, logger: logger
        ).decode((Int64, UUID, String, UUID, String, String, String, String, Date, Date?).self) {
            items.append(Self.item(cursor, id, personID, eventID, eventType, title, body, link, created, read))
        }
        return items
    }

    func lastCursor(person: String) async throws -> Int64 {
        for try await cursor in try await environment.postgres.query(
            "SELECT coalesce(max(cursor), 0)::int8 FROM inbox_items WHERE person_id = \(person)", logger: logger
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
