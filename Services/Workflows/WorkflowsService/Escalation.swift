import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// The escalation sweep (SPEC §3.4). Every card waiting for its first response
/// carries the moment its next level is due (`next_escalation_at`, indexed);
/// the sweep claims due cards with `FOR UPDATE SKIP LOCKED`, raises the level
/// and moves the moment on in the same transaction. A level therefore fires
/// once however often the job runs, with any number of replicas, and a
/// service that was down fires every overdue level as soon as it is back.
extension WorkflowsService {
    static let escalationBatch = 200

    func escalate(asOf: Date) async throws -> JobOutcome {
        var escalated = 0
        while true {
            let claimed = try await environment.transaction { connection in
                try await escalateBatch(asOf: asOf, on: connection)
            }
            escalated += claimed
            // A card found long overdue may owe its next level too: sweep until nothing is due.
            if claimed == 0 { break }
        }
        return JobOutcome(items: escalated, summary: "\(escalated) escalation(s) as of \(asOf)")
    }

    private func escalateBatch(asOf: Date, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query(
            """
            SELECT id, number, department, escalation_level, due_at, next_escalation_at FROM cards
            WHERE next_escalation_at <= \(asOf)
            ORDER BY next_escalation_at LIMIT \(Self.escalationBatch)
            FOR UPDATE SKIP LOCKED
            """, logger: environment.logger)
        var due: [(id: UUID, number: String, department: String, level: Int, dueAt: Date, overdueSince: Date)] = []
        for try await row in rows.decode((UUID, String, String, Int, Date, Date).self) {
            due.append((row.0, row.1, row.2, row.3, row.4, row.5))
        }
        let principal = Principal.job("escalation")
        let now = environment.clock.now()
        for card in due {
            let level = card.level + 1
            let target = try await escalationTarget(level: level, department: card.department, on: connection)
            let next = ladder.nextDue(after: level, firstResponseDue: card.dueAt)
            try await connection.query(
                """
                UPDATE cards SET escalation_level = \(level), escalated_at = \(asOf), next_escalation_at = \(next), updated_at = \(now)
                WHERE id = \(card.id)
                """, logger: environment.logger)
            let change = AuditRecord.Change("escalation_level", String(card.level), String(level))
            let whom = level == 1 ? "department head" : "director"
            try await store.recordTimeline(
                card: card.id, at: now, actor: principal.personID, kind: "escalated",
                text: "no first response since \(ISO8601DateFormatter().string(from: card.overdueSince)): escalated to the \(whom) \(target.isEmpty ? "(none in the directory)" : target)",
                changes: [change], on: connection)
            try await environment.audit(
                AuditRecord(entityType: "card", entityID: card.id.uuidString.lowercased(), action: "escalate",
                            changes: [change, .init("escalated_to", "", target)]),
                by: principal, at: now, requestID: "", on: connection)
            try await environment.publish(.cardEscalated(.with {
                $0.cardID = card.id.uuidString.lowercased()
                $0.number = card.number
                $0.department = card.department
                $0.level = Int32(level)
                $0.escalatedTo = target
                $0.overdueSince = .init(card.overdueSince)
            }), aggregateID: "card:\(card.id.uuidString.lowercased())", at: now, on: connection)
        }
        return due.count
    }

    /// Level 1: the department's head. Level 2: the head's supervisor when that
    /// person is a director, otherwise the first active director. Empty when the
    /// directory copy has nobody (the card still escalates and says so).
    private func escalationTarget(level: Int, department: String, on connection: PostgresConnection) async throws -> String {
        let rows = try await connection.query(
            """
            SELECT d.head_person_id,
                   (SELECT s.id FROM directory_people h JOIN directory_people s ON s.id = h.supervisor_id
                    WHERE h.id = d.head_person_id AND s.active AND 'director' = ANY (s.roles)),
                   (SELECT p.id FROM directory_people p WHERE p.active AND 'director' = ANY (p.roles) ORDER BY p.id LIMIT 1)
            FROM (SELECT \(department)::text AS code) wanted
            LEFT JOIN directory_departments d ON d.code = wanted.code
            """, logger: environment.logger)
        for try await (head, headsDirector, anyDirector) in rows.decode((String?, String?, String?).self) {
            return level == 1 ? (head ?? "") : (headsDirector ?? anyDirector ?? "")
        }
        return ""
    }
}
