import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// Recommendations, their effectiveness (SPEC §4.4) and the three hard
/// indicators (§4.6), all from the scoring service's own tables: the runs,
/// and the copies of the visits and workflows services' events.
extension ScoringService {
    /// A run's recommendations (the latest run by default), best score first;
    /// a rep sees their own customers'.
    func listRecommendations(_ request: Fieldwork_V1_ListRecommendationsRequest) async throws -> Fieldwork_V1_ListRecommendationsResponse {
        let page = try Page(request.page)
        let offset = try page.offset()
        var runID: UUID?
        if !request.runID.isEmpty {
            guard let id = UUID(uuidString: request.runID) else { throw DomainError.invalidArgument(field: "run_id", message: "must be a UUID") }
            runID = id
        }
        let region = try Input.text(request.region, field: "region", max: 32)
        let owners = try await customerOwners(try Principal.required())
        var recommendations: [Fieldwork_V1_Recommendation] = []
        // Offset paging: a run's recommendations do not change once written.
        for try await (run, customer, line, score, reason) in try await environment.postgres.query(
            """
            SELECT r.run_id, r.customer_id, r.product_line, r.score, r.reason
            FROM recommendations r LEFT JOIN directory_customers c ON c.id = r.customer_id
            WHERE r.run_id = coalesce(\(runID), (SELECT id FROM scoring_runs ORDER BY as_of DESC, created_at DESC LIMIT 1))
              AND (\(region) = '' OR c.region = \(region)) AND (\(owners.everyone) OR c.owner_rep_id = ANY (\(owners.people)))
            ORDER BY r.score DESC, r.customer_id, r.product_line OFFSET \(offset) LIMIT \(page.limit)
            """, logger: environment.logger
        ).decode((UUID, String, String, Double, String).self) {
            recommendations.append(.with {
                $0.runID = run.uuidString.lowercased()
                $0.customerID = customer
                $0.productLine = line
                $0.score = score
                $0.reason = reason
            })
        }
        let finished = page.finish(recommendations, offset: offset)
        return .with { $0.recommendations = finished.rows; $0.page = finished.page }
    }

    /// Recommended against not recommended (customer, product line) pairs of the
    /// cohort run — the last run on or before the cohort date — and how many of
    /// each converted (WON in the funnel, or a first purchase of the line) in the
    /// following months, among the customers owned within the caller's scope.
    func effectivenessReport(_ request: Fieldwork_V1_EffectivenessReportRequest) async throws -> Fieldwork_V1_EffectivenessReportResponse {
        let cohort = try request.cohort.localDate(field: "cohort")
        let months = request.months == 0 ? 6 : Int(request.months)
        guard (1...24).contains(months) else { throw DomainError.invalidArgument(field: "months", message: "must be within 1–24") }
        let endOfCohortDay = environment.calendar.instant(environment.calendar.adding(days: 1, to: cohort))
        let owners = try await customerOwners(try Principal.required())
        return try await environment.postgres.withConnection { connection in
            guard let run = try await cohortRun(before: endOfCohortDay, on: connection) else {
                throw DomainError.notFound(entity: "scoring run on or before", id: cohort.description)
            }
            let windowEnd = min(environment.calendar.adding(months: months, to: run.asOf), environment.clock.now())
            let result = try await effectiveness(run: run.id, from: run.asOf, to: windowEnd, owners: owners, on: connection)
            return .with {
                $0.recommended = Int32(result.recommended)
                $0.recommendedConverted = Int32(result.recommendedConverted)
                $0.recommendedRate = result.recommendedRate
                $0.others = Int32(result.others)
                $0.othersConverted = Int32(result.othersConverted)
                $0.othersRate = result.othersRate
                $0.differencePp = result.differencePP
                $0.cohortRunID = run.id.uuidString.lowercased()
                $0.cohortAsOf = .init(run.asOf)
                $0.windowEnd = .init(windowEnd)
            }
        }
    }

