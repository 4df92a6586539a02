import FieldworkDomain
import FieldworkProto
import FieldworkRuntime

/// `ListAudit` for scoring (SPEC §8.3): the health model's and its runs'
/// history is as open as the model; a rule's as ListRules; the commercial
/// facts (contracts, payments, imports) are company-wide, so only the
/// executive reads their history besides admins.
extension ScoringService {
    func listAudit(_ request: Fieldwork_V1_ListAuditRequest) async throws -> Fieldwork_V1_ListAuditResponse {
        try await environment.listAudit(request, access: AuditAccess { type, _, principal in
            switch type {
            case "model", "scoring_run": true
            case "rule": principal.hasAny(AccessRules(Self.access)[Method.ListRules.descriptor]?.roles ?? [])
            case "contract", "payments", "import": principal.has(.executive)
            default: false
            }
        })
    }
}
