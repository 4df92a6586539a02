import FieldworkDomain
import FieldworkProto
import FieldworkRuntime

/// `ListAudit` for notifications (SPEC §8.3). Routes and message templates,
/// which everyone may list, have an open history; channels and deliveries are
/// admins'; an inbox's history is its owner's. An event's delivery entry names
/// its recipients and the title they got: a recipient reads it, the executive
/// reads it without the title, nobody else — so a manager can no longer read
/// everyone's notifications through the services' own actions.
extension NotificationsService {
    func listAudit(_ request: Fieldwork_V1_ListAuditRequest) async throws -> Fieldwork_V1_ListAuditResponse {
        try await environment.listAudit(request, access: AuditAccess(
            entity: { type, id, principal in
                switch type {
                case "route", "message_template", "event": true
                case "inbox": id == principal.personID
                default: false
                }
            },
            entry: { entry, principal in
                guard entry.entityType == "event" else { return entry }
                let recipients = entry.changes.first { $0.field == "recipients" }?.after.split(separator: "|").map(String.init) ?? []
                if recipients.contains(principal.personID) { return entry }
                guard principal.has(.executive) else { return nil }
                var untitled = entry
                untitled.changes = entry.changes.filter { $0.field != "title" }
                return untitled
            }))
    }
}
