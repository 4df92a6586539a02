import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// A scoring run (SPEC §4.2): every customer in the directory copy, scored with
/// the current model version on its activity in the window ending on the run's
/// day, stored with the run so history and trends can be read back. The nightly
/// job, `RunScoring` and `RunJob(scoring, as_of)` all come here.
extension ScoringService {
    func runScoring(_ request: Fieldwork_V1_RunScoringRequest) async throws -> Fieldwork_V1_ScoringRun {
        let asOf = request.hasAsOf ? request.asOf.date : environment.clock.now()
        return try await environment.command("RunScoring", requestID: request.requestID) { connection, principal, now in
            try await score(asOf: asOf, by: principal, requestID: request.requestID, on: connection)
        }
    }

    /// The scheduled path: one run per moment, however many replicas fire.
    func scheduledRun(asOf firedAt: Date) async throws -> JobOutcome {
        // Replicas wake a few milliseconds apart: the moment is the minute they fired in.
        let asOf = Date(timeIntervalSince1970: (firedAt.timeIntervalSince1970 / 60).rounded(.down) * 60)
        let run = try await environment.transaction { connection -> Fieldwork_V1_ScoringRun? in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended('scoring-run', 0))", logger: environment.logger)
            for try await _ in try await connection.query(
                "SELECT 1 FROM scoring_runs WHERE as_of = \(asOf)", logger: environment.logger) { return nil }
            return try await score(asOf: asOf, by: .job("scoring"), requestID: "", on: connection)
        }
        guard let run else { return JobOutcome(items: 0, summary: "a run as of \(asOf) exists already") }
        return JobOutcome(items: Int(run.customersScored), summary: "scored \(run.customersScored) customer(s) with model v\(run.modelVersion)")
    }

    private func score(asOf: Date, by principal: Principal, requestID: String, on connection: PostgresConnection) async throws -> Fieldwork_V1_ScoringRun {
        guard let current = try await modelVersions(version: 0, after: nil, limit: 1, on: connection).first else {
            throw DomainError.failedPrecondition("no health model version")
        }
        let model = HealthModel(current)
        let day = environment.calendar.day(of: asOf).description
        // Activity in (day − window, day], per customer of the directory copy.
        var customers: [(id: String, activity: HealthModel.Activity)] = []
        for try await (id, purchases, trials, academic) in try await connection.query(
            """
            WITH window_start AS (SELECT (\(day)::date - make_interval(months => \(Int32(model.windowMonths))))::date AS start)
            SELECT c.id,
                   coalesce((SELECT sum(amount_fen) FROM purchases p, window_start w
                             WHERE p.customer_id = c.id AND p.day > w.start AND p.day <= \(day)::date), 0)::int8,
                   (SELECT count(*) FROM trials t, window_start w
                    WHERE t.customer_id = c.id AND t.day > w.start AND t.day <= \(day)::date)::int8,
                   (SELECT count(*) FROM academic_participations a, window_start w
                    WHERE a.customer_id = c.id AND a.day > w.start AND a.day <= \(day)::date)::int8
            FROM directory_customers c ORDER BY c.id
            """, logger: environment.logger
        ).decode((String, Int64, Int64, Int64).self) {
            customers.append((id, HealthModel.Activity(purchasesFen: purchases, trials: Int(trials), academic: Int(academic))))
        }
        let fullMark = model.purchasesFullMark(activeAmounts: customers.map(\.activity.purchasesFen))
        let results = customers.map { (id: $0.id, result: model.score($0.activity, purchasesFullMark: fullMark)) }
        let hints = results.filter { model.isCultivationHint($0.result) }.count
        let runID = UUID()
        try await connection.query(
            """
            INSERT INTO scoring_runs (id, as_of, model_version, customers_scored, purchases_p90_fen, hints, created_at)
            VALUES (\(runID), \(asOf), \(Int(current.version)), \(results.count), \(Int64(fullMark.rounded())), \(hints), \(environment.clock.now()))
            """, logger: environment.logger)
        if !results.isEmpty {
            try await connection.query(
                """
                INSERT INTO customer_health (run_id, customer_id, as_of, score, purchases, trials, academic, grade, model_version, cultivation_hint)
                SELECT \(runID), c, \(asOf), s, p, t, a, g, \(Int(current.version)), h
                FROM unnest(\(results.map(\.id))::text[], \(results.map(\.result.score))::float8[], \(results.map(\.result.purchases))::float8[],
                            \(results.map(\.result.trials))::float8[], \(results.map(\.result.academic))::float8[],
                            \(results.map(\.result.grade))::text[], \(results.map { model.isCultivationHint($0.result) })::bool[])
                     AS x (c, s, p, t, a, g, h)
                """, logger: environment.logger)
        }
        try await environment.audit(
            AuditRecord(entityType: "scoring_run", entityID: runID.uuidString.lowercased(), action: "run", changes: [
                .init("as_of", "", ISO8601DateFormatter().string(from: asOf)), .init("model_version", "", String(current.version)),
                .init("customers_scored", "", String(results.count)),
            ]),
            by: principal, at: environment.clock.now(), requestID: requestID, on: connection)
        return .with {
            $0.id = runID.uuidString.lowercased()
            $0.asOf = .init(asOf)
            $0.modelVersion = current.version
            $0.customersScored = Int32(results.count)
            $0.purchasesP90.fen = Int64(fullMark.rounded())
            $0.hints = Int32(hints)
        }
    }
}
