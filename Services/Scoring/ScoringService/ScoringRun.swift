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
        let asOf = try environment.asOf(request.hasAsOf ? request.asOf : nil)
        return try await runGate.oneAtATime {
            try await environment.command("RunScoring", requestID: request.requestID) { connection, principal, now in
                try await score(asOf: asOf, by: principal, requestID: request.requestID, on: connection)
            }
        }
    }

    /// The scheduled path: one run per moment, however many replicas fire.
    func scheduledRun(asOf firedAt: Date) async throws -> JobOutcome {
        // Replicas wake a few milliseconds apart: the moment is the minute they fired in.
        let asOf = Date(timeIntervalSince1970: (firedAt.timeIntervalSince1970 / 60).rounded(.down) * 60)
        let run = try await runGate.oneAtATime {
            try await environment.transaction { connection -> Fieldwork_V1_ScoringRun? in
                _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended('scoring-run', 0))", logger: environment.logger)
                for try await _ in try await connection.query(
                    "SELECT 1 FROM scoring_runs WHERE as_of = \(asOf)", logger: environment.logger) { return nil }
                return try await score(asOf: asOf, by: .job("scoring"), requestID: "", on: connection)
            }
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
        var phases = RunPhases()
        // A run at scale may take longer than the pool's statement limit, and this transaction
        // waits idle while the component sums run on other connections.
        try await connection.query("SET LOCAL statement_timeout = 0", logger: environment.logger)
        try await connection.query("SET LOCAL idle_in_transaction_session_timeout = 0", logger: environment.logger)
        // Activity in (day − window, day], per customer of the directory copy: one
        // aggregate per fact table, each on a connection of its own reading this
        // transaction's snapshot, so the three run at once and together see what one
        // query would. Facts stay in PostgreSQL; only the sums come back, with each
        // component's last active day for the zero streaks (looked up by index before
        // the window only for the rare customer idle all through it).
        guard let today = LocalDate(iso: day) else { throw DomainError.failedPrecondition("run day \(day) is not a date") }
        var snapshot = "", windowStartText = day
        for try await row in try await connection.query(
            "SELECT pg_export_snapshot(), (\(day)::date - make_interval(months => \(Int32(model.windowMonths))))::date::text",
            logger: environment.logger
        ).decode((String, String).self) { (snapshot, windowStartText) = row }
        let windowStart = LocalDate(iso: windowStartText) ?? today
        async let purchases = componentActivity(.purchases, after: windowStartText, through: day, inSnapshot: snapshot)
        async let trials = componentActivity(.trials, after: windowStartText, through: day, inSnapshot: snapshot)
        async let academic = componentActivity(.academic, after: windowStartText, through: day, inSnapshot: snapshot)
        let (p, t, a) = try await (purchases, trials, academic)
        guard p.count == t.count, t.count == a.count else {
            throw DomainError.failedPrecondition("the component reads saw different customer lists (\(p.count), \(t.count), \(a.count))")
        }
        var customers: [(id: String, activity: HealthModel.Activity)] = []
        var streaks: [Streak] = []
        customers.reserveCapacity(p.count)
        for index in p.indices {
            let id = p[index].customer
            guard t[index].customer == id, a[index].customer == id else {
                throw DomainError.failedPrecondition("the component reads are not aligned at customer \(id)")
            }
            customers.append((id, HealthModel.Activity(purchasesFen: p[index].measure, trials: Int(t[index].measure), academic: Int(a[index].measure))))
            for (component, last) in [("P", p[index].lastActive), ("T", t[index].lastActive), ("A", a[index].lastActive)] {
                if let streak = ZeroActivityStreak.asOf(today, lastActivity: last, windowStart: windowStart, minimumWeeks: model.zeroStreakWeeks) {
                    streaks.append(Streak(customer: id, component: component, streak: streak, lastActivity: last))
                }
            }
        }
        phases.end("components")
        let fullMark = model.purchasesFullMark(activeAmounts: customers.map(\.activity.purchasesFen))
        let results = customers.map { (id: $0.id, result: model.score($0.activity, purchasesFullMark: fullMark)) }
        let hints = results.filter { model.isCultivationHint($0.result) }.count
        let runID = UUID()
        phases.end("score")
        // The run's moment as this session prints it, so the health rows' COPY parses back the very same value.
        var asOfText = ""
        for try await text in try await connection.query(
            """
            INSERT INTO scoring_runs (id, as_of, model_version, customers_scored, purchases_p90_fen, hints, created_at)
            VALUES (\(runID), \(asOf), \(Int(current.version)), \(results.count), \(Int64(fullMark.rounded())), \(hints), \(environment.clock.now()))
            RETURNING as_of::text
            """, logger: environment.logger
        ).decode(String.self) { asOfText = text }
        // The zero-streak rule decides which streaks are red warnings: none while it is off.
        let zeroStreak = try await strategy.enabledRule("zero_streak", on: connection)
        let watched = Set((zeroStreak?.rule.parameters["components"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let flagged = zeroStreak == nil ? [] : streaks.filter { watched.contains($0.component) }
        if !results.isEmpty {
            let components = Dictionary(grouping: flagged, by: \.customer)
            // COPY, not INSERT: a run stores a row per customer, 100 000 and more.
            try await connection.copyFrom(
                table: "customer_health",
                columns: ["run_id", "customer_id", "as_of", "score", "purchases", "trials", "academic", "grade", "model_version",
                          "cultivation_hint", "warnings"],
                logger: environment.logger
            ) { writer in
                let fixed = (run: runID.uuidString.lowercased(), version: String(current.version))
                var buffer = ByteBuffer()
                for (index, scored) in results.enumerated() {
                    let result = scored.result
                    let warned = (components[scored.id] ?? []).map(\.component).sorted().joined(separator: ",")
                    CopyText.appendRow([
                        fixed.run, scored.id, asOfText, "\(result.score)", "\(result.purchases)", "\(result.trials)", "\(result.academic)",
                        result.grade, fixed.version, model.isCultivationHint(result) ? "t" : "f", "{\(warned)}",
                    ], to: &buffer)
                    if buffer.readableBytes >= 1 << 16 || index == results.count - 1 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
            }
        }
        phases.end("store")
        let recommended = try await recommend(
            Recommendations.pick(results.map { (customer: $0.id, result: $0.result) }, model: model), scores: results, runID: runID, asOf: asOf,
            day: day, on: connection)
        phases.end("recommend")
        var raised = 0
        if let zeroStreak { raised = try await raiseWarnings(flagged, rule: zeroStreak, runID: runID, at: asOf, on: connection) }
        phases.end("warnings")
        try await evaluatePaymentCycleDrift(asOf: asOf, on: connection)
        phases.end("drift")
        environment.logger.info("scoring run", metadata: [
            "customers": "\(results.count)", "warnings": "\(raised)", "recommendations": "\(recommended)", "phases_ms": "\(phases.summary)",
        ])
        try await connection.query(
            "UPDATE scoring_runs SET warnings_raised = \(raised), recommendations = \(recommended) WHERE id = \(runID)", logger: environment.logger)
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
            $0.warningsRaised = Int32(raised)
            $0.recommendations = Int32(recommended)
        }
    }

    /// Stores the run's recommendations (SPEC §4.4): each picked customer for every
    /// catalogue product line it has not yet won (no WON in the funnel, no purchase
    /// of the line) as of the run. Returns how many (customer, line) pairs.
    private func recommend(
        _ picked: [String: String], scores: [(id: String, result: HealthModel.Result)], runID: UUID, asOf: Date, day: String,
        on connection: PostgresConnection
    ) async throws -> Int {
        let entries = scores.filter { picked[$0.id] != nil }
        guard !entries.isEmpty else { return 0 }
        var count = 0
        for try await _ in try await connection.query(
            """
            INSERT INTO recommendations (run_id, customer_id, product_line, score, reason)
            SELECT \(runID), x.c, l.line, x.s, x.r
            FROM unnest(\(entries.map(\.id))::text[], \(entries.map(\.result.score))::float8[], \(entries.map { picked[$0.id] ?? "" })::text[]) AS x (c, s, r)
            CROSS JOIN (SELECT DISTINCT product_line AS line FROM directory_products WHERE active) l
            WHERE NOT EXISTS (SELECT 1 FROM funnel_changes f WHERE f.customer_id = x.c AND f.product_line = l.line
                                AND f.to_stage = 'WON' AND f.changed_at <= \(asOf))
              AND NOT EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = x.c AND p.product_line = l.line AND p.day <= \(day)::date)
            RETURNING 1
            """, logger: environment.logger) { count += 1 }
        return count
    }

    /// One scoring run at a time in this process, waited for before the run takes
    /// its connection: a run holds one connection and reads its components on up
    /// to three more, so runs waiting while holding connections could leave each
    /// other none. (Replicas have pools of their own.)
    actor RunGate {
        private var running = false
        private var waiting: [CheckedContinuation<Void, Never>] = []

        nonisolated func oneAtATime<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
            await enter()
            do {
                let result = try await body()
                await leave()
                return result
            } catch {
                await leave()
                throw error
            }
        }

        private func enter() async {
            guard running else { running = true; return }
            await withCheckedContinuation { waiting.append($0) }
        }

        private func leave() {
            if waiting.isEmpty { running = false } else { waiting.removeFirst().resume() }
        }
    }

    /// The fact table behind a component and what a customer's window adds up to.
    enum ComponentTable: String {
        case purchases, trials, academic = "academic_participations"

        var measure: String { self == .purchases ? "sum(amount_fen)" : "count(*)" }
    }

    /// One component for every customer of the directory copy, ordered by
    /// customer: the window's sum or count, and the last active day (in the
    /// window, or before it for a customer idle all through it; nil if never).
    private func componentActivity(
        _ table: ComponentTable, after windowStart: String, through day: String, inSnapshot snapshot: String
    ) async throws -> [(customer: String, measure: Int64, lastActive: LocalDate?)] {
        try await environment.readOnly(inSnapshot: snapshot) { connection in
            var rows: [(customer: String, measure: Int64, lastActive: LocalDate?)] = []
            for try await (customer, measure, last) in try await connection.query(
                """
                SELECT c.id, coalesce(x.measure, 0)::int8,
                       -- as days since 1970-01-01 (LocalDate.dayNumber): no date text to parse per row
                       coalesce(x.last, (SELECT max(day) FROM \(unescaped: table.rawValue) y
                                         WHERE y.customer_id = c.id AND y.day <= \(windowStart)::date)) - DATE '1970-01-01'
                FROM directory_customers c
                LEFT JOIN (SELECT customer_id, \(unescaped: table.measure) AS measure, max(day) AS last FROM \(unescaped: table.rawValue)
                           WHERE day > \(windowStart)::date AND day <= \(day)::date GROUP BY customer_id) x ON x.customer_id = c.id
                ORDER BY c.id
                """, logger: environment.logger
            ).decode((String, Int64, Int32?).self) {
                rows.append((customer, measure, last.map { LocalDate(dayNumber: Int($0)) }))
            }
            return rows
        }
    }

    /// Where a run spends its time, for the log: "components=3650 score=40 …".
    struct RunPhases {
        private var last = ContinuousClock.now
        private var parts: [String] = []

        mutating func end(_ phase: String) {
            let now = ContinuousClock.now
            let ms = (now - last).components
            parts.append("\(phase)=\(ms.seconds * 1000 + ms.attoseconds / 1_000_000_000_000_000)")
            last = now
        }

        var summary: String { parts.joined(separator: " ") }
    }

    struct Streak: Sendable {
        var customer: String
        var component: String   // P, T or A
        var streak: ZeroActivityStreak
        var lastActivity: LocalDate?
    }

    /// Raises a red warning for each streak not raised before, to the owning rep
    /// and the rep's supervisor, and publishes it for the notifications service.
    /// The *zero streak* rule (SPEC §4.3, §4.5) switches this on and off, picks the
    /// components it watches, and records each warning as a firing. A statement
    /// per step, not per streak: a first run over 100 000 customers raises tens of
    /// thousands at once.
    private func raiseWarnings(
        _ candidates: [Streak], rule: StrategyEngine.StoredRule, runID: UUID, at asOf: Date, on connection: PostgresConnection
    ) async throws -> Int {
        guard !candidates.isEmpty else { return 0 }
        let roles = Set(rule.rule.notifyRoles)
        // Which candidates are new, decided before anything is inserted: a NOT EXISTS
        // inside the INSERT would scan the table it is filling, and where the planner
        // expects a small table (a fresh one, stale statistics) it seq-scans it once per
        // candidate, through every row the statement has added so far — quadratic.
        var fresh: [Streak] = []
        for try await index in try await connection.query(
            """
            SELECT x.n FROM unnest(\(candidates.map(\.customer))::text[], \(candidates.map(\.component))::text[],
                                   \(candidates.map(\.streak.start.dayNumber))::int4[], \(candidates.map { $0.lastActivity?.dayNumber ?? -1 })::int4[])
                            WITH ORDINALITY AS x (c, k, s, l, n)
            -- The same streak seen again: a warning since the last activity (for a customer never
            -- active, whose streak start follows the window, any earlier warning) covers it.
            WHERE NOT EXISTS (SELECT 1 FROM warnings w WHERE w.customer_id = x.c AND w.component = x.k
                                AND w.streak_start <= DATE '1970-01-01' + x.s AND (x.l < 0 OR w.streak_start > DATE '1970-01-01' + x.l))
            ORDER BY x.n
            """, logger: environment.logger
        ).decode(Int64.self) { fresh.append(candidates[Int(index) - 1]) }
        guard !fresh.isEmpty else { return 0 }
        var raised: [(id: UUID, customer: String, component: String, start: String, weeks: Int32, notified: [String], name: String)] = []
        for try await (id, customer, component, start, weeks, notified, name) in try await connection.query(
            """
            WITH raised AS (
                INSERT INTO warnings (id, customer_id, component, streak_start, weeks, run_id, raised_at, notified)
                SELECT gen_random_uuid(), x.c, x.k, DATE '1970-01-01' + x.s, x.w, \(runID), \(asOf),
                       array_remove(ARRAY[CASE WHEN \(roles.contains("rep")) THEN coalesce(c.owner_rep_id, '') ELSE '' END,
                                          CASE WHEN \(roles.contains("manager")) THEN coalesce(p.supervisor_id, '') ELSE '' END], '')
                       || \(rule.rule.notifyPersonIDs)::text[]
                FROM unnest(\(fresh.map(\.customer))::text[], \(fresh.map(\.component))::text[],
                            \(fresh.map(\.streak.start.dayNumber))::int4[], \(fresh.map { $0.streak.weeks })::int4[]) AS x (c, k, s, w)
                LEFT JOIN directory_customers c ON c.id = x.c LEFT JOIN directory_people p ON p.id = c.owner_rep_id
                ON CONFLICT (customer_id, component, streak_start) DO NOTHING
                RETURNING id, customer_id, component, streak_start, weeks, notified
            )
            SELECT r.id, r.customer_id, r.component, r.streak_start::text, r.weeks, r.notified, coalesce(c.name, r.customer_id)
            FROM raised r LEFT JOIN directory_customers c ON c.id = r.customer_id
            ORDER BY r.customer_id, r.component
            """, logger: environment.logger
        ).decode((UUID, String, String, String, Int32, [String], String).self) {
            raised.append((id, customer, component, start, weeks, notified, name))
        }
        guard !raised.isEmpty else { return 0 }
        let names = ["P": "采购", "T": "新品试用", "A": "学术活动"]
        try await strategy.record(rule, firings: raised.map { warning in
            let componentName = names[warning.component] ?? warning.component
            return StrategyEngine.Firing(
                occurrence: "\(warning.customer):\(warning.component):\(warning.start)", subject: "customer:\(warning.customer)",
                inputs: [
                    "customer_id": warning.customer, "customer_name": warning.name, "component": warning.component,
                    "component_name": componentName, "weeks": String(warning.weeks), "streak_start": warning.start,
                ],
                explanation: "\(warning.name) had no \(componentName) for \(warning.weeks) completed weeks from \(warning.start)",
                notified: warning.notified)
        }, at: asOf, on: connection)
        try await environment.outbox.appendAll(raised.map { warning in
            (payload: .warningRaised(.with {
                $0.warningID = warning.id.uuidString.lowercased()
                $0.customerID = warning.customer
                $0.component = warning.component
                $0.weeks = warning.weeks
                $0.notifyPersonIds = warning.notified
            }), aggregateID: "customer:\(warning.customer)")
        }, at: asOf, on: connection, logger: environment.logger)
        return raised.count
    }

    /// *Payment-cycle drift* (SPEC §4.5): per region, this month's average
    /// invoice→paid days up to the run's day against last month's; a region
    /// drifting by the threshold fires once that month, with its latest
    /// contracts' payment-term changes for the director.
    private func evaluatePaymentCycleDrift(asOf: Date, on connection: PostgresConnection) async throws {
        guard let stored = try await strategy.enabledRule("payment_cycle_drift", on: connection) else { return }
        let rule = stored.rule
        let today = environment.calendar.day(of: asOf)
        let monthStart = LocalDate(year: today.year, month: today.month, day: 1)
        let last = PaymentCycleDrift.previousMonth(of: today)
        // Read every region first: the firings below query the same connection.
        var regions: [(String, Int64, Double, Int64, Double)] = []
        for try await row in try await connection.query(
            """
            SELECT c.region,
                   count(*) FILTER (WHERE p.paid_date >= \(monthStart.description)::date),
                   coalesce(avg(p.paid_date - p.invoice_date) FILTER (WHERE p.paid_date >= \(monthStart.description)::date), 0)::float8,
                   count(*) FILTER (WHERE p.paid_date <= \(last.last.description)::date),
                   coalesce(avg(p.paid_date - p.invoice_date) FILTER (WHERE p.paid_date <= \(last.last.description)::date), 0)::float8
            FROM payments p JOIN contracts c ON c.id = p.contract_id
            WHERE p.paid_date BETWEEN \(last.first.description)::date AND \(today.description)::date
            GROUP BY c.region ORDER BY c.region
            """, logger: environment.logger
        ).decode((String, Int64, Double, Int64, Double).self) { regions.append(row) }
        for (region, thisCount, thisDays, lastCount, lastDays) in regions {
            let thisMonth = PaymentCycleDrift.Month(payments: Int(thisCount), averageDays: thisDays)
            let lastMonth = PaymentCycleDrift.Month(payments: Int(lastCount), averageDays: lastDays)
            guard let increase = PaymentCycleDrift.drift(
                thisMonth: thisMonth, lastMonth: lastMonth, increaseDays: rule.number("increase_days"),
                minimumPayments: Int(rule.number("min_payments")))
            else { continue }
            let month = String(today.description.prefix(7))
            let changes = try await contractTermChanges(region: region, limit: Int(rule.number("contracts_shown")), on: connection)
            let inputs = [
                "region": region, "month": month, "this_month_days": Self.oneDecimal(thisDays), "last_month_days": Self.oneDecimal(lastDays),
                "increase_days": Self.oneDecimal(increase), "this_month_payments": String(thisCount), "last_month_payments": String(lastCount),
                "contract_changes": changes.isEmpty ? "无" : changes.joined(separator: "；"),
            ]
            try await strategy.fire(
                stored, occurrence: "\(region):\(month)", subject: .init(key: "region:\(region)", region: region), inputs: inputs,
                explanation: "\(region): average invoice→paid \(Self.oneDecimal(thisDays)) days over \(thisCount) payment(s) in \(month) "
                    + "against \(Self.oneDecimal(lastDays)) over \(lastCount) last month (+\(Self.oneDecimal(increase)), threshold \(Self.oneDecimal(rule.number("increase_days"))))",
                at: asOf, on: connection)
        }
    }

    /// The region's latest contracts with their payment-term history, e.g.
    /// "HT-7 45→60 天（2026-10-01，客户资金紧张）".
    private func contractTermChanges(region: String, limit: Int, on connection: PostgresConnection) async throws -> [String] {
        guard limit > 0 else { return [] }
        var lines: [String] = []
        for try await (id, days, revisions) in try await connection.query(
            """
            SELECT c.id, c.payment_terms_days,
                   coalesce(string_agg(r.from_days || '→' || r.to_days || ' 天（' || r.effective || '，' || r.reason || '）', '，' ORDER BY r.seq), '')
            FROM contracts c LEFT JOIN contract_term_revisions r ON r.contract_id = c.id
            WHERE c.region = \(region)
            GROUP BY c.id, c.payment_terms_days, c.signed ORDER BY c.signed DESC, c.id DESC LIMIT \(limit)
            """, logger: environment.logger
        ).decode((String, Int32, String).self) {
            lines.append(revisions.isEmpty ? "\(id) 账期 \(days) 天（未变更）" : "\(id) \(revisions)")
        }
        return lines
    }
}

