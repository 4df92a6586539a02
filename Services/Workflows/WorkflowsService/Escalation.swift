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
    static let escalationBatch = 1000

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

    /// One batch in one transaction, set-based: the claim and the level change are
    /// one UPDATE, and the timeline entries, audit entries and events are one
    /// INSERT each, so a sweep costs a handful of statements, not a few per card.
    private func escalateBatch(asOf: Date, on connection: PostgresConnection) async throws -> Int {
        let step = Double(ladder.stepHours) * 3600
        let rows = try await connection.query(
            """
            WITH due AS (
                SELECT id FROM cards WHERE next_escalation_at <= \(asOf)
                ORDER BY next_escalation_at LIMIT \(Self.escalationBatch)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE cards c SET escalation_level = c.escalation_level + 1, escalated_at = \(asOf), updated_at = \(environment.clock.now()),
                next_escalation_at = CASE WHEN c.escalation_level + 1 < \(EscalationLadder.topLevel)
                                          THEN c.due_at + make_interval(secs => \(step) * (c.escalation_level + 1)) END
            FROM due WHERE c.id = due.id
            RETURNING c.id, c.number, c.department, c.escalation_level, c.due_at
            """, logger: environment.logger)
        var escalated: [(id: UUID, number: String, department: String, level: Int, overdueSince: Date)] = []
        for try await (id, number, department, level, dueAt) in rows.decode((UUID, String, String, Int, Date).self) {
            // The moment this level fell due: the SLA's end for the head, one step later for the director.
            escalated.append((id, number, department, level, dueAt.addingTimeInterval(Double(level - 1) * step)))
        }
        guard !escalated.isEmpty else { return 0 }
        escalated.sort { $0.number < $1.number }

        let principal = Principal.job("escalation")
        let now = environment.clock.now()
        var targets: [String: String] = [:]   // "level/department" → person
        for card in escalated where targets["\(card.level)/\(card.department)"] == nil {
            targets["\(card.level)/\(card.department)"] = try await escalationTarget(level: card.level, department: card.department, on: connection)
        }
        let formatter = ISO8601DateFormatter()
        let encoder = JSONEncoder()   // one for the batch: making one per card cost more than encoding
        var texts: [String] = [], changes: [String] = [], audits: [AuditRecord] = []
        var events: [(payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String)] = []
        for card in escalated {
            let target = targets["\(card.level)/\(card.department)"] ?? ""
            let change = AuditRecord.Change("escalation_level", String(card.level - 1), String(card.level))
            let whom = card.level == 1 ? "department head" : "director"
            texts.append("no first response since \(formatter.string(from: card.overdueSince)): escalated to the \(whom) "
                + (target.isEmpty ? "(none in the directory)" : target))
            changes.append(String(decoding: try encoder.encode([change]), as: UTF8.self))
            let entityID = card.id.uuidString.lowercased()
            audits.append(AuditRecord(entityType: "card", entityID: entityID, action: "escalate", changes: [change, .init("escalated_to", "", target)]))
            events.append((.cardEscalated(.with {
                $0.cardID = entityID
                $0.number = card.number
                $0.department = card.department
                $0.level = Int32(card.level)
                $0.escalatedTo = target
                $0.overdueSince = .init(card.overdueSince)
            }), "card:\(entityID)"))
        }
        try await connection.query(
            """
            INSERT INTO card_timeline (card_id, at, actor_id, kind, text, changes)
            SELECT card, \(now), \(principal.personID), 'escalated', text, changes::jsonb
            FROM unnest(\(escalated.map(\.id))::uuid[], \(texts)::text[], \(changes)::text[]) AS x (card, text, changes)
            """, logger: environment.logger)
        try await AuditLog.appendAll(audits, actor: principal, at: now, on: connection, logger: environment.logger)
        try await environment.outbox.appendAll(events, at: now, on: connection, logger: environment.logger)
        return escalated.count
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
