import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// Grade changes take two steps (SPEC §2.6): a rep proposes with a reason; the
/// proposer's supervisor confirms (the grade changes) or rejects with a reason.
extension VisitsService {
    private static let gradeColumns = """
        id, customer_id, from_grade, to_grade, proposed_by, reason, status, decided_by, decision_reason, proposed_at, decided_at
        """

    func proposeGradeChange(_ request: Fieldwork_V1_ProposeGradeChangeRequest) async throws -> Fieldwork_V1_GradeChange {
        let customerID = try Input.text(request.customerID, field: "customer_id", required: true)
        let toGrade = try Input.text(request.toGrade, field: "to_grade", required: true)
        guard CustomerRecord.grades.contains(toGrade) else { throw DomainError.invalidArgument(field: "to_grade", message: "must be A, B or C") }
        let reason = try Input.text(request.reason, field: "reason", max: 1000, required: true)
        return try await environment.command("ProposeGradeChange", requestID: request.requestID) { connection, principal, now in
            guard let customer = try await directory.customer(customerID, on: connection, forUpdate: true)?.0 else {
                throw DomainError.notFound(entity: "customer", id: customerID)
            }
            // SPEC §8.3: the owning rep, the owner's manager chain, the region's director, admin.
            let directsRegion = principal.has(.director) && !principal.region.isEmpty && customer.region == principal.region
            let scope = try await scope(of: principal, on: connection)
            let ownerInScope = principal.has(.manager) && scope.includes(customer.ownerRepID)
            guard principal.has(.admin) || customer.ownerRepID == principal.personID || directsRegion || ownerInScope else {
                throw DomainError.permissionDenied("only \(customer.name)'s owning rep, their managers, the region's director or admin propose its grade")
            }
            guard customer.grade != toGrade else {
                throw DomainError.failedPrecondition("\(customer.name) is already grade \(toGrade)")
            }
            for try await _ in try await connection.query(
                "SELECT 1 FROM grade_changes WHERE customer_id = \(customerID) AND status = 'PROPOSED'", logger: environment.logger) {
                throw DomainError.failedPrecondition("\(customer.name) already has an open grade-change proposal")
            }
            let id = UUID()
            try await connection.query(
                """
                INSERT INTO grade_changes (id, customer_id, from_grade, to_grade, proposed_by, reason, status, proposed_at)
                VALUES (\(id), \(customerID), \(customer.grade), \(toGrade), \(principal.personID), \(reason), 'PROPOSED', \(now))
                """, logger: environment.logger)
            try await environment.audit(
                AuditRecord(entityType: "customer", entityID: customerID, action: "propose_grade",
                            changes: [.init("grade", customer.grade, toGrade)], reason: reason),
                by: principal, at: now, requestID: request.requestID, on: connection)
            return try await gradeChange(id, on: connection)
        }
    }

    func confirmGradeChange(_ request: Fieldwork_V1_DecideGradeChangeRequest) async throws -> Fieldwork_V1_GradeChange {
        try await decide(request, confirm: true)
    }

    func rejectGradeChange(_ request: Fieldwork_V1_DecideGradeChangeRequest) async throws -> Fieldwork_V1_GradeChange {
        try await decide(request, confirm: false)
    }

    private func decide(_ request: Fieldwork_V1_DecideGradeChangeRequest, confirm: Bool) async throws -> Fieldwork_V1_GradeChange {
        guard let id = UUID(uuidString: request.proposalID) else {
            throw DomainError.invalidArgument(field: "proposal_id", message: "'\(request.proposalID)' is not a proposal id")
        }
        let reason = try Input.text(request.reason, field: "reason", max: 1000, required: !confirm)
        let method = confirm ? "ConfirmGradeChange" : "RejectGradeChange"
        return try await environment.command(method, requestID: request.requestID) { connection, principal, now in
            var change = try await gradeChange(id, on: connection, forUpdate: true)
            guard change.status == .proposed else {
                throw DomainError.failedPrecondition("proposal \(request.proposalID) is already \(change.status == .confirmed ? "confirmed" : "rejected")")
            }
            // The second confirmation is the proposer's supervisor's (or an admin's), never the proposer's.
            let proposer = try await directory.person(change.proposedBy, on: connection)?.0
            guard change.proposedBy != principal.personID,
                  principal.has(.admin) || proposer?.supervisorID == principal.personID else {
                throw DomainError.permissionDenied("only \(change.proposedBy)'s supervisor decides this proposal")
            }
            try await connection.query(
                """
                UPDATE grade_changes SET status = \(confirm ? "CONFIRMED" : "REJECTED"), decided_by = \(principal.personID),
                    decision_reason = \(reason), decided_at = \(now)
                WHERE id = \(id)
                """, logger: environment.logger)
            try await environment.audit(
                AuditRecord(entityType: "customer", entityID: change.customerID, action: confirm ? "confirm_grade" : "reject_grade",
                            changes: confirm ? [.init("grade", change.fromGrade, change.toGrade)] : [], reason: reason),
                by: principal, at: now, requestID: request.requestID, on: connection)
            if confirm {
                try await connection.query(
                    "UPDATE customers SET grade = \(change.toGrade), updated_at = \(now) WHERE id = \(change.customerID)",
                    logger: environment.logger)
                try await environment.publish(.gradeChanged(.with {
                    $0.customerID = change.customerID
                    $0.fromGrade = change.fromGrade
                    $0.toGrade = change.toGrade
                    $0.proposedBy = change.proposedBy
                    $0.confirmedBy = principal.personID
                    $0.reason = change.reason
                }), aggregateID: "customer:\(change.customerID)", at: now, on: connection)
                if let customer = try await directory.customer(change.customerID, on: connection) {
                    try await environment.publish(.customerChanged(.with { $0.customer = DirectoryStore.proto(customer.0, updatedAt: customer.updatedAt) }),
                                                  aggregateID: "customer:\(change.customerID)", at: now, on: connection)
                }
            }
            change = try await gradeChange(id, on: connection)
            return change
        }
    }

