import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// The events the scoring service consumes (SPEC §4.1): the directory copy,
/// plan-day closes, submitted visits, funnel changes, and the workflows
/// service's cards and first responses (for the collaboration indicator). Each is applied in the
/// inbox transaction that records it, so a redelivered event fires nothing twice.
extension ScoringService {
    func apply(_ event: Fieldwork_V1_Event, on connection: PostgresConnection) async throws {
        if try await DirectoryReplica.apply(event, on: connection, logger: environment.logger) { return }
        let at = event.hasOccurredAt ? event.occurredAt.date : environment.clock.now()
        switch event.payload {
        case .planDayClosed(let close): try await planDayClosed(close, at: at, on: connection)
        case .visitSubmitted(let visit): try await visitSubmitted(visit, at: at, on: connection)
        case .funnelStageChanged(let change):
            try await connection.query(
                """
                INSERT INTO funnel_changes (event_id, customer_id, product_line, to_stage, changed_at)
                VALUES (\(UUID(uuidString: event.id)), \(change.customerID), \(change.productLine), \(change.toStage),
                        \(change.hasChangedAt ? change.changedAt.date : at))
                """, logger: environment.logger)
            try await funnelStageChanged(change, on: connection)
        case .cardCreated(let card):
            try await connection.query(
                """
                INSERT INTO card_responses (card_id, department, created_at, requester_id)
                VALUES (\(card.cardID), \(card.department), \(at), \(card.requesterID))
                ON CONFLICT (card_id) DO UPDATE SET requester_id = excluded.requester_id
                """, logger: environment.logger)
        case .cardFirstResponse(let response):
            try await connection.query(
                """
                INSERT INTO card_responses (card_id, department, created_at, first_response_at)
                VALUES (\(response.cardID), \(response.department), \(response.createdAt.date), \(response.respondedAt.date))
                ON CONFLICT (card_id) DO UPDATE SET created_at = excluded.created_at, first_response_at = excluded.first_response_at
                """, logger: environment.logger)
        default: break
        }
    }

    /// Keeps the day for process control, and fires *plan shortfall* when the
    /// day closed below the threshold (SPEC §2.5): once per rep and day.
    private func planDayClosed(_ close: Fieldwork_V1_PlanDayClosed, at: Date, on connection: PostgresConnection) async throws {
        let day = try close.day.localDate(field: "event.plan_day_closed.day")
        try await connection.query(
            """
            INSERT INTO plan_days (rep_id, day, region, planned, valid, no_plan)
            VALUES (\(close.repID), \(day.description)::date, \(close.region), \(Int(close.planned)), \(Int(close.valid)), \(close.noPlan))
            ON CONFLICT (rep_id, day) DO UPDATE
                SET region = excluded.region, planned = excluded.planned, valid = excluded.valid, no_plan = excluded.no_plan
            """, logger: environment.logger)
        guard let stored = try await strategy.enabledRule("plan_shortfall", on: connection) else { return }
        let threshold = stored.rule.number("threshold_percent")
        guard let rate = PlanShortfall.shortfall(planned: Int(close.planned), valid: Int(close.valid), thresholdPercent: threshold) else { return }
        let repName = try await personName(close.repID, on: connection)
        let inputs = [
            "rep_id": close.repID, "rep_name": repName, "day": day.description, "planned": String(close.planned),
            "valid": String(close.valid), "rate_percent": Self.oneDecimal(rate), "threshold_percent": Self.oneDecimal(threshold),
        ]
        try await strategy.fire(
            stored, occurrence: "\(close.repID):\(day)", subject: .init(key: "rep:\(close.repID)", repID: close.repID, region: close.region),
            inputs: inputs,
            explanation: "\(repName) closed \(day) with \(close.valid) valid of \(close.planned) planned visits (\(Self.oneDecimal(rate)) %), below \(Self.oneDecimal(threshold)) %",
            at: at, on: connection)
    }

