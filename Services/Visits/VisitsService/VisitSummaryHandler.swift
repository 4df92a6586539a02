import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation

/// A manager's real-time view (SPEC §2.9): per rep and customer, the submitted
/// visits in a window (default this ISO week) with products mentioned,
/// objections and intents — "3 visits to 浙一 this week, 2 mentioned the new
/// spine consumable, 1 clear trial intent".
extension VisitsService {
    func visitSummary(_ request: Fieldwork_V1_VisitSummaryRequest) async throws -> Fieldwork_V1_VisitSummaryResponse {
        let scope = try await scope(of: try Principal.required())
        let page = try Page(request.page)
        let rep = try Input.text(request.repID, field: "rep_id")
        var window = try TimeWindow(request.range)
        if !request.hasRange {
            let calendar = environment.calendar
            var monday = calendar.day(of: environment.clock.now())
            while calendar.isoWeekday(of: calendar.instant(monday, hour: 12)) != 1 { monday = calendar.adding(days: -1, to: monday) }
            window = TimeWindow(from: calendar.instant(monday), to: calendar.instant(calendar.adding(days: 7, to: monday)))
        }
        let rows = try await environment.postgres.query(
            """
            SELECT v.rep_id, v.customer_id, v.product_ids, v.objection_type, coalesce(v.record->>'intent', '')
            FROM visits v
            WHERE v.status = 'SUBMITTED' AND v.checked_in_at >= \(window.from) AND v.checked_in_at < \(window.to)
              AND (\(rep) = '' OR v.rep_id = \(rep))
              AND (\(scope.everyone) OR v.rep_id = ANY (\(scope.people)))
              AND v.rep_id || '|' || v.customer_id > \(page.after)
            ORDER BY v.rep_id, v.customer_id
            """, logger: environment.logger)
        var summary: [String: Fieldwork_V1_VisitSummaryRow] = [:]
        for try await (repID, customer, products, objection, intent) in rows.decode((String, String, [String], String, String).self) {
            let key = "\(repID)|\(customer)"
            var row = summary[key] ?? .with { $0.repID = repID; $0.customerID = customer }
            row.visits += 1
            for product in Set(products) { row.productMentions[product, default: 0] += 1 }
            if !objection.isEmpty { row.objections[objection, default: 0] += 1 }
            if !intent.isEmpty { row.intents[intent, default: 0] += 1 }
            summary[key] = row
        }
        let ordered = summary.keys.sorted().prefix(page.limit).map { summary[$0]! }
        let finished = page.finish(ordered) { "\($0.repID)|\($0.customerID)" }
        return .with { $0.rows = finished.rows; $0.page = finished.page }
    }
}
