import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation

/// Read RPCs over templates, requests and cards.
extension WorkflowsService {
    func listTemplates(_ request: Fieldwork_V1_ListTemplatesRequest) async throws -> Fieldwork_V1_ListTemplatesResponse {
        let page = try Page(request.page)
        let templates = try await store.latestTemplates(includeInactive: request.includeInactive, after: page.after, limit: page.limit)
        let finished = page.finish(templates) { $0.id }
        return .with { $0.templates = finished.rows; $0.page = finished.page }
    }

    func getRequest(_ request: Fieldwork_V1_GetRequestRequest) async throws -> Fieldwork_V1_Request {
        guard let id = UUID(uuidString: request.id) else { throw DomainError.invalidArgument(field: "id", message: "'\(request.id)' is not a request id") }
        let found = try await store.requests(
            visibleTo: try Principal.required(), id: id, requester: "", status: "", window: try TimeWindow(.init()),
            page: try Page(.with { $0.pageSize = 1 }))
        guard let first = found.first else { throw DomainError.notFound(entity: "request", id: request.id) }
        return first
    }

    func listRequests(_ request: Fieldwork_V1_ListRequestsRequest) async throws -> Fieldwork_V1_ListRequestsResponse {
        let page = try Page(request.page)
        let status: String = switch request.status {
        case .open: "OPEN"
        case .completed: "COMPLETED"
        case .cancelled: "CANCELLED"
        default: ""
        }
        let found = try await store.requests(
            visibleTo: try Principal.required(), id: nil, requester: try Input.text(request.requesterID, field: "requester_id"),
            status: status, window: try TimeWindow(request.range), page: page)
        let finished = page.finish(found) { $0.id }
        return .with { $0.requests = finished.rows; $0.page = finished.page }
    }

    /// By id or by number (e.g. GT-20260305-0007).
    func getCard(_ request: Fieldwork_V1_GetCardRequest) async throws -> Fieldwork_V1_Card {
        let key = try Input.text(request.id, field: "id", max: 64, required: true)
        let found = try await store.cards(
            visibleTo: try Principal.required(), department: "", status: "", requestID: nil, cardKey: key,
            window: try TimeWindow(.init()), page: try Page(.with { $0.pageSize = 1 }))
        guard let card = found.first else { throw DomainError.notFound(entity: "card", id: key) }
        return card
    }

    func listCards(_ request: Fieldwork_V1_ListCardsRequest) async throws -> Fieldwork_V1_ListCardsResponse {
        let page = try Page(request.page)
        var requestID: UUID?
        if !request.requestID.isEmpty {
            guard let id = UUID(uuidString: request.requestID) else {
                throw DomainError.invalidArgument(field: "request_id", message: "'\(request.requestID)' is not a request id")
            }
            requestID = id
        }
        let found = try await store.cards(
            visibleTo: try Principal.required(), department: try Input.text(request.department, field: "department", max: 32),
            status: request.status.stored, requestID: requestID, cardKey: "",
            escalatedOnly: request.escalatedOnly, window: try TimeWindow(request.range), page: page)
        let finished = page.finish(found) { $0.number }
        return .with { $0.cards = finished.rows; $0.page = finished.page }
    }
}