    /// Counts one rep's consecutive valid visits to a customer that stay short of
    /// the rule's stage and fires *stalled customer* once the streak is long
    /// enough. A customer whose funnel already stands at that stage on some
    /// product line (from the funnel events) is not stalled: the visit resets it.
    private func visitSubmitted(_ visit: Fieldwork_V1_VisitSubmitted, at: Date, on connection: PostgresConnection) async throws {
        guard visit.countsTowardPlan else { return }   // void or out of range: not a visit that counts
        let rule = try await strategy.rules(id: "stalled_customer", on: connection).first
        let stage = rule?.rule.parameters["stage"] ?? "QUOTED"
        let threshold = Int(rule?.rule.number("visits") ?? 3)
        var funnelReached = false
        for try await latest in try await connection.query(
            """
            SELECT DISTINCT ON (product_line) to_stage FROM funnel_changes WHERE customer_id = \(visit.customerID)
            ORDER BY product_line, changed_at DESC, event_id
            """, logger: environment.logger
        ).decode(String.self) where FunnelProgress.reaches(latest, stage) { funnelReached = true }
        var streak = try await visitStreak(rep: visit.repID, customer: visit.customerID, on: connection)
        let stalled = streak.add(
            visitID: visit.visitID, reachedStage: funnelReached || FunnelProgress.reaches(visit.stageReached, stage), threshold: threshold)
        try await connection.query(
            """
            UPDATE visit_streaks SET streak = \(try stableJSON(streak))::jsonb
            WHERE rep_id = \(visit.repID) AND customer_id = \(visit.customerID)
            """, logger: environment.logger)
        guard stalled, let stored = rule, stored.rule.enabled, let first = streak.firstVisitID else { return }
        let repName = try await personName(visit.repID, on: connection)
        var customerName = visit.customerID
        for try await name in try await connection.query(
            "SELECT name FROM directory_customers WHERE id = \(visit.customerID)", logger: environment.logger
        ).decode(String.self) { customerName = name }
        let inputs = [
            "rep_id": visit.repID, "rep_name": repName, "customer_id": visit.customerID, "customer_name": customerName,
            "visits": String(streak.visits), "stage": stage, "visit_ids": streak.recentVisitIDs.joined(separator: ","),
            "purchase_history": try await purchaseHistory(customer: visit.customerID, on: connection),
        ]
        try await strategy.fire(
            stored, occurrence: "\(visit.repID):\(visit.customerID):\(first)",
            subject: .init(key: "customer:\(visit.customerID)", repID: visit.repID), inputs: inputs,
            explanation: "\(repName) visited \(customerName) \(streak.visits) times in a row without the funnel reaching \(stage) (rule: \(threshold) visits)",
            at: at, on: connection)
    }

    /// A funnel reaching the rule's stage ends every rep's streak at that customer.
    private func funnelStageChanged(_ change: Fieldwork_V1_FunnelStageChanged, on connection: PostgresConnection) async throws {
        let stage = try await strategy.rules(id: "stalled_customer", on: connection).first?.rule.parameters["stage"] ?? "QUOTED"
        guard FunnelProgress.reaches(change.toStage, stage) else { return }
        try await connection.query(
            "UPDATE visit_streaks SET streak = \(try stableJSON(VisitStreak()))::jsonb WHERE customer_id = \(change.customerID)", logger: environment.logger)
    }

    /// The (rep, customer) streak, locked for this transaction.
    private func visitStreak(rep: String, customer: String, on connection: PostgresConnection) async throws -> VisitStreak {
        try await connection.query(
            """
            INSERT INTO visit_streaks (rep_id, customer_id, streak) VALUES (\(rep), \(customer), \(try stableJSON(VisitStreak()))::jsonb)
            ON CONFLICT (rep_id, customer_id) DO NOTHING
            """, logger: environment.logger)
        for try await json in try await connection.query(
            "SELECT streak::text FROM visit_streaks WHERE rep_id = \(rep) AND customer_id = \(customer) FOR UPDATE", logger: environment.logger
        ).decode(String.self) {
            return try JSONDecoder().decode(VisitStreak.self, from: Data(json.utf8))
        }
        return VisitStreak()
    }

    /// The customer's last five purchases and the total of the last twelve months, for the rep.
    private func purchaseHistory(customer: String, on connection: PostgresConnection) async throws -> String {
        var lines: [String] = []
        for try await (day, line, fen) in try await connection.query(
            "SELECT day::text, product_line, amount_fen FROM purchases WHERE customer_id = \(customer) ORDER BY day DESC, source_row_id LIMIT 5",
            logger: environment.logger
        ).decode((String, String, Int64).self) { lines.append("\(day) \(line) ¥\(Self.yuan(fen))") }
        guard !lines.isEmpty else { return "无采购记录" }
        let since = environment.calendar.adding(days: -365, to: environment.calendar.day(of: environment.clock.now())).description
        var total: Int64 = 0
        for try await sum in try await connection.query(
            "SELECT coalesce(sum(amount_fen), 0)::int8 FROM purchases WHERE customer_id = \(customer) AND day > \(since)::date",
            logger: environment.logger
        ).decode(Int64.self) { total = sum }
        return lines.joined(separator: "；") + "（近 12 个月合计 ¥\(Self.yuan(total))）"
    }

    func personName(_ id: String, on connection: PostgresConnection) async throws -> String {
        for try await name in try await connection.query(
            "SELECT name FROM directory_people WHERE id = \(id)", logger: environment.logger
        ).decode(String.self) { return name }
        return id
    }

    static func oneDecimal(_ value: Double) -> String { String(format: "%.1f", value) }

    static func yuan(_ fen: Int64) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.minimumFractionDigits = 2
        formatter.maximumFractionDigits = 2
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.usesGroupingSeparator = true
        formatter.groupingSeparator = ","
        return formatter.string(from: NSNumber(value: Double(fen) / 100)) ?? String(Double(fen) / 100)
    }
}