    func listGradeChanges(_ request: Fieldwork_V1_ListGradeChangesRequest) async throws -> Fieldwork_V1_ListGradeChangesResponse {
        let principal = try Principal.required()
        let page = try Page(request.page)
        let window = try TimeWindow(request.range)
        let status: String = switch request.status {
        case .proposed: "PROPOSED"
        case .confirmed: "CONFIRMED"
        case .rejected: "REJECTED"
        case .unspecified: ""
        case .UNRECOGNIZED(let value): throw DomainError.invalidArgument(field: "status", message: "unknown value \(value)")
        }
        let after = try page.idKey()
        let customer = try Input.text(request.customerID, field: "customer_id")
        // Visible: the proposals of people in the caller's scope, and those the caller decides (direct reports').
        let scope = try await scope(of: principal)
        let rows = try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.gradeColumns.split(separator: ",").map { "g." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", "))
            FROM grade_changes g LEFT JOIN people p ON p.id = g.proposed_by
            WHERE (\(after)::uuid IS NULL OR g.id > \(after)) AND g.proposed_at >= \(window.from) AND g.proposed_at < \(window.to)
              AND (\(customer) = '' OR g.customer_id = \(customer)) AND (\(status) = '' OR g.status = \(status))
              AND (\(scope.everyone) OR g.proposed_by = ANY (\(scope.people)) OR p.supervisor_id = \(principal.personID))
            ORDER BY g.id LIMIT \(page.limit)
            """, logger: environment.logger)
        var changes: [Fieldwork_V1_GradeChange] = []
        for try await row in rows { changes.append(try Self.decodeGradeChange(row)) }
        let finished = page.finish(changes) { $0.id }
        return .with { $0.changes = finished.rows; $0.page = finished.page }
    }

    private func gradeChange(_ id: UUID, on connection: PostgresConnection, forUpdate: Bool = false) async throws -> Fieldwork_V1_GradeChange {
        let rows = try await connection.query(
            forUpdate ? "SELECT \(unescaped: Self.gradeColumns) FROM grade_changes WHERE id = \(id) FOR UPDATE"
                      : "SELECT \(unescaped: Self.gradeColumns) FROM grade_changes WHERE id = \(id)",
            logger: environment.logger)
        for try await row in rows { return try Self.decodeGradeChange(row) }
        throw DomainError.notFound(entity: "grade-change proposal", id: id.uuidString.lowercased())
    }

    private static func decodeGradeChange(_ row: PostgresRow) throws -> Fieldwork_V1_GradeChange {
        let (id, customer, from, to, proposedBy, reason, status, decidedBy, decisionReason, proposedAt, decidedAt) =
            try row.decode((UUID, String, String, String, String, String, String, String, String, Date, Date?).self)
        return .with {
            $0.id = id.uuidString.lowercased()
            $0.customerID = customer
            $0.fromGrade = from
            $0.toGrade = to
            $0.proposedBy = proposedBy
            $0.reason = reason
            $0.status = status == "CONFIRMED" ? .confirmed : status == "REJECTED" ? .rejected : .proposed
            $0.decidedBy = decidedBy
            $0.decisionReason = decisionReason
            $0.proposedAt = .init(proposedAt)
            if let decidedAt { $0.decidedAt = .init(decidedAt) }
        }
    }
}
