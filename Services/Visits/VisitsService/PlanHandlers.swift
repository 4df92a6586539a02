import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// Daily plans and completion (SPEC §2.5). Completion = planned customers with
/// at least one valid visit that day (submitted, not void, in range) ÷ planned.
extension VisitsService {
    func setDailyPlan(_ request: Fieldwork_V1_SetDailyPlanRequest) async throws -> Fieldwork_V1_DailyPlan {
        let day = try request.day.localDate(field: "day")
        guard request.visits.count <= 50 else { throw DomainError.invalidArgument(field: "visits", message: "at most 50 planned visits a day") }
        var seen = Set<String>()
        let items = try request.visits.map { visit -> (String, String) in
            let customer = try Input.text(visit.customerID, field: "visits.customer_id", required: true)
            guard seen.insert(customer).inserted else {
                throw DomainError.invalidArgument(field: "visits.customer_id", message: "'\(customer)' is planned twice")
            }
            return (customer, try Input.text(visit.slot, field: "visits.slot", max: 32))
        }
        return try await environment.command("SetDailyPlan", requestID: request.requestID) { connection, principal, now in
            let rep = try Self.planOwner(request.repID, principal)
            try await requireActsFor(rep, principal, on: connection)
            let today = environment.calendar.day(of: now)
            guard day >= today else { throw DomainError.failedPrecondition("\(day) is in the past") }
            // Entered the day before or early in the morning: a plan written once the
            // visits are done would only list the customers already seen.
            let cutoff = environment.calendar.instant(day, hour: planCutoff.hour, minute: planCutoff.minute)
            guard now < cutoff else {
                throw DomainError.failedPrecondition(
                    "\(rep)'s plan for \(day) is fixed: plans are set by \(String(format: "%02d:%02d", planCutoff.hour, planCutoff.minute)) that day")
            }
            // With a late cut-off (24:00), the check time may already have closed the day, as planned or as
            // "no plan": its counts are published and never recomputed, so the plan stays as it closed.
            guard try await !isClosed(rep: rep, day: day, on: connection) else {
                throw DomainError.failedPrecondition("\(rep)'s plan for \(day) is fixed: the day closed at the check time")
            }
            let before = try await planItems(rep: rep, day: day, on: connection)
            for (customer, _) in items where try await directory.customer(customer, on: connection) == nil {
                throw DomainError.invalidArgument(field: "visits.customer_id", message: "customer '\(customer)' not found")
            }
            try await connection.query("DELETE FROM plan_items WHERE rep_id = \(rep) AND day = \(day.description)::date", logger: environment.logger)
            for (customer, slot) in items {
                try await connection.query(
                    "INSERT INTO plan_items (rep_id, day, customer_id, slot) VALUES (\(rep), \(day.description)::date, \(customer), \(slot))",
                    logger: environment.logger)
            }
            try await environment.audit(
                AuditRecord(entityType: "plan", entityID: "\(rep)/\(day)", action: before.isEmpty ? "create" : "update", changes: [
                    .init("customers", before.map(\.customerID).joined(separator: "|"), items.map(\.0).joined(separator: "|")),
                ]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            return .with {
                $0.repID = rep
                $0.day = request.day
                $0.visits = items.map { item in .with { $0.customerID = item.0; $0.slot = item.1 } }
            }
        }
    }

    func getDailyPlan(_ request: Fieldwork_V1_GetDailyPlanRequest) async throws -> Fieldwork_V1_DailyPlan {
        let day = try request.day.localDate(field: "day")
        let principal = try Principal.required()
        let rep = try Self.planOwner(request.repID, principal)
        return try await environment.postgres.withConnection { connection in
            guard try await mayView(person: rep, principal, on: connection) else {
                throw DomainError.permissionDenied("\(rep)'s plan belongs to someone outside your team or region")
            }
            let items = try await planItems(rep: rep, day: day, on: connection)
            let closed = try await isClosed(rep: rep, day: day, on: connection)
            return .with {
                $0.repID = rep
                $0.day = request.day
                $0.visits = items
                $0.closed = closed
            }
        }
    }

    func planCompletion(_ request: Fieldwork_V1_PlanCompletionRequest) async throws -> Fieldwork_V1_PlanCompletionResponse {
        let day = try request.day.localDate(field: "day")
        let principal = try Principal.required()
        let subject = try Input.text(request.subject, field: "subject", max: 32)
        return try await environment.postgres.withConnection { connection in
            let reps: [String]
            switch request.scope {
            case .rep, .unspecified:
                let rep = subject.isEmpty ? principal.personID : subject
                guard try await mayView(person: rep, principal, on: connection) else {
                    throw DomainError.permissionDenied("\(rep) is outside your team or region")
                }
                reps = [rep]
            case .team:
                let supervisor = subject.isEmpty ? principal.personID : subject
                // A team is seen by whoever sees its supervisor: the supervisor, their chain, their director.
                guard try await mayView(person: supervisor, principal, on: connection) else {
                    throw DomainError.permissionDenied("only the team's supervisor, their director or admin see this team")
                }
                reps = try await people(where: "supervisor_id", equals: supervisor, on: connection)
            case .region:
                guard !subject.isEmpty else { throw DomainError.invalidArgument(field: "subject", message: "name the region") }
                guard principal.hasAny([.admin, .executive]) || (principal.hasAny([.director, .ops]) && principal.region == subject) else {
                    throw DomainError.permissionDenied("only the region's director, its operations staff or admin see region \(subject)")
                }
                reps = try await people(where: "region", equals: subject, on: connection)
            case .UNRECOGNIZED(let value):
                throw DomainError.invalidArgument(field: "scope", message: "unknown value \(value)")
            }
            let rows = try await completion(reps: reps, day: day, on: connection)
            let planned = rows.reduce(0) { $0 + $1.planned }
            let valid = rows.reduce(0) { $0 + $1.valid }
            let withPlan = Set(rows.map(\.rep))
            let noPlan = try await planners(among: reps, on: connection).filter { !withPlan.contains($0) }
            return .with {
                $0.noPlanRepIds = noPlan
                $0.reps = rows.map { row in
                    .with { $0.repID = row.rep; $0.planned = Int32(row.planned); $0.valid = Int32(row.valid); $0.rate = Self.rate(row.valid, row.planned) }
                }
                $0.planned = Int32(planned)
                $0.valid = Int32(valid)
                $0.rate = Self.rate(valid, planned)
            }
        }
    }

    static func rate(_ valid: Int, _ planned: Int) -> Double { planned == 0 ? 0 : Double(valid) / Double(planned) }

    /// Those of `people` who plan their days (reps, academic specialists, key-account managers), in id order.
    private func planners(among people: [String], on connection: PostgresConnection) async throws -> [String] {
        var ids: [String] = []
        for try await id in try await connection.query(
            "SELECT id FROM people WHERE id = ANY (\(people)) AND active AND roles && ARRAY['rep', 'academic', 'kam'] ORDER BY id",
            logger: environment.logger
        ).decode(String.self) { ids.append(id) }
        return ids
    }

    /// Per rep with a plan that day: closed days report the counts published at
    /// the check time; open days are computed now.
    func completion(reps: [String], day: LocalDate, on connection: PostgresConnection) async throws -> [(rep: String, planned: Int, valid: Int)] {
        let start = environment.calendar.instant(day)
        let end = environment.calendar.instant(environment.calendar.adding(days: 1, to: day))
        let rows = try await connection.query(
            """
            SELECT i.rep_id, coalesce(max(d.planned), count(*))::int8,
                   coalesce(max(d.valid), count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM visits v
                       WHERE v.rep_id = i.rep_id AND v.customer_id = i.customer_id AND v.status = 'SUBMITTED'
                         AND NOT v.out_of_range AND v.checked_in_at >= \(start) AND v.checked_in_at < \(end))))::int8
            FROM plan_items i LEFT JOIN plan_days d ON d.rep_id = i.rep_id AND d.day = i.day
            WHERE i.day = \(day.description)::date AND i.rep_id = ANY (\(reps))
            GROUP BY i.rep_id ORDER BY i.rep_id
            """, logger: environment.logger)
        var result: [(String, Int, Int)] = []
        for try await (rep, planned, valid) in rows.decode((String, Int, Int).self) { result.append((rep, planned, valid)) }
        return result
    }

    /// The check-time job: closes every rep's planned day up to `asOf` (today
    /// once the check time passed) and publishes the counts. A day closes once:
    /// the `plan_days` row is the guard, also across replicas and re-runs.
    func closePlanDays(asOf: Date, checkHour: Int, checkMinute: Int, workdays: Set<Int>) async throws -> JobOutcome {
        let calendar = environment.calendar
        let today = calendar.day(of: asOf)
        let lastDay = asOf >= calendar.instant(today, hour: checkHour, minute: checkMinute) ? today : calendar.adding(days: -1, to: today)
        return try await environment.transaction { connection in
            // Read before this run closes anything: the first day not closed yet.
            let firstNoPlanDay = try await firstUnclosedDay(upTo: lastDay, on: connection)
            var open: [(String, LocalDate)] = []
            for try await (rep, dayText) in try await connection.query(
                """
                SELECT DISTINCT i.rep_id, i.day::text FROM plan_items i
                WHERE i.day <= \(lastDay.description)::date
                  AND NOT EXISTS (SELECT 1 FROM plan_days d WHERE d.rep_id = i.rep_id AND d.day = i.day)
                ORDER BY 2, 1
                """, logger: environment.logger
            ).decode((String, String).self) {
                if let day = LocalDate(iso: dayText) { open.append((rep, day)) }
            }
            var closed = 0
            for (rep, day) in open {
                guard let counts = try await completion(reps: [rep], day: day, on: connection).first else { continue }
                var inserted = false
                for try await _ in try await connection.query(
                    """
                    INSERT INTO plan_days (rep_id, day, planned, valid, closed_at)
                    VALUES (\(rep), \(day.description)::date, \(counts.planned), \(counts.valid), \(asOf))
                    ON CONFLICT DO NOTHING RETURNING rep_id
                    """, logger: environment.logger) { inserted = true }
                guard inserted else { continue }
                let person = try await directory.person(rep, on: connection)?.0
                try await environment.publish(.planDayClosed(.with {
                    $0.repID = rep
                    $0.day = .init(day)
                    $0.planned = Int32(counts.planned)
                    $0.valid = Int32(counts.valid)
                    $0.region = person?.region ?? ""
                }), aggregateID: "plan:\(rep)", at: asOf, on: connection)
                closed += 1
            }
            let noPlan = try await closeNoPlanDays(from: firstNoPlanDay, to: lastDay, workdays: workdays, asOf: asOf, on: connection)
            return JobOutcome(items: closed + noPlan, summary: "closed \(closed) rep-day(s) and \(noPlan) no-plan day(s) up to \(lastDay)")
        }
    }

    /// The day after the last one closed, at most a week before `lastDay`; on a
    /// fresh system `lastDay` itself (nobody planned before it).
    private func firstUnclosedDay(upTo lastDay: LocalDate, on connection: PostgresConnection) async throws -> LocalDate {
        var first = lastDay
        for try await latest in try await connection.query("SELECT max(day)::text FROM plan_days", logger: environment.logger).decode(String?.self) {
            if let latest, let day = LocalDate(iso: latest) { first = max(day.adding(days: 1), lastDay.adding(days: -6)) }
        }
        return first
    }

    /// Working days from `first` to `lastDay` on which an active planner had no
    /// plan close as "no plan" (SPEC §8.3): a `plan_days` row with nothing planned
    /// and a PlanDayClosed marked `no_plan`.
    private func closeNoPlanDays(
        from first: LocalDate, to lastDay: LocalDate, workdays: Set<Int>, asOf: Date, on connection: PostgresConnection
    ) async throws -> Int {
        guard first <= lastDay else { return 0 }
        let weekdays = workdays.sorted()
        var closed: [(payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String)] = []
        for try await (rep, dayText, region) in try await connection.query(
            """
            WITH closed AS (
                INSERT INTO plan_days (rep_id, day, planned, valid, closed_at, no_plan)
                SELECT p.id, d::date, 0, 0, \(asOf), true
                FROM people p CROSS JOIN generate_series(\(first.description)::date, \(lastDay.description)::date, interval '1 day') d
                WHERE p.active AND p.roles && ARRAY['rep', 'academic', 'kam'] AND extract(isodow FROM d)::int = ANY (\(weekdays))
                  AND NOT EXISTS (SELECT 1 FROM plan_items i WHERE i.rep_id = p.id AND i.day = d::date)
                ON CONFLICT DO NOTHING
                RETURNING rep_id, day
            )
            SELECT c.rep_id, c.day::text, p.region FROM closed c JOIN people p ON p.id = c.rep_id ORDER BY c.day, c.rep_id
            """, logger: environment.logger
        ).decode((String, String, String).self) {
            guard let day = LocalDate(iso: dayText) else { continue }
            closed.append((.planDayClosed(.with {
                $0.repID = rep
                $0.day = .init(day)
                $0.region = region
                $0.noPlan = true
            }), "plan:\(rep)"))
        }
        // One statement for all of them: a week caught up for every planner is thousands of events.
        try await environment.outbox.appendAll(closed, at: asOf, on: connection, logger: environment.logger)
        return closed.count
    }

    /// Whether the check time closed `rep`'s `day` (planned or "no plan").
    private func isClosed(rep: String, day: LocalDate, on connection: PostgresConnection) async throws -> Bool {
        for try await _ in try await connection.query(
            "SELECT 1 FROM plan_days WHERE rep_id = \(rep) AND day = \(day.description)::date", logger: environment.logger) { return true }
        return false
    }

    private func planItems(rep: String, day: LocalDate, on connection: PostgresConnection) async throws -> [Fieldwork_V1_PlannedVisit] {
        var items: [Fieldwork_V1_PlannedVisit] = []
        for try await (customer, slot) in try await connection.query(
            "SELECT customer_id, slot FROM plan_items WHERE rep_id = \(rep) AND day = \(day.description)::date ORDER BY slot, customer_id",
            logger: environment.logger
        ).decode((String, String).self) { items.append(.with { $0.customerID = customer; $0.slot = slot }) }
        return items
    }

    private func people(where column: String, equals value: String, on connection: PostgresConnection) async throws -> [String] {
        var ids: [String] = []
        let query: PostgresQuery = column == "region"
            ? "SELECT id FROM people WHERE region = \(value) AND active ORDER BY id"
            : "SELECT id FROM people WHERE supervisor_id = \(value) AND active ORDER BY id"
        for try await id in try await connection.query(query, logger: environment.logger).decode(String.self) { ids.append(id) }
        return ids
    }

    /// A rep acts for themselves; their supervisor and admins act for them.
    private func requireActsFor(_ rep: String, _ principal: Principal, on connection: PostgresConnection) async throws {
        if rep == principal.personID || principal.has(.admin) { return }
        guard let person = try await directory.person(rep, on: connection)?.0 else { throw DomainError.notFound(entity: "person", id: rep) }
        guard person.supervisorID == principal.personID else {
            throw DomainError.permissionDenied("only \(rep), their supervisor or an admin set \(rep)'s plan")
        }
    }
}

extension VisitsService {
    /// Whose plan a call is about: the caller's own when `rep_id` is empty.
    /// Checked like any text, because it goes to SQL (a NUL came back INTERNAL).
    static func planOwner(_ repID: String, _ principal: Principal) throws -> String {
        repID.isEmpty ? principal.personID : try Input.text(repID, field: "rep_id", max: 64, required: true)
    }
}