    /// Process control, collaboration and strategy effectiveness for a period
    /// (default: this month so far), each with its actual value and attainment,
    /// over the caller's scope (SPEC §8.2): the plans of the reps they reach,
    /// the cards those reps asked for, and the customers those reps own.
    func hardIndicators(_ request: Fieldwork_V1_HardIndicatorsRequest) async throws -> Fieldwork_V1_HardIndicatorsResponse {
        let now = environment.clock.now()
        let today = environment.calendar.day(of: now)
        let monthStart = environment.calendar.instant(LocalDate(year: today.year, month: today.month, day: 1))
        let window = TimeWindow(
            from: request.range.hasFrom ? try request.range.from.instant(field: "range.from") : monthStart,
            to: min(request.range.hasTo ? try request.range.to.instant(field: "range.to") : now, now))
        guard window.from < window.to else { throw DomainError.invalidArgument(field: "range.from", message: "must be before range.to and now") }
        let firstDay = environment.calendar.day(of: window.from).description
        let lastDay = environment.calendar.day(of: window.to.addingTimeInterval(-0.001)).description
        let scope = try await customerOwners(try Principal.required())
        return try await environment.postgres.withConnection { connection in
            var planned: Int64 = 0, valid: Int64 = 0, noPlanDays: Int64 = 0
            for try await (p, v, n) in try await connection.query(
                """
                SELECT coalesce(sum(planned), 0)::int8, coalesce(sum(least(valid, planned)), 0)::int8,
                       count(*) FILTER (WHERE no_plan)::int8
                FROM plan_days
                WHERE day BETWEEN \(firstDay)::date AND \(lastDay)::date AND (\(scope.everyone) OR rep_id = ANY (\(scope.people)))
                """, logger: environment.logger
            ).decode((Int64, Int64, Int64).self) { (planned, valid, noPlanDays) = (p, v, n) }
            let completion = planned == 0 ? 0 : (Double(valid) / Double(planned) * 1000).rounded() / 10

            // A card still unanswered counts with its age so far: it is at least that slow.
            var cards: Int64 = 0, median: Double = 0
            for try await (count, hours) in try await connection.query(
                """
                SELECT count(*)::int8,
                       coalesce(percentile_cont(0.5) WITHIN GROUP (
                           ORDER BY extract(epoch FROM coalesce(first_response_at, \(window.to)) - created_at) / 3600), 0)::float8
                FROM card_responses
                WHERE created_at >= \(window.from) AND created_at < \(window.to)
                  AND (\(scope.everyone) OR requester_id = ANY (\(scope.people)))
                """, logger: environment.logger
            ).decode((Int64, Double).self) { (cards, median) = (count, (hours * 10).rounded() / 10) }

            var strategy = Recommendations.Effectiveness(recommended: 0, recommendedConverted: 0, others: 0, othersConverted: 0)
            // The cohort whose 6 months end within the period: the last run at least 6 months
            // before its end; while no run is that old, the earliest run, counted so far.
            var cohort = try await cohortRun(before: environment.calendar.adding(months: -6, to: window.to), on: connection)
            if cohort == nil { cohort = try await firstRun(in: TimeWindow(from: .distantPast, to: window.to), on: connection) }
            if let run = cohort {
                let sixMonths = environment.calendar.adding(months: 6, to: run.asOf)
                strategy = try await effectiveness(run: run.id, from: run.asOf, to: min(sixMonths, window.to), owners: scope, on: connection)
            }
            return .with {
                $0.noPlanDays = Int32(noPlanDays)
                $0.indicators = [
                    .with {
                        $0.name = "process_control"; $0.actual = completion; $0.target = 92; $0.unit = "%"
                        $0.attained = planned > 0 && completion >= 92
                    },
                    .with {
                        $0.name = "collaboration"; $0.actual = median; $0.target = 2; $0.unit = "h (median first response)"
                        $0.attained = cards > 0 && median <= 2
                    },
                    .with {
                        $0.name = "strategy_effectiveness"; $0.actual = strategy.differencePP; $0.target = 15; $0.unit = "pp"
                        $0.attained = strategy.recommended > 0 && strategy.others > 0 && strategy.differencePP >= 15
                    },
                ]
            }
        }
    }

    private func cohortRun(before instant: Date, on connection: PostgresConnection) async throws -> (id: UUID, asOf: Date)? {
        for try await run in try await connection.query(
            "SELECT id, as_of FROM scoring_runs WHERE as_of < \(instant) ORDER BY as_of DESC, created_at DESC LIMIT 1", logger: environment.logger
        ).decode((UUID, Date).self) { return run }
        return nil
    }

    private func firstRun(in window: TimeWindow, on connection: PostgresConnection) async throws -> (id: UUID, asOf: Date)? {
        for try await run in try await connection.query(
            """
            SELECT id, as_of FROM scoring_runs WHERE as_of >= \(window.from) AND as_of < \(window.to)
            ORDER BY as_of, created_at LIMIT 1
            """, logger: environment.logger
        ).decode((UUID, Date).self) { return run }
        return nil
    }

    /// Counts the cohort's (customer, line) pairs not yet won at the run, split by
    /// recommended or not, and those converted in (from, to], for the customers
    /// `owners` owns.
    private func effectiveness(
        run: UUID, from: Date, to: Date, owners: Scope, on connection: PostgresConnection
    ) async throws -> Recommendations.Effectiveness {
        let fromDay = environment.calendar.day(of: from).description, toDay = environment.calendar.day(of: to).description
        for try await (recommended, recommendedConverted, others, othersConverted) in try await connection.query(
            """
            WITH lines AS (SELECT DISTINCT product_line AS line FROM directory_products WHERE active),
            pairs AS (
                SELECT h.customer_id AS c, l.line
                FROM customer_health h CROSS JOIN lines l LEFT JOIN directory_customers dc ON dc.id = h.customer_id
                WHERE h.run_id = \(run) AND (\(owners.everyone) OR dc.owner_rep_id = ANY (\(owners.people)))
                  AND NOT EXISTS (SELECT 1 FROM funnel_changes f WHERE f.customer_id = h.customer_id AND f.product_line = l.line
                                    AND f.to_stage = 'WON' AND f.changed_at <= \(from))
                  AND NOT EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = h.customer_id AND p.product_line = l.line
                                    AND p.day <= \(fromDay)::date)
            ),
            flags AS (
                SELECT EXISTS (SELECT 1 FROM recommendations r WHERE r.run_id = \(run) AND r.customer_id = pairs.c AND r.product_line = pairs.line) AS rec,
                       EXISTS (SELECT 1 FROM funnel_changes f WHERE f.customer_id = pairs.c AND f.product_line = pairs.line
                                 AND f.to_stage = 'WON' AND f.changed_at > \(from) AND f.changed_at <= \(to))
                       OR EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = pairs.c AND p.product_line = pairs.line
                                    AND p.day > \(fromDay)::date AND p.day <= \(toDay)::date) AS converted
                FROM pairs
            )
            SELECT count(*) FILTER (WHERE rec)::int8, count(*) FILTER (WHERE rec AND converted)::int8,
                   count(*) FILTER (WHERE NOT rec)::int8, count(*) FILTER (WHERE NOT rec AND converted)::int8
            FROM flags
            """, logger: environment.logger
        ).decode((Int64, Int64, Int64, Int64).self) {
            return .init(recommended: Int(recommended), recommendedConverted: Int(recommendedConverted), others: Int(others),
                         othersConverted: Int(othersConverted))
        }
        return .init(recommended: 0, recommendedConverted: 0, others: 0, othersConverted: 0)
    }
}
