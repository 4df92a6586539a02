import FieldworkDomain
import FieldworkProto
import FieldworkRuntime

/// `ListAudit` for workflows (SPEC §8.3): a card's, request's or approval's
/// history is read by whoever may read the thing itself (asked through the
/// same lookups as GetCard, GetRequest and GetApproval); the templates and
/// approval chains everyone may list have an open history.
extension WorkflowsService {
    func listAudit(_ request: Fieldwork_V1_ListAuditRequest) async throws -> Fieldwork_V1_ListAuditResponse {
        try await environment.listAudit(request, access: auditAccess)
    }

    private var auditAccess: AuditAccess {
        AuditAccess { type, id, _ in
            do {
                switch type {
                case "card": _ = try await getCard(.with { $0.id = id })
                case "request": _ = try await getRequest(.with { $0.id = id })
                case "approval": _ = try await getApproval(.with { $0.id = id })
                case "request_template", "approval_chain": break
                default: return false
                }
                return true
            } catch let error as DomainError {
                if case .notFound = error { return false }
                if case .invalidArgument = error { return false }
                throw error
            }
        }
    }
}
