import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// The objection feedback loop (SPEC §2.7): TOP 3 objection types over a window,
/// current as soon as a visit is submitted, and the weekly digest for marketing.
extension VisitsService {
    func topObjections(_ request: Fieldwork_V1_TopObjectionsRequest) async throws -> Fieldwork_V1_TopObjectionsResponse {
        let now = environment.clock.now()
        var window = try TimeWindow(request.range)
        if !request.hasRange { window = TimeWindow(from: now.addingTimeInterval(-7 * 86400), to: now.addingTimeInterval(1)) }
        // SPEC §8.3: counted over the visits the caller may read, so the example notes are theirs to read too.
        let scope = try await scope(of: try Principal.required())
        let top = try await environment.postgres.withConnection { connection in
            try await objectionCounts(
                scope: scope, window: window, region: try Input.text(request.region, field: "region", max: 32),
                product: try Input.text(request.productID, field: "product_id", max: 32),
                department: try Input.text(request.department, field: "department", max: 32), on: connection)
        }
        return .with { $0.top = top }
    }

    /// The three most frequent objection types among submitted visits, each with
    /// up to three different example notes, the most recently heard first (ties by
    /// text, so the same visits always give the same examples).
    func objectionCounts(
        scope: Scope, window: TimeWindow, region: String, product: String, department: String, on connection: PostgresConnection
    ) async throws -> [Fieldwork_V1_ObjectionCount] {
        let rows = try await connection.query(
            """
            WITH matching AS (
                SELECT v.objection_type AS type, v.checked_out_at AS at, v.record->>'objectionNote' AS note
                FROM visits v JOIN customers c ON c.id = v.customer_id
                WHERE v.status = 'SUBMITTED' AND v.objection_type <> ''
                  AND (\(scope.everyone) OR v.rep_id = ANY (\(scope.people)))
                  AND v.checked_out_at >= \(window.from) AND v.checked_out_at < \(window.to)
                  AND (\(region) = '' OR c.region = \(region))
                  AND (\(product) = '' OR \(product) = ANY (v.product_ids))
                  AND (\(department) = '' OR v.record->>'department' = \(department))
            ),
            top AS (SELECT type, count(*)::int8 AS n FROM matching GROUP BY type ORDER BY n DESC, type LIMIT 3),
            notes AS (SELECT type, note, max(at) AS last FROM matching WHERE coalesce(note, '') <> '' GROUP BY type, note)
            SELECT top.type, top.n, (SELECT (array_agg(notes.note ORDER BY notes.last DESC, notes.note))[1:3] FROM notes WHERE notes.type = top.type)
            FROM top ORDER BY top.n DESC, top.type
            """, logger: environment.logger)
        var top: [Fieldwork_V1_ObjectionCount] = []
        for try await (type, count, notes) in rows.decode((String, Int, [String]?).self) {
            top.append(.with {
                $0.objectionType = type
                $0.count = Int32(count)
                $0.exampleNotes = notes ?? []
            })
        }
        return top
    }

    /// The Monday 08:00 job: last week's TOP 3 as an ObjectionDigest event for
    /// marketing. Keyed by the week, so a re-run publishes nothing new.
    func publishObjectionDigest(asOf: Date) async throws -> JobOutcome {
        let calendar = environment.calendar
        var monday = calendar.day(of: asOf)
        while calendar.isoWeekday(of: calendar.instant(monday, hour: 12)) != 1 { monday = calendar.adding(days: -1, to: monday) }
        let from = calendar.instant(calendar.adding(days: -7, to: monday))
        let to = calendar.instant(monday)
        let week = calendar.adding(days: -7, to: monday)
        return try await environment.transaction { connection in
            var fresh = false
            for try await _ in try await connection.query(
                "INSERT INTO objection_digests (week, published_at) VALUES (\(week.description)::date, \(asOf)) ON CONFLICT DO NOTHING RETURNING week",
                logger: environment.logger) { fresh = true }
            guard fresh else { return JobOutcome(items: 0, summary: "digest for the week of \(week) was already published") }
            let top = try await objectionCounts(
                scope: Scope(everyone: true, people: []), window: TimeWindow(from: from, to: to), region: "", product: "", department: "", on: connection)
            try await environment.publish(.objectionDigest(.with {
                $0.windowFrom = .init(from)
                $0.windowTo = .init(to)
                $0.top = top
            }), aggregateID: "objection-digest", at: asOf, on: connection)
            return JobOutcome(items: top.count, summary: "digest for the week of \(week): \(top.map { "\($0.objectionType) \($0.count)" }.joined(separator: ", "))")
        }
    }
}
