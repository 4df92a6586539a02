import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// Reading scores back: a customer's latest, the table of the latest run, and a
/// customer's history across runs. A rep sees the customers they own; managers,
/// directors and admins see all.
extension ScoringService {
    private static let healthColumns = """
        h.customer_id, coalesce(c.name, ''), coalesce(c.region, ''), h.score, h.purchases, h.trials, h.academic, h.grade,
        h.model_version, h.run_id, h.as_of, h.cultivation_hint, h.warnings
        """

    private static func decodeHealth(_ row: PostgresRow) throws -> Fieldwork_V1_CustomerHealth {
        let (customer, name, region, score, p, t, a, grade, version, run, asOf, hint, warnings) =
            try row.decode((String, String, String, Double, Double, Double, Double, String, Int32, UUID, Date, Bool, [String]).self)
        return .with {
            $0.customerID = customer
            $0.customerName = name
            $0.region = region
            $0.score = score
            $0.components = .with { $0.purchases = p; $0.trials = t; $0.academic = a }
            $0.grade = grade
            $0.modelVersion = version
            $0.runID = run.uuidString.lowercased()
            $0.asOf = .init(asOf)
            $0.cultivationHint = hint
            $0.warnings = warnings
        }
    }

    /// SPEC §8.3: scores are read for the customers whose owner the caller's
    /// scope reaches — a rep their own, a manager their team's, a director and
    /// the region's operations staff their region's, executive and admin all.
    func customerOwners(_ principal: Principal) async throws -> Scope {
        var reaches = Scope.records
        reaches[.ops] = .region
        return try await Scope.of(
            principal, reach: Scope.reach(of: principal, reaches), directory: .replica, on: environment.postgres, logger: environment.logger)
    }

    func getCustomerHealth(_ request: Fieldwork_V1_GetCustomerHealthRequest) async throws -> Fieldwork_V1_CustomerHealth {
        let customer = try Input.text(request.customerID, field: "customer_id", max: 64, required: true)
        let found = try await history(customer: customer, window: TimeWindow(from: .distantPast, to: .distantFuture), newestFirst: true,
                                      after: nil, limit: 1)
        guard let latest = found.first else { throw DomainError.notFound(entity: "health score of customer", id: customer) }
        return latest
    }

    func healthHistory(_ request: Fieldwork_V1_HealthHistoryRequest) async throws -> Fieldwork_V1_HealthHistoryResponse {
        let customer = try Input.text(request.customerID, field: "customer_id", max: 64, required: true)
        let page = try Page(request.page)
        let points = try await history(customer: customer, window: try TimeWindow(request.range), newestFirst: false,
                                       after: try page.instantKey(), limit: page.limit)
        let finished = page.finish(points) { Page.instantKey($0.asOf.date) }
        return .with { $0.points = finished.rows; $0.page = finished.page }
    }

    private func history(customer: String, window: TimeWindow, newestFirst: Bool, after: Date?, limit: Int) async throws -> [Fieldwork_V1_CustomerHealth] {
        let owners = try await customerOwners(try Principal.required())
        var points: [Fieldwork_V1_CustomerHealth] = []
        for try await row in try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.healthColumns) FROM customer_health h LEFT JOIN directory_customers c ON c.id = h.customer_id
            WHERE h.customer_id = \(customer) AND h.as_of >= \(window.from) AND h.as_of < \(window.to)
              AND (\(after)::timestamptz IS NULL OR h.as_of > \(after))
              AND (\(owners.everyone) OR c.owner_rep_id = ANY (\(owners.people)))
            ORDER BY h.as_of \(unescaped: newestFirst ? "DESC" : "ASC"), h.run_id LIMIT \(limit)
            """, logger: environment.logger) {
            points.append(try Self.decodeHealth(row))
        }
        return points
    }

    /// The latest run's table, filtered and sorted (score descending by default).
    func listCustomerHealth(_ request: Fieldwork_V1_ListCustomerHealthRequest) async throws -> Fieldwork_V1_ListCustomerHealthResponse {
        let page = try Page(request.page)
        let offset = try page.offset()
        let order: String
        switch request.sort {
        case "", "score": order = "h.score DESC, h.customer_id"
        case "-score": order = "h.score ASC, h.customer_id"
        case "customer": order = "h.customer_id"
        default: throw DomainError.invalidArgument(field: "sort", message: "use score, -score or customer")
        }
        let region = try Input.text(request.region, field: "region", max: 32)
        let grade = try Input.text(request.grade, field: "grade", max: 1)
        let owners = try await customerOwners(try Principal.required())
        var customers: [Fieldwork_V1_CustomerHealth] = []
        // Offset paging: a run's table does not change once written.
        for try await row in try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.healthColumns) FROM customer_health h LEFT JOIN directory_customers c ON c.id = h.customer_id
            WHERE h.run_id = (SELECT id FROM scoring_runs ORDER BY as_of DESC, created_at DESC LIMIT 1)
              AND (\(region) = '' OR c.region = \(region)) AND (\(grade) = '' OR h.grade = \(grade))
              AND (\(owners.everyone) OR c.owner_rep_id = ANY (\(owners.people))) AND (NOT \(request.warningsOnly) OR cardinality(h.warnings) > 0)
            ORDER BY \(unescaped: order) OFFSET \(offset) LIMIT \(page.limit)
            """, logger: environment.logger) {
            customers.append(try Self.decodeHealth(row))
        }
        let finished = page.finish(customers, offset: offset)
        return .with { $0.customers = finished.rows; $0.page = finished.page }
    }

    /// Red warnings, newest first: a rep sees their own customers'.
    func listWarnings(_ request: Fieldwork_V1_ListWarningsRequest) async throws -> Fieldwork_V1_ListWarningsResponse {
        let page = try Page(request.page)
        let window = try TimeWindow(request.range)
        let customer = try Input.text(request.customerID, field: "customer_id", max: 64)
        let owners = try await customerOwners(try Principal.required())
        let after = try page.timeKey()
        var warnings: [Fieldwork_V1_Warning] = []
        for try await (id, customerID, component, start, weeks, raisedAt, notified) in try await environment.postgres.query(
            """
            SELECT w.id, w.customer_id, w.component, w.streak_start::text, w.weeks, w.raised_at, w.notified
            FROM warnings w LEFT JOIN directory_customers c ON c.id = w.customer_id
            WHERE (\(customer) = '' OR w.customer_id = \(customer)) AND w.raised_at >= \(window.from) AND w.raised_at < \(window.to)
              AND (\(owners.everyone) OR c.owner_rep_id = ANY (\(owners.people)))
              AND (\(after?.0)::timestamptz IS NULL OR (w.raised_at, w.id) < (\(after?.0), \(after?.1)))
            ORDER BY w.raised_at DESC, w.id DESC LIMIT \(page.limit)
            """, logger: environment.logger
        ).decode((UUID, String, String, String, Int32, Date, [String]).self) {
            warnings.append(.with {
                $0.id = id.uuidString.lowercased()
                $0.customerID = customerID
                $0.component = component
                if let day = LocalDate(iso: start) { $0.streakStart = .with { $0.year = Int32(day.year); $0.month = Int32(day.month); $0.day = Int32(day.day) } }
                $0.weeks = weeks
                $0.raisedAt = .init(raisedAt)
                $0.notifiedPersonIds = notified
            })
        }
        let finished = page.finish(warnings) { Page.timeKey($0.raisedAt.date, $0.id) }
        return .with { $0.warnings = finished.rows; $0.page = finished.page }
    }
}
