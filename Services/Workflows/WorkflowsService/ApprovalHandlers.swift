import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// Approval chains (SPEC §3.6). A chain is data: ordered steps with an amount
/// threshold and optional product lines. A submission keeps the steps that
/// apply and names one approver per step from the directory copy; the steps
/// are decided in order, only by the named approver, and a rejection ends it.
extension WorkflowsService {
    // MARK: Chains

    func upsertApprovalChain(_ request: Fieldwork_V1_UpsertApprovalChainRequest) async throws -> Fieldwork_V1_ApprovalChain {
        let chain = request.chain
        let id = try Input.slug(chain.id, field: "chain.id")
        let name = try Input.text(chain.name, field: "chain.name", max: 100, required: true)
        var rules: [ApprovalStepRule] = []
        for (index, step) in chain.steps.enumerated() {
            guard let approver = ApprovalStepRule.Approver(rawValue: step.role) else {
                throw DomainError.invalidArgument(
                    field: "chain.steps[\(index)].role",
                    message: "'\(step.role)' is not one of \(ApprovalStepRule.Approver.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let lines = try step.productLines.map { try Input.text($0, field: "chain.steps[\(index)].product_lines", max: 64, required: true) }
            rules.append(ApprovalStepRule(approver: approver, minAmountFen: step.minAmountFen, productLines: lines))
        }
        try ApprovalRules.validate(rules)
        let stepsJSON = String(decoding: try JSONEncoder().encode(rules), as: UTF8.self)
        return try await environment.command("UpsertApprovalChain", requestID: request.requestID) { connection, principal, now in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("chain:" + id), 0))", logger: environment.logger)
            let previous = try await approvalChain(id, on: connection)
            let version = (previous?.version ?? 0) + 1
            try await connection.query(
                """
                INSERT INTO approval_chains (id, version, name, steps, updated_at)
                VALUES (\(id), \(Int(version)), \(name), \(stepsJSON)::jsonb, \(now))
                """, logger: environment.logger)
            let before = try previous.map { String(decoding: try JSONEncoder().encode($0.rules), as: UTF8.self) } ?? ""
            try await environment.audit(
                AuditRecord(entityType: "approval_chain", entityID: id, action: previous == nil ? "create" : "revise", changes: [
                    .init("version", previous.map { String($0.version) } ?? "", String(version)), .init("steps", before, stepsJSON),
                ]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            return Self.proto(id: id, name: name, version: version, rules: rules)
        }
    }

    func listApprovalChains(_ request: Fieldwork_V1_ListApprovalChainsRequest) async throws -> Fieldwork_V1_ListApprovalChainsResponse {
        let page = try Page(request.page)
        let rows = try await environment.postgres.query(
            """
            SELECT id, version, name, steps::text FROM approval_chains
            WHERE (id, version) IN (SELECT id, max(version) FROM approval_chains GROUP BY id) AND id > \(page.after)
            ORDER BY id LIMIT \(page.limit)
            """, logger: environment.logger)
        var chains: [Fieldwork_V1_ApprovalChain] = []
        for try await (id, version, name, steps) in rows.decode((String, Int32, String, String).self) {
            chains.append(Self.proto(id: id, name: name, version: version, rules: try Self.rules(steps)))
        }
        let finished = page.finish(chains) { $0.id }
        return .with { $0.chains = finished.rows; $0.page = finished.page }
    }

    private func approvalChain(_ id: String, on connection: PostgresConnection) async throws -> (version: Int32, name: String, rules: [ApprovalStepRule])? {
        for try await (version, name, steps) in try await connection.query(
            "SELECT version, name, steps::text FROM approval_chains WHERE id = \(id) ORDER BY version DESC LIMIT 1", logger: environment.logger
        ).decode((Int32, String, String).self) {
            return (version, name, try Self.rules(steps))
        }
        return nil
    }

    private static func rules(_ json: String) throws -> [ApprovalStepRule] {
        try JSONDecoder().decode([ApprovalStepRule].self, from: Data(json.utf8))
    }

    private static func proto(id: String, name: String, version: Int32, rules: [ApprovalStepRule]) -> Fieldwork_V1_ApprovalChain {
        .with {
            $0.id = id
            $0.name = name
            $0.version = version
            $0.steps = rules.map { rule in
                .with { $0.role = rule.approver.rawValue; $0.minAmountFen = rule.minAmountFen; $0.productLines = rule.productLines }
            }
        }
    }

    // MARK: Approvals

    func submitForApproval(_ request: Fieldwork_V1_SubmitForApprovalRequest) async throws -> Fieldwork_V1_Approval {
        let chainID = try Input.text(request.chainID.isEmpty ? "contract" : request.chainID, field: "chain_id", max: 64)
        let subject = try Input.text(request.subject, field: "subject", max: 500, required: true)
        guard request.amount.fen > 0 else { throw DomainError.invalidArgument(field: "amount.fen", message: "must be positive") }
        let productLine = try Input.text(request.productLine, field: "product_line", max: 64)
        let customerID = try Input.text(request.customerID, field: "customer_id", max: 64)
        return try await environment.command("SubmitForApproval", requestID: request.requestID) { connection, principal, now in
            guard let chain = try await approvalChain(chainID, on: connection) else { throw DomainError.notFound(entity: "approval chain", id: chainID) }
            // A step may apply to some product lines only: an unknown line must not slip past it.
            if !productLine.isEmpty {
                var known = false
                for try await _ in try await connection.query(
                    "SELECT 1 FROM directory_products WHERE product_line = \(productLine) LIMIT 1", logger: environment.logger) { known = true }
                guard known else { throw DomainError.invalidArgument(field: "product_line", message: "'\(productLine)' is not a product line of the catalogue") }
            } else if chain.rules.contains(where: { !$0.productLines.isEmpty }) {
                throw DomainError.invalidArgument(field: "product_line", message: "is required: chain \(chainID) has steps for some product lines")
            }
            let steps = ApprovalRules.steps(of: chain.rules, amountFen: request.amount.fen, productLine: productLine)
            guard !steps.isEmpty else {
                throw DomainError.failedPrecondition("no step of chain \(chainID) applies to \(request.amount.fen) fen for '\(productLine)'")
            }
            var approvers: [String] = []
            for (index, step) in steps.enumerated() {
                let approver = try await resolve(step.approver, for: principal.personID, on: connection)
                guard let approver, approver != principal.personID else {
                    throw DomainError.failedPrecondition(
                        "step \(index + 1) (\(step.approver.rawValue)) has no approver other than the submitter in the directory")
                }
                approvers.append(approver)
            }
            let id = UUID()
            try await connection.query(
                """
                INSERT INTO approvals (id, chain_id, chain_version, subject, amount_fen, product_line, customer_id, submitter_id, status,
                                       current_step, created_at)
                VALUES (\(id), \(chainID), \(Int(chain.version)), \(subject), \(request.amount.fen), \(productLine), \(customerID),
                        \(principal.personID), 'PENDING', 0, \(now))
                """, logger: environment.logger)
            for (index, step) in steps.enumerated() {
                try await connection.query(
                    """
                    INSERT INTO approval_steps (approval_id, index, role, approver_id, status)
                    VALUES (\(id), \(index), \(step.approver.rawValue), \(approvers[index]), 'PENDING')
                    """, logger: environment.logger)
            }
            try await environment.audit(
                AuditRecord(entityType: "approval", entityID: id.uuidString.lowercased(), action: "submit", changes: [
                    .init("chain", "", "\(chainID) v\(chain.version)"), .init("amount_fen", "", String(request.amount.fen)),
                    .init("approvers", "", zip(steps, approvers).map { "\($0.approver.rawValue)=\($1)" }.joined(separator: "|")),
                ]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            try await publishPending(approval: id, step: 0, approver: approvers[0], subject: subject, at: now, on: connection)
            return try await approval(id, on: connection)
        }
    }

    func approve(_ request: Fieldwork_V1_DecideApprovalRequest) async throws -> Fieldwork_V1_Approval {
        try await decide(request, approve: true)
    }

    func reject(_ request: Fieldwork_V1_DecideApprovalRequest) async throws -> Fieldwork_V1_Approval {
        try await decide(request, approve: false)
    }

    private func decide(_ request: Fieldwork_V1_DecideApprovalRequest, approve: Bool) async throws -> Fieldwork_V1_Approval {
        guard let id = UUID(uuidString: request.approvalID) else {
            throw DomainError.invalidArgument(field: "approval_id", message: "'\(request.approvalID)' is not an approval id")
        }
        let comment = try Input.text(request.comment, field: "comment", max: 1000, required: !approve)
        return try await environment.command(approve ? "Approve" : "Reject", requestID: request.requestID) { connection, principal, now in
            var current: (step: Int, status: String, submitter: String, subject: String)?
            for try await row in try await connection.query(
                "SELECT current_step, status, submitter_id, subject FROM approvals WHERE id = \(id) FOR UPDATE", logger: environment.logger
            ).decode((Int, String, String, String).self) { current = row }
            guard let current else { throw DomainError.notFound(entity: "approval", id: request.approvalID) }
            let approval = try await approval(id, on: connection)
            guard approval.steps.contains(where: { $0.approverID == principal.personID }) || principal.personID == current.submitter
                || principal.hasAny([.admin, .director, .executive]) else {
                throw DomainError.notFound(entity: "approval", id: request.approvalID)
            }
            guard current.status == "PENDING" else {
                throw DomainError.failedPrecondition("approval \(request.approvalID) is already \(current.status)")
            }
            let step = approval.steps[current.step]
            guard step.approverID == principal.personID else {
                throw DomainError.permissionDenied("step \(current.step + 1) (\(step.role)) is decided by \(step.approverID) only")
            }
            let outcome = approve ? "APPROVED" : "REJECTED"
            try await connection.query(
                """
                UPDATE approval_steps SET status = \(outcome), comment = \(comment), decided_at = \(now)
                WHERE approval_id = \(id) AND index = \(current.step)
                """, logger: environment.logger)
            let last = current.step == approval.steps.count - 1
            var changes: [AuditRecord.Change] = [.init("step \(current.step + 1) (\(step.role))", "PENDING", outcome)]
            if approve && !last {
                try await connection.query("UPDATE approvals SET current_step = \(current.step + 1) WHERE id = \(id)", logger: environment.logger)
                let next = approval.steps[current.step + 1]
                try await publishPending(approval: id, step: current.step + 1, approver: next.approverID, subject: current.subject, at: now, on: connection)
            } else {
                try await connection.query(
                    "UPDATE approvals SET status = \(outcome), decided_at = \(now) WHERE id = \(id)", logger: environment.logger)
                changes.append(.init("status", "PENDING", outcome))
                try await environment.publish(.approvalDecided(.with {
                    $0.approvalID = id.uuidString.lowercased()
                    $0.outcome = outcome
                    $0.submitterID = current.submitter
                }), aggregateID: "approval:\(id.uuidString.lowercased())", at: now, on: connection)
            }
            try await environment.audit(
                AuditRecord(entityType: "approval", entityID: id.uuidString.lowercased(), action: approve ? "approve" : "reject",
                            changes: changes, reason: comment),
                by: principal, at: now, requestID: request.requestID, on: connection)
            return try await self.approval(id, on: connection)
        }
    }

    func getApproval(_ request: Fieldwork_V1_GetApprovalRequest) async throws -> Fieldwork_V1_Approval {
        guard let id = UUID(uuidString: request.id) else {
            throw DomainError.invalidArgument(field: "id", message: "'\(request.id)' is not an approval id")
        }
        let principal = try Principal.required()
        let approval = try await environment.postgres.withConnection { try await self.approval(id, on: $0) }
        guard Self.mayView(approval, principal) else { throw DomainError.notFound(entity: "approval", id: request.id) }
        return approval
    }

    /// Approvals the caller submitted or is named in; directors and admins see all.
    /// With `approver_id`, those where that person decides the current step.
    func listApprovals(_ request: Fieldwork_V1_ListApprovalsRequest) async throws -> Fieldwork_V1_ListApprovalsResponse {
        let principal = try Principal.required()
        let page = try Page(request.page)
        let window = try TimeWindow(request.range)
        let approver = try Input.text(request.approverID, field: "approver_id", max: 64)
        let after = try page.idKey()
        let status: String = switch request.status {
        case .pending: "PENDING"
        case .approved: "APPROVED"
        case .rejected: "REJECTED"
        default: ""
        }
        let everyone = principal.hasAny([.admin, .director, .executive])
        let approvals = try await environment.postgres.withConnection { connection in
            var ids: [UUID] = []
            for try await id in try await connection.query(
                """
                SELECT a.id FROM approvals a
                WHERE (\(after)::uuid IS NULL OR a.id > \(after)) AND a.created_at >= \(window.from) AND a.created_at < \(window.to)
                  AND (\(status) = '' OR a.status = \(status))
                  AND (\(approver) = '' OR EXISTS (SELECT 1 FROM approval_steps s WHERE s.approval_id = a.id AND s.index = a.current_step
                                                   AND s.approver_id = \(approver) AND s.status = 'PENDING'))
                  AND (\(everyone) OR a.submitter_id = \(principal.personID)
                       OR EXISTS (SELECT 1 FROM approval_steps s WHERE s.approval_id = a.id AND s.approver_id = \(principal.personID)))
                ORDER BY a.id LIMIT \(page.limit)
                """, logger: environment.logger
            ).decode(UUID.self) { ids.append(id) }
            return try await self.approvals(ids, on: connection)
        }
        let finished = page.finish(approvals) { $0.id }
        return .with { $0.approvals = finished.rows; $0.page = finished.page }
    }

    private static func mayView(_ approval: Fieldwork_V1_Approval, _ principal: Principal) -> Bool {
        principal.hasAny([.admin, .director, .executive]) || approval.submitterID == principal.personID
            || approval.steps.contains { $0.approverID == principal.personID }
    }

    private func approval(_ id: UUID, on connection: PostgresConnection) async throws -> Fieldwork_V1_Approval {
        guard let approval = try await approvals([id], on: connection).first else {
            throw DomainError.notFound(entity: "approval", id: id.uuidString.lowercased())
        }
        return approval
    }

    /// Approvals with their steps, in the order of `ids`: two queries for any number.
    private func approvals(_ ids: [UUID], on connection: PostgresConnection) async throws -> [Fieldwork_V1_Approval] {
        guard !ids.isEmpty else { return [] }
        var byID: [UUID: Fieldwork_V1_Approval] = [:]
        for try await (id, chain, version, subject, amount, line, submitter, status, step, created) in try await connection.query(
            """
            SELECT id, chain_id, chain_version, subject, amount_fen, product_line, submitter_id, status, current_step, created_at
            FROM approvals WHERE id = ANY (\(ids))
            """, logger: environment.logger
        ).decode((UUID, String, Int32, String, Int64, String, String, String, Int32, Date).self) {
            byID[id] = .with {
                $0.id = id.uuidString.lowercased()
                $0.chainID = chain
                $0.chainVersion = version
                $0.subject = subject
                $0.amount.fen = amount
                $0.productLine = line
                $0.submitterID = submitter
                $0.status = Self.approvalStatus(status)
                $0.currentStep = step
                $0.createdAt = .init(created)
            }
        }
        for try await (approvalID, index, role, approver, status, comment, decided) in try await connection.query(
            """
            SELECT approval_id, index, role, approver_id, status, comment, decided_at FROM approval_steps
            WHERE approval_id = ANY (\(ids)) ORDER BY approval_id, index
            """, logger: environment.logger
        ).decode((UUID, Int32, String, String, String, String, Date?).self) {
            byID[approvalID]?.steps.append(.with {
                $0.index = index
                $0.role = role
                $0.approverID = approver
                $0.status = Self.approvalStatus(status)
                $0.comment = comment
                if let decided { $0.decidedAt = .init(decided) }
            })
        }
        return ids.compactMap { byID[$0] }
    }

    private static func approvalStatus(_ stored: String) -> Fieldwork_V1_ApprovalStatus {
        switch stored {
        case "APPROVED": .approved
        case "REJECTED": .rejected
        default: .pending
        }
    }

    private func publishPending(approval: UUID, step: Int, approver: String, subject: String, at now: Date, on connection: PostgresConnection) async throws {
        try await environment.publish(.approvalStepPending(.with {
            $0.approvalID = approval.uuidString.lowercased()
            $0.step = Int32(step)
            $0.approverID = approver
            $0.subject = subject
        }), aggregateID: "approval:\(approval.uuidString.lowercased())", at: now, on: connection)
    }

    /// The one person who decides a step for this submitter, from the directory copy.
    private func resolve(_ approver: ApprovalStepRule.Approver, for submitter: String, on connection: PostgresConnection) async throws -> String? {
        switch approver {
        case .manager:
            return try await first("SELECT supervisor_id FROM directory_people WHERE id = \(submitter) AND supervisor_id <> ''", on: connection)
        case .director:
            // Up the supervisor line (at most 10 levels), else any active director.
            return try await first(
                """
                WITH RECURSIVE line (id, depth) AS (
                    SELECT supervisor_id, 1 FROM directory_people WHERE id = \(submitter)
                    UNION ALL
                    SELECT p.supervisor_id, line.depth + 1 FROM directory_people p JOIN line ON p.id = line.id WHERE line.depth < 10
                )
                SELECT id FROM (
                    SELECT p.id, line.depth FROM line JOIN directory_people p ON p.id = line.id
                    WHERE p.active AND 'director' = ANY (p.roles)
                    UNION ALL
                    SELECT p.id, 100 FROM directory_people p WHERE p.active AND 'director' = ANY (p.roles)
                ) candidates ORDER BY depth, id LIMIT 1
                """, on: connection)
        case .finance:
            return try await first("SELECT head_person_id FROM directory_departments WHERE code = 'finance' AND head_person_id <> ''", on: connection)
        case .generalManager:
            return try await first("SELECT head_person_id FROM directory_departments WHERE code = 'management' AND head_person_id <> ''", on: connection)
        }
    }

    private func first(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> String? {
        for try await value in try await connection.query(query, logger: environment.logger).decode(String.self) { return value }
        return nil
    }
}
