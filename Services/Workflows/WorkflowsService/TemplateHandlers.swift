import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO
import SwiftProtobuf

/// Request templates are data (SPEC §3.2): an admin creates or revises one (each
/// save is a new version; requests keep the version they were made from), and
/// anyone may open a request from an active template by RPC.
extension WorkflowsService {
    /// Variables a card text may use; each is filled from the request.
    static let templateVariables: Set<String> = [
        "customer_name", "customer_id", "department", "surgery_date", "products", "rep_name", "rep_id", "region",
    ]
    /// Event types a template may be triggered by: those that carry what the texts need.
    static let triggerEventTypes: Set<String> = ["", "visits.SupportRequested"]

    func upsertTemplate(_ request: Fieldwork_V1_UpsertTemplateRequest) async throws -> Fieldwork_V1_RequestTemplate {
        var template = request.template
        template.id = try Input.slug(template.id, field: "template.id")
        template.name = try Input.text(template.name, field: "template.name", max: 100, required: true)
        guard CardNumber.isValidPrefix(template.numberPrefix) else {
            throw DomainError.invalidArgument(field: "template.number_prefix", message: "must be 1–8 upper-case letters")
        }
        guard Self.triggerEventTypes.contains(template.triggerEventType) else {
            throw DomainError.invalidArgument(
                field: "template.trigger_event_type",
                message: "'\(template.triggerEventType)' is not one of: (manual), \(Self.triggerEventTypes.filter { !$0.isEmpty }.sorted().joined(separator: ", "))")
        }
        guard (1...10).contains(template.cards.count) else {
            throw DomainError.invalidArgument(field: "template.cards", message: "a template has 1 to 10 cards")
        }
        for index in template.cards.indices {
            let field = "template.cards[\(index)]"
            var card = template.cards[index]
            guard DepartmentCode(rawValue: card.department) != nil else {
                throw DomainError.invalidArgument(
                    field: "\(field).department",
                    message: "'\(card.department)' is not one of \(DepartmentCode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            card.title = try Input.text(card.title, field: "\(field).title", max: 200, required: true)
            card.description_p = try Input.text(card.description_p, field: "\(field).description", max: 2000)
            for (name, text) in [("title", card.title), ("description", card.description_p)] {
                if let unknown = TemplateText.placeholders(in: text).first(where: { !Self.templateVariables.contains($0) }) {
                    throw DomainError.invalidArgument(
                        field: "\(field).\(name)",
                        message: "unknown variable {\(unknown)}; known: \(Self.templateVariables.sorted().joined(separator: ", "))")
                }
            }
            if card.slaHours == 0 { card.slaHours = 24 }
            guard (1...720).contains(card.slaHours) else {
                throw DomainError.invalidArgument(field: "\(field).sla_hours", message: "must be within 1–720 hours")
            }
            template.cards[index] = card
        }
        let cardsJSON = try Fieldwork_V1_CardTemplate.jsonString(from: template.cards)
        return try await environment.command("UpsertTemplate", requestID: request.requestID) { connection, principal, now in
            // Versions of one template are numbered in order; the lock keeps two saves from taking the same number.
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("template:" + template.id), 0))", logger: environment.logger)
            let previous = try await store.latestTemplate(template.id, on: connection)
            let version = (previous?.version ?? 0) + 1
            try await connection.query(
                """
                INSERT INTO request_templates (id, version, name, number_prefix, trigger_event_type, cards, active, updated_at)
                VALUES (\(template.id), \(Int(version)), \(template.name), \(template.numberPrefix), \(template.triggerEventType),
                        \(cardsJSON)::jsonb, \(template.active), \(now))
                """, logger: environment.logger)
            var changes: [AuditRecord.Change] = [.init("version", previous.map { String($0.version) } ?? "", String(version))]
            if previous?.name != template.name { changes.append(.init("name", previous?.name ?? "", template.name)) }
            if previous?.active != template.active { changes.append(.init("active", previous.map { String($0.active) } ?? "", String(template.active))) }
            if previous?.triggerEventType != template.triggerEventType {
                changes.append(.init("trigger_event_type", previous?.triggerEventType ?? "", template.triggerEventType))
            }
            let previousCards = try previous.map { try Fieldwork_V1_CardTemplate.jsonString(from: $0.cards) } ?? ""
            if previousCards != cardsJSON { changes.append(.init("cards", previousCards, cardsJSON)) }
            try await environment.audit(
                AuditRecord(entityType: "request_template", entityID: template.id, action: previous == nil ? "create" : "revise", changes: changes),
                by: principal, at: now, requestID: request.requestID, on: connection)
            guard let saved = try await store.latestTemplate(template.id, on: connection) else {
                throw DomainError.notFound(entity: "template", id: template.id)
            }
            return saved
        }
    }

    /// A request opened by hand from an active template (e.g. a sample-device request).
    func createRequest(_ request: Fieldwork_V1_CreateRequestRequest) async throws -> Fieldwork_V1_Request {
        let templateID = try Input.text(request.templateID, field: "template_id", max: 64, required: true)
        let customerID = try Input.text(request.customerID, field: "customer_id", max: 64, required: true)
        guard request.variables.count <= 20 else {
            throw DomainError.invalidArgument(field: "variables", message: "at most 20 variables")
        }
        var variables: [String: String] = [:]
        for (name, value) in request.variables {
            guard Self.templateVariables.contains(name) else {
                throw DomainError.invalidArgument(field: "variables[\(name)]", message: "unknown variable; known: \(Self.templateVariables.sorted().joined(separator: ", "))")
            }
            variables[name] = try Input.text(value, field: "variables[\(name)]", max: 500)
        }
        let id = try await environment.command("CreateRequest", requestID: request.requestID) { connection, principal, now in
            guard let template = try await store.latestTemplate(templateID, on: connection), template.active else {
                throw DomainError.notFound(entity: "active template", id: templateID)
            }
            // Who and for whom come from the directory copy, not from the client.
            var customer: (name: String, region: String)?
            for try await row in try await connection.query(
                "SELECT name, region FROM directory_customers WHERE id = \(customerID)", logger: environment.logger
            ).decode((String, String).self) { customer = row }
            guard let customer else { throw DomainError.notFound(entity: "customer", id: customerID) }
            var repName = principal.personID
            for try await name in try await connection.query(
                "SELECT name FROM directory_people WHERE id = \(principal.personID)", logger: environment.logger
            ).decode(String.self) { repName = name }
            variables["customer_id"] = customerID
            variables["customer_name"] = customer.name
            variables["region"] = customer.region
            variables["rep_id"] = principal.personID
            variables["rep_name"] = repName
            let id = try await store.create(
                template: template, origin: "manual:\(UUID().uuidString.lowercased())", requester: principal.personID, customer: customerID,
                variables: variables, principal: principal, requestID: request.requestID, on: connection)
            return Fieldwork_V1_Request.with { $0.id = id.uuidString.lowercased() }
        }
        return try await getRequest(.with { $0.id = id.id })
    }
}
