import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// The funnel (SPEC §2.8): a stage per customer and product line; every change
/// is kept with actor and time, published, and counted by the funnel report.
extension VisitsService {
    /// LEAD → VISITED → NEEDS_CONFIRMED → QUOTED → TRIAL → WON / LOST.
    static let stageOrder: [Fieldwork_V1_FunnelStage] = [.lead, .visited, .needsConfirmed, .quoted, .trial, .won, .lost]

    static func stageName(_ stage: Fieldwork_V1_FunnelStage) -> String {
        switch stage {
        case .lead: "LEAD"
        case .visited: "VISITED"
        case .needsConfirmed: "NEEDS_CONFIRMED"
        case .quoted: "QUOTED"
        case .trial: "TRIAL"
        case .won: "WON"
        case .lost: "LOST"
        default: ""
        }
    }

    static func stage(named name: String) -> Fieldwork_V1_FunnelStage {
        stageOrder.first { stageName($0) == name } ?? .unspecified
    }

    func setStage(_ request: Fieldwork_V1_SetStageRequest) async throws -> Fieldwork_V1_FunnelEntry {
        let customerID = try Input.text(request.customerID, field: "customer_id", required: true)
        let line = try Input.text(request.productLine, field: "product_line", max: 64, required: true)
        guard Self.stageOrder.contains(request.stage) else { throw DomainError.invalidArgument(field: "stage", message: "is required") }
        return try await environment.command("SetStage", requestID: request.requestID) { connection, principal, now in
            guard let customer = try await directory.customer(customerID, on: connection)?.0 else {
                throw DomainError.notFound(entity: "customer", id: customerID)
            }
            // SPEC §8.3: the owner's manager chain, the region's director, admin. Reps move it by visiting.
            let directsRegion = principal.has(.director) && !principal.region.isEmpty && customer.region == principal.region
            let scope = try await scope(of: principal, on: connection)
            let managesOwner = principal.has(.manager) && customer.ownerRepID != principal.personID && scope.includes(customer.ownerRepID)
            guard principal.has(.admin) || directsRegion || managesOwner else {
                throw DomainError.permissionDenied("only \(customer.name)'s owner's managers, the region's director or admin set its stage")
            }
            try await requireProductLine(line, on: connection)
            try await moveStage(customer: customerID, line: line, to: request.stage, by: principal, at: now, requestID: request.requestID, onlyForward: false, on: connection)
            return try await funnelEntries(customer: customerID, line: line, on: connection).first ?? Fieldwork_V1_FunnelEntry()
        }
    }

    /// Records a stage change (no-op when unchanged). With `onlyForward`, as from a
    /// visit record, a stage never moves back and WON/LOST are left alone.
    func moveStage(
        customer: String, line: String, to stage: Fieldwork_V1_FunnelStage, by principal: Principal, at now: Date, requestID: String,
        onlyForward: Bool, on connection: PostgresConnection
    ) async throws {
        var current = Fieldwork_V1_FunnelStage.unspecified
        for try await name in try await connection.query(
            "SELECT stage FROM funnel WHERE customer_id = \(customer) AND product_line = \(line) FOR UPDATE", logger: environment.logger
        ).decode(String.self) { current = Self.stage(named: name) }
        guard current != stage else { return }
        if onlyForward {
            guard current != .won, current != .lost, stage != .lost,
                  (Self.stageOrder.firstIndex(of: stage) ?? 0) > (Self.stageOrder.firstIndex(of: current) ?? -1) else { return }
        }
        let from = Self.stageName(current), to = Self.stageName(stage)
        try await connection.query(
            """
            INSERT INTO funnel (customer_id, product_line, stage, changed_by, changed_at)
            VALUES (\(customer), \(line), \(to), \(principal.personID), \(now))
            ON CONFLICT (customer_id, product_line) DO UPDATE SET stage = excluded.stage, changed_by = excluded.changed_by,
                changed_at = excluded.changed_at
            """, logger: environment.logger)
        try await connection.query(
            """
            INSERT INTO funnel_changes (customer_id, product_line, from_stage, to_stage, actor_id, at)
            VALUES (\(customer), \(line), \(from), \(to), \(principal.personID), \(now))
            """, logger: environment.logger)
        try await environment.audit(
            AuditRecord(entityType: "funnel", entityID: "\(customer)/\(line)", action: "set_stage", changes: [.init("stage", from, to)]),
            by: principal, at: now, requestID: requestID, on: connection)
        try await environment.publish(.funnelStageChanged(.with {
            $0.customerID = customer
            $0.productLine = line
            $0.fromStage = from
            $0.toStage = to
            $0.actorID = principal.personID
            $0.changedAt = .init(now)
        }), aggregateID: "funnel:\(customer):\(line)", at: now, on: connection)
    }

