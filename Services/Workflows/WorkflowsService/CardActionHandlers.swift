import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO
import SwiftProtobuf

/// Changes to a card (SPEC §3.1, §3.4): acknowledge, notes, assignment and
/// status. Each runs in one transaction with the card row locked, adds a
/// timeline entry and an audit entry, and counts as the first response when
/// the actor belongs to the card's department.
extension WorkflowsService {
    func acknowledgeCard(_ request: Fieldwork_V1_AcknowledgeCardRequest) async throws -> Fieldwork_V1_Card {
        try await changeCard("AcknowledgeCard", requestID: request.requestID, cardKey: request.cardID) { card, connection, principal, now in
            guard card.mayAct(principal) else { throw Self.notOfDepartment(card) }
            try await store.recordTimeline(card: card.id, at: now, actor: principal.personID, kind: "acknowledged", text: "", on: connection)
            try await environment.audit(
                AuditRecord(entityType: "card", entityID: card.entityID, action: "acknowledge"),
                by: principal, at: now, requestID: request.requestID, on: connection)
            try await store.noteResponse(to: card, by: principal, at: now, on: connection)
        }
    }

    func addNote(_ request: Fieldwork_V1_AddNoteRequest) async throws -> Fieldwork_V1_Card {
        let text = try Input.text(request.text, field: "text", max: 4000, required: true)
        return try await changeCard("AddNote", requestID: request.requestID, cardKey: request.cardID) { card, connection, principal, now in
            // The requesting rep may add a note (a question, a change of date); only the department's notes answer the card.
            guard card.mayAct(principal) || card.requesterID == principal.personID else { throw Self.notOfDepartment(card) }
            try await store.recordTimeline(card: card.id, at: now, actor: principal.personID, kind: "note", text: text, on: connection)
            try await environment.audit(
                AuditRecord(entityType: "card", entityID: card.entityID, action: "note", changes: [.init("note", "", text)]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            try await store.noteResponse(to: card, by: principal, at: now, on: connection)
        }
    }

    func assignCard(_ request: Fieldwork_V1_AssignCardRequest) async throws -> Fieldwork_V1_Card {
        let assignee = try Input.text(request.assigneeID, field: "assignee_id", max: 64)
        return try await changeCard("AssignCard", requestID: request.requestID, cardKey: request.cardID) { card, connection, principal, now in
            guard card.mayAct(principal) else { throw Self.notOfDepartment(card) }
            if !assignee.isEmpty {
                let members = try await DirectoryReplica.members(of: card.department, on: connection, logger: environment.logger)
                guard members.contains(assignee) else {
                    throw DomainError.invalidArgument(field: "assignee_id", message: "'\(assignee)' is not an active member of \(card.department)")
                }
            }
            guard assignee != card.assigneeID else { return }
            let change = AuditRecord.Change("assignee_id", card.assigneeID, assignee)
            try await connection.query(
                "UPDATE cards SET assignee_id = \(assignee), updated_at = \(now) WHERE id = \(card.id)", logger: environment.logger)
            try await store.recordTimeline(
                card: card.id, at: now, actor: principal.personID, kind: "assigned", text: assignee.isEmpty ? "unassigned" : assignee,
                changes: [change], on: connection)
            try await environment.audit(
                AuditRecord(entityType: "card", entityID: card.entityID, action: "assign", changes: [change]),
                by: principal, at: now, requestID: request.requestID, on: connection)
        }
    }

    func setCardStatus(_ request: Fieldwork_V1_SetCardStatusRequest) async throws -> Fieldwork_V1_Card {
        guard let target = CardStatus(rawValue: request.status.stored) else {
            throw DomainError.invalidArgument(field: "status", message: "is required (IN_PROGRESS, DONE or CANCELLED)")
        }
        let reason = try Input.text(request.reason, field: "reason", max: 1000, required: target == .cancelled)
        return try await changeCard("SetCardStatus", requestID: request.requestID, cardKey: request.cardID) { card, connection, principal, now in
            guard card.mayAct(principal) else { throw Self.notOfDepartment(card) }
            let next = try card.status.moving(to: target)
            let change = AuditRecord.Change("status", card.status.rawValue, next.rawValue)
            try await connection.query(
                """
                UPDATE cards SET status = \(next.rawValue), updated_at = \(now),
                    next_escalation_at = CASE WHEN \(next.isClosed) THEN NULL ELSE next_escalation_at END
                WHERE id = \(card.id)
                """, logger: environment.logger)
            try await store.recordTimeline(
                card: card.id, at: now, actor: principal.personID, kind: "status", text: reason, changes: [change], on: connection)
            try await environment.audit(
                AuditRecord(entityType: "card", entityID: card.entityID, action: "status", changes: [change], reason: reason),
                by: principal, at: now, requestID: request.requestID, on: connection)
            try await store.noteResponse(to: card, by: principal, at: now, on: connection)
            try await environment.publish(.cardStatusChanged(.with {
                $0.cardID = card.entityID
                $0.number = card.number
                $0.department = card.department
                $0.fromStatus = card.status.rawValue
                $0.toStatus = next.rawValue
                $0.actorID = principal.personID
            }), aggregateID: "card:\(card.entityID)", at: now, on: connection)
            if next.isClosed {
                try await store.completeRequestIfFinished(
                    card.requestID, by: principal, at: now, clientRequestID: request.requestID, on: connection)
            }
        }
    }

    func cardTimeline(_ request: Fieldwork_V1_CardTimelineRequest) async throws -> Fieldwork_V1_CardTimelineResponse {
        let card = try await getCard(.with { $0.id = request.cardID })   // visibility as GetCard
        let page = try Page(request.page)
        let after = try page.sequenceKey() ?? 0
        let rows = try await environment.postgres.query(
            """
            SELECT seq, at, actor_id, kind, text, changes::text FROM card_timeline
            WHERE card_id = \(UUID(uuidString: card.id)) AND seq > \(after) ORDER BY seq LIMIT \(page.limit)
            """, logger: environment.logger)
        var entries: [(Int64, Fieldwork_V1_TimelineEntry)] = []
        for try await (seq, at, actor, kind, text, changes) in rows.decode((Int64, Date, String, String, String, String).self) {
            let decoded = (try? JSONDecoder().decode([AuditRecord.Change].self, from: Data(changes.utf8))) ?? []
            entries.append((seq, .with {
                $0.at = .init(at)
                $0.actorID = actor
                $0.kind = kind
                $0.text = text
                $0.changes = decoded.map { change in .with { $0.field = change.field; $0.before = change.before; $0.after = change.after } }
            }))
        }
        let finished = page.finish(entries) { String($0.0) }
        return .with { $0.entries = finished.rows.map(\.1); $0.page = finished.page }
    }

    /// The frame every card change shares: validate the key, lock the card, refuse
    /// changes to a closed card, apply, and answer with the card as committed.
    func changeCard(
        _ method: String, requestID: String, cardKey: String,
        _ apply: (CardStore.LockedCard, PostgresConnection, Principal, Date) async throws -> Void
    ) async throws -> Fieldwork_V1_Card {
        try await withLockedCard(method, requestID: requestID, cardKey: cardKey) { card, connection, principal, now in
            try await apply(card, connection, principal, now)
            return try await store.card(card.id, on: connection)
        }
    }

    func withLockedCard<Response: Message & Sendable>(
        _ method: String, requestID: String, cardKey rawKey: String, field: String = "card_id",
        _ apply: (CardStore.LockedCard, PostgresConnection, Principal, Date) async throws -> Response
    ) async throws -> Response {
        let key = try Input.text(rawKey, field: field, max: 64, required: true)
        return try await environment.command(method, requestID: requestID) { connection, principal, now in
            let card = try await store.lockCard(key, on: connection)
            guard card.mayView(principal) else {
                // Someone who may not see the card learns nothing about it.
                throw DomainError.notFound(entity: "card", id: key)
            }
            guard !card.status.isClosed else {
                throw DomainError.failedPrecondition("card \(card.number) is \(card.status.rawValue) and can no longer change")
            }
            return try await apply(card, connection, principal, now)
        }
    }

    static func notOfDepartment(_ card: CardStore.LockedCard) -> DomainError {
        .permissionDenied("only members of \(card.department) act on card \(card.number)")
    }
}
