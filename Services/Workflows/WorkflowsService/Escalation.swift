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
    func escalate(asOf: Date) async throws -> JobOutcome {
        var escalated = 0
        while true {
            let batch = try await environment.transaction { connection in
                try await escalateBatch(asOf: asOf, on: connection)
            }
            escalated += batch.escalated
            guard batch.moreDue else { break }
        }
        return JobOutcome(items: escalated, summary: "\(escalated) escalation(s) as of \(asOf)")
    }

    /// One batch in one transaction and two statements. The first claims the due
    /// cards, raises their level, finds whom each level goes to, and writes the
    /// timeline and audit entries, all in SQL (data-modifying CTEs), so no
    /// per-card values travel to Swift and back; the second writes the events,
    /// whose protobuf payloads are built here. The escalation test reads the
    /// timeline and audit entries back through the RPCs.
    ///
    /// `moreDue`: another batch may find work — more cards were due than one batch
    /// takes, or a card was found so long overdue that it already owes its next level.
    private func escalateBatch(asOf: Date, on connection: PostgresConnection) async throws -> (escalated: Int, moreDue: Bool) {
        let step = Double(ladder.stepHours) * 3600
        let principal = Principal.job("escalation")
        let now = environment.clock.now()
        // The claim joins on ctid: the row just locked, without a second primary-key lookup per card.
        let rows = try await connection.query(
            """
            WITH due AS (
                SELECT ctid FROM cards WHERE next_escalation_at <= \(asOf)
                ORDER BY next_escalation_at LIMIT \(escalationBatch)
                FOR UPDATE SKIP LOCKED
            ), raised AS (
                UPDATE cards c SET escalation_level = c.escalation_level + 1, escalated_at = \(asOf), updated_at = \(now),
                    next_escalation_at = CASE WHEN c.escalation_level + 1 < \(EscalationLadder.topLevel)
                                              THEN c.due_at + make_interval(secs => \(step) * (c.escalation_level + 1)) END
                FROM due WHERE c.ctid = due.ctid
                RETURNING c.id, c.number, c.department, c.escalation_level AS level,
                          -- the moment this level fell due: the SLA's end for the head, one step later for the director
                          c.due_at + make_interval(secs => \(step) * (c.escalation_level - 1)) AS overdue_since,
                          coalesce(c.next_escalation_at <= \(asOf), false) AS owes_next
            ), targets AS (
                -- Level 1: the department's head. Level 2: the head's supervisor when that person is a
                -- director, otherwise the first active director. Empty when the directory copy has nobody.
                SELECT w.department, w.level, coalesce(CASE WHEN w.level = 1 THEN d.head_person_id ELSE coalesce(
                    (SELECT s.id FROM directory_people h JOIN directory_people s ON s.id = h.supervisor_id
                     WHERE h.id = d.head_person_id AND s.active AND 'director' = ANY (s.roles)),
                    (SELECT p.id FROM directory_people p WHERE p.active AND 'director' = ANY (p.roles) ORDER BY p.id LIMIT 1)) END, '') AS target
                FROM (SELECT DISTINCT department, level FROM raised) w
                LEFT JOIN directory_departments d ON d.code = w.department
            ), escalated AS (
                SELECT r.*, t.target, \(unescaped: AuditRecord.changeSQL("escalation_level", before: "(r.level - 1)::text", after: "r.level::text")) AS change
                FROM raised r JOIN targets t USING (department, level)
            ), timeline AS (
                INSERT INTO card_timeline (card_id, at, actor_id, kind, text, changes)
                SELECT id, \(now), \(principal.personID), 'escalated',
                       'no first response since ' || to_char(overdue_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                       || ': escalated to the ' || CASE level WHEN 1 THEN 'department head ' ELSE 'director ' END
                       || CASE target WHEN '' THEN '(none in the directory)' ELSE target END,
                       jsonb_build_array(change)
                FROM escalated
            ), audit AS (
                INSERT INTO audit_log (\(unescaped: AuditLog.columns))
                SELECT gen_random_uuid(), \(now), \(principal.personID), \(principal.primaryRole.rawValue), 'card', id::text, 'escalate',
                       jsonb_build_array(change, \(unescaped: AuditRecord.changeSQL("escalated_to", before: "''", after: "target"))), '', ''
                FROM escalated ORDER BY number
            )
            SELECT id, number, department, level, overdue_since, target,
                   -- the statement's snapshot still shows this batch's cards as due
                   owes_next OR (SELECT count(*) > \(escalationBatch) FROM (
                       SELECT FROM cards WHERE next_escalation_at <= \(asOf) LIMIT \(escalationBatch + 1)) d)
            FROM escalated ORDER BY number
            """, logger: environment.logger)
        var events: [(payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String)] = []
        var moreDue = false
        for try await (id, number, department, level, overdueSince, target, more) in rows.decode(
            (UUID, String, String, Int, Date, String, Bool).self)
        {
            let cardID = id.uuidString.lowercased()
            events.append((.cardEscalated(.with {
                $0.cardID = cardID
                $0.number = number
                $0.department = department
                $0.level = Int32(level)
                $0.escalatedTo = target
                $0.overdueSince = .init(overdueSince)
            }), "card:\(cardID)"))
            moreDue = moreDue || more
        }
        try await environment.outbox.appendAll(events, at: now, on: connection, logger: environment.logger)
        return (events.count, moreDue)
    }
}
