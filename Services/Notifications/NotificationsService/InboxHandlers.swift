import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// Inbox RPCs. A person reads and marks only their own inbox; admin may name anyone.
extension NotificationsService {
    private func owner(_ requested: String) throws -> String {
        let principal = try Principal.required()
        let person = try Input.text(requested, field: "person_id", max: 32)
        if person.isEmpty || person == principal.personID { return principal.personID }
        guard principal.has(.admin) else { throw DomainError.permissionDenied("you can read only your own inbox") }
        return person
    }

    func listInbox(_ request: Fieldwork_V1_ListInboxRequest) async throws -> Fieldwork_V1_ListInboxResponse {
        let person = try owner(request.personID)
        let page = try Page(request.page)
        let items = try await inbox.items(person: person, unreadOnly: request.unreadOnly, window: try TimeWindow(request.range), page: page)
        let finished = page.finish(items) { String($0.cursor) }
        let unread = try await inbox.unread(person: person)
        return .with {
            $0.items = finished.rows
            $0.page = finished.page
            $0.unread = Int32(unread)
        }
    }

    func unreadCount(_ request: Fieldwork_V1_UnreadCountRequest) async throws -> Fieldwork_V1_UnreadCountResponse {
        let unread = try await inbox.unread(person: try owner(request.personID))
        return .with { $0.unread = Int32(unread) }
    }

    func markRead(_ request: Fieldwork_V1_MarkReadRequest) async throws -> Fieldwork_V1_MarkReadResponse {
        guard !request.itemIds.isEmpty, request.itemIds.count <= 500 else {
            throw DomainError.invalidArgument(field: "item_ids", message: "give 1–500 item ids")
        }
        var ids: [UUID] = []
        for text in request.itemIds {
            guard let id = UUID(uuidString: text) else { throw DomainError.invalidArgument(field: "item_ids", message: "'\(text)' is not an item id") }
            ids.append(id)
        }
        return try await environment.command("MarkRead", requestID: request.requestID) { connection, principal, now in
            var marked: [String] = []
            for try await id in try await connection.query(
                """
                UPDATE inbox_items SET read_at = \(now)
                WHERE person_id = \(principal.personID) AND id = ANY (\(ids)) AND read_at IS NULL RETURNING id
                """, logger: environment.logger).decode(UUID.self) { marked.append(id.uuidString.lowercased()) }
            try await auditRead(marked, principal: principal, at: now, requestID: request.requestID, on: connection)
            return .with { $0.marked = Int32(marked.count) }
        }
    }

    func markAllRead(_ request: Fieldwork_V1_MarkAllReadRequest) async throws -> Fieldwork_V1_MarkReadResponse {
        try await environment.command("MarkAllRead", requestID: request.requestID) { connection, principal, now in
            var marked: [String] = []
            for try await id in try await connection.query(
                "UPDATE inbox_items SET read_at = \(now) WHERE person_id = \(principal.personID) AND read_at IS NULL RETURNING id",
                logger: environment.logger).decode(UUID.self) { marked.append(id.uuidString.lowercased()) }
            try await auditRead(marked, principal: principal, at: now, requestID: request.requestID, on: connection)
            return .with { $0.marked = Int32(marked.count) }
        }
    }

    private func auditRead(_ items: [String], principal: Principal, at now: Date, requestID: String, on connection: PostgresConnection) async throws {
        guard !items.isEmpty else { return }
        try await environment.audit(
            AuditRecord(entityType: "inbox", entityID: principal.personID, action: "mark_read",
                        changes: [.init("read_items", "", items.joined(separator: "|"))]),
            by: principal, at: now, requestID: requestID, on: connection)
    }
}