    func getFunnel(_ request: Fieldwork_V1_GetFunnelRequest) async throws -> Fieldwork_V1_GetFunnelResponse {
        let customer = try Input.text(request.customerID, field: "customer_id", required: true)
        let line = try Input.text(request.productLine, field: "product_line", max: 64)
        let entries = try await environment.postgres.withConnection { try await funnelEntries(customer: customer, line: line, on: $0) }
        return .with { $0.entries = entries }
    }

    /// How many customer × product lines entered each stage in the period, and
    /// the share of those that also entered the next stage in it.
    func funnelReport(_ request: Fieldwork_V1_FunnelReportRequest) async throws -> Fieldwork_V1_FunnelReportResponse {
        let window = try TimeWindow(request.range)
        let region = try Input.text(request.region, field: "region", max: 32)
        let line = try Input.text(request.productLine, field: "product_line", max: 64)
        var reached: [String: Int] = [:]
        for try await (stage, count) in try await environment.postgres.query(
            """
            SELECT f.to_stage, count(DISTINCT (f.customer_id, f.product_line))::int8
            FROM funnel_changes f JOIN customers c ON c.id = f.customer_id
            WHERE f.at >= \(window.from) AND f.at < \(window.to)
              AND (\(region) = '' OR c.region = \(region)) AND (\(line) = '' OR f.product_line = \(line))
            GROUP BY f.to_stage
            """, logger: environment.logger
        ).decode((String, Int).self) { reached[stage] = count }
        let stages = Self.stageOrder
        return .with {
            $0.stages = stages.enumerated().map { index, stage in
                let count = reached[Self.stageName(stage)] ?? 0
                // WON's "next" is nothing; LOST is an exit, not a step.
                let next = index + 1 < stages.count - 1 ? reached[Self.stageName(stages[index + 1])] ?? 0 : 0
                return .with {
                    $0.stage = stage
                    $0.count = Int32(count)
                    $0.conversionToNext = count == 0 || stage == .won || stage == .lost ? 0 : Double(next) / Double(count)
                }
            }
        }
    }

    private func funnelEntries(customer: String, line: String, on connection: PostgresConnection) async throws -> [Fieldwork_V1_FunnelEntry] {
        var entries: [Fieldwork_V1_FunnelEntry] = []
        for try await (customerID, productLine, stage, by, at) in try await connection.query(
            """
            SELECT customer_id, product_line, stage, changed_by, changed_at FROM funnel
            WHERE customer_id = \(customer) AND (\(line) = '' OR product_line = \(line)) ORDER BY product_line
            """, logger: environment.logger
        ).decode((String, String, String, String, Date).self) {
            entries.append(.with {
                $0.customerID = customerID
                $0.productLine = productLine
                $0.stage = Self.stage(named: stage)
                $0.changedBy = by
                $0.changedAt = .init(at)
            })
        }
        return entries
    }

    private func requireProductLine(_ line: String, on connection: PostgresConnection) async throws {
        for try await _ in try await connection.query("SELECT 1 FROM products WHERE product_line = \(line) LIMIT 1", logger: environment.logger) {
            return
        }
        throw DomainError.invalidArgument(field: "product_line", message: "'\(line)' is not a product line of the catalogue")
    }
}
