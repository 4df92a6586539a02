import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// `ListAudit` under the object rules of visit records and plans (SPEC §2.9,
/// README "Access"). A visit's history holds the whole record before and after
/// each change, and a person's actions include their visits and plans, so both
/// are shown to whom the records themselves are: the person, their manager,
/// their region's director, an admin. The directory's history (people,
/// customers, products) is open to the roles ListAudit admits, as its reads are.
extension VisitsService {
    func listAudit(_ request: Fieldwork_V1_ListAuditRequest) async throws -> Fieldwork_V1_ListAuditResponse {
        let principal = try Principal.required()
        if !principal.has(.admin) {
            try await environment.postgres.withConnection { connection in
                guard let owner = try await recordsOwner(of: request, on: connection) else { return }
                guard try await mayView(person: owner, principal, on: connection) else {
                    throw DomainError.permissionDenied("the records of \(owner) are for them, their manager, their region's director or admin")
                }
            }
        }
        return try await environment.listAudit(request)
    }

    /// The person whose visit records or plans the request reads, or nil if it reads none.
    private func recordsOwner(of request: Fieldwork_V1_ListAuditRequest, on connection: PostgresConnection) async throws -> String? {
        if !request.actorPersonID.isEmpty { return request.actorPersonID }
        switch request.entityType {
        case "visit":
            // No such visit: no history to show either.
            guard let id = UUID(uuidString: request.entityID) else { return nil }
            return try await visits.visit(id, on: connection)?.repID
        case "plan":
            // A plan's entity id is "<rep>/<day>".
            return request.entityID.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        default:
            return nil
        }
    }
}
