import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO
import Synchronization
import SwiftProtobuf

/// Routes and message templates as data (SPEC §5), and `Send` for a message
/// written by hand. Route and template saves are new versions, audited.
extension NotificationsService {
    func upsertRoute(_ request: Fieldwork_V1_UpsertRouteRequest) async throws -> Fieldwork_V1_Route {
        var route = request.route
        route.id = try Input.slug(route.id, field: "route.id")
        guard let variables = EventMessages.variableNames[route.eventType], route.eventType != EventMessages.Send.eventType else {
            throw DomainError.invalidArgument(
                field: "route.event_type",
                message: "'\(route.eventType)' is not one of \(EventMessages.variableNames.keys.filter { $0 != EventMessages.Send.eventType }.sorted().joined(separator: ", "))")
        }
        try RouteStore.validate(route.recipients, field: "route.recipients", variables: variables)
        if route.channels.isEmpty { route.channels = [.inbox] }
        try RouteStore.validate(channels: route.channels, field: "route.channels")
        let recipientsJSON = try route.recipients.jsonString()
        let channels = route.channels.map(\.storedName)
        let finalRoute = route
        defer { fanout.cache.clear() }
        return try await environment.command("UpsertRoute", requestID: request.requestID) { connection, principal, now in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("route:" + finalRoute.id), 0))", logger: environment.logger)
            var previous: (version: Int32, eventType: String, recipients: String)?
            for try await row in try await connection.query(
                "SELECT version, event_type, recipients::text FROM routes WHERE id = \(finalRoute.id) ORDER BY version DESC LIMIT 1",
                logger: environment.logger
            ).decode((Int32, String, String).self) { previous = row }
            let version = (previous?.version ?? 0) + 1
            try await connection.query(
                """
                INSERT INTO routes (id, version, event_type, recipients, channels, updated_at)
                VALUES (\(finalRoute.id), \(Int(version)), \(finalRoute.eventType), \(recipientsJSON)::jsonb, \(channels), \(now))
                """, logger: environment.logger)
            try await environment.audit(
                AuditRecord(entityType: "route", entityID: finalRoute.id, action: previous == nil ? "create" : "revise", changes: [
                    .init("version", previous.map { String($0.version) } ?? "", String(version)),
                    .init("event_type", previous?.eventType ?? "", finalRoute.eventType),
                    .init("recipients", previous?.recipients ?? "", recipientsJSON),
                ]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            var saved = finalRoute
            saved.version = version
            return saved
        }
    }

    func listRoutes(_ request: Fieldwork_V1_ListRoutesRequest) async throws -> Fieldwork_V1_ListRoutesResponse {
        let page = try Page(request.page)
        let eventType = try Input.text(request.eventType, field: "event_type", max: 64)
        let routes = try await environment.postgres.withConnection { connection in
            try await fanout.routes.routes(eventType: eventType, after: page.after, limit: page.limit, on: connection)
        }
        let finished = page.finish(routes) { $0.id }
        return .with { $0.routes = finished.rows; $0.page = finished.page }
    }

    func upsertMessageTemplate(_ request: Fieldwork_V1_UpsertMessageTemplateRequest) async throws -> Fieldwork_V1_MessageTemplate {
        var template = request.template
        guard let variables = EventMessages.variableNames[template.eventType], template.eventType != EventMessages.Send.eventType else {
            throw DomainError.invalidArgument(field: "template.event_type", message: "'\(template.eventType)' has no template")
        }
        template.locale = template.locale.isEmpty ? "zh-CN" : try Input.text(template.locale, field: "template.locale", max: 16)
        template.title = try Input.text(template.title, field: "template.title", max: 200, required: true)
        template.body = try Input.text(template.body, field: "template.body", max: 4000, required: true)
        template.linkTemplate = try Input.text(template.linkTemplate, field: "template.link_template", max: 500)
        for (field, text) in [("title", template.title), ("body", template.body), ("link_template", template.linkTemplate)] {
            if let unknown = TemplateText.placeholders(in: text).first(where: { !variables.contains($0) }) {
                throw DomainError.invalidArgument(
                    field: "template.\(field)", message: "unknown variable {\(unknown)}; known: \(variables.sorted().joined(separator: ", "))")
            }
        }
        let finalTemplate = template
        defer { fanout.cache.clear() }
        return try await environment.command("UpsertTemplate", requestID: request.requestID) { connection, principal, now in
            _ = try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtextextended(\("template:" + finalTemplate.eventType + "/" + finalTemplate.locale), 0))",
                logger: environment.logger)
            var previous: (version: Int32, title: String, body: String)?
            for try await row in try await connection.query(
                """
                SELECT version, title, body FROM message_templates WHERE event_type = \(finalTemplate.eventType) AND locale = \(finalTemplate.locale)
                ORDER BY version DESC LIMIT 1
                """, logger: environment.logger
            ).decode((Int32, String, String).self) { previous = row }
            var saved = finalTemplate
            saved.version = (previous?.version ?? 0) + 1
            try await connection.query(
                """
                INSERT INTO message_templates (event_type, locale, version, title, body, link_template, created_at)
                VALUES (\(saved.eventType), \(saved.locale), \(Int(saved.version)), \(saved.title), \(saved.body), \(saved.linkTemplate), \(now))
                """, logger: environment.logger)
            try await environment.audit(
                AuditRecord(entityType: "message_template", entityID: "\(saved.eventType)/\(saved.locale)", action: previous == nil ? "create" : "revise",
                            changes: [.init("version", previous.map { String($0.version) } ?? "", String(saved.version)),
                                      .init("title", previous?.title ?? "", saved.title), .init("body", previous?.body ?? "", saved.body)]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            return saved
        }
    }

    func listMessageTemplates(_ request: Fieldwork_V1_ListMessageTemplatesRequest) async throws -> Fieldwork_V1_ListMessageTemplatesResponse {
        let page = try Page(request.page)
        let eventType = try Input.text(request.eventType, field: "event_type", max: 64)
        var templates: [Fieldwork_V1_MessageTemplate] = []
        for try await (type, locale, version, title, body, link) in try await environment.postgres.query(
            """
            SELECT DISTINCT ON (event_type, locale) event_type, locale, version, title, body, link_template FROM message_templates
            WHERE (\(eventType) = '' OR event_type = \(eventType)) AND event_type || '/' || locale > \(page.after)
            ORDER BY event_type, locale, version DESC LIMIT \(page.limit)
            """, logger: environment.logger
        ).decode((String, String, Int32, String, String, String).self) {
            templates.append(.with {
                $0.eventType = type
                $0.locale = locale
                $0.version = version
                $0.title = title
                $0.body = body
                $0.linkTemplate = link
            })
        }
        let finished = page.finish(templates) { "\($0.eventType)/\($0.locale)" }
        return .with { $0.templates = finished.rows; $0.page = finished.page }
    }

    /// A message written by hand to people named directly or by role, department or
    /// region, in their inboxes and/or through the robots and webhooks of those departments and regions.
    func send(_ request: Fieldwork_V1_SendRequest) async throws -> Fieldwork_V1_SendResponse {
        try RouteStore.validate(request.recipients, field: "recipients", variables: [])
        try RouteStore.validate(channels: request.channels, field: "channels")
        let channels = request.channels.isEmpty ? [.inbox] : request.channels
        let message = OutboundMessage(
            title: try Input.text(request.title, field: "title", max: 200, required: true),
            body: try Input.text(request.body, field: "body", max: 4000, required: true),
            link: try Input.text(request.link, field: "link", max: 500))
        try checkLink(message.link)
        let result = Mutex(EventFanout.Result())
        let response = try await environment.command("Send", requestID: request.requestID) { connection, principal, now in
            // People named by hand must exist: a typo would otherwise reach nobody without a word.
            var known: Set<String> = []
            for try await id in try await connection.query(
                "SELECT id FROM directory_people WHERE id = ANY (\(request.recipients.personIds)) AND active", logger: environment.logger
            ).decode(String.self) { known.insert(id) }
            if let unknown = request.recipients.personIds.first(where: { !known.contains($0) }) {
                throw DomainError.invalidArgument(field: "recipients.person_ids", message: "'\(unknown)' is not an active person in the directory")
            }
            // Resolved for the inbox, and for anyone but an admin to check the audience is theirs.
            let resolves = channels.contains(.inbox) || !principal.has(.admin)
            let audience = resolves ? try await fanout.routes.resolve(request.recipients, variables: [:], on: connection) : []
            try await checkAudience(audience, request.recipients, of: principal, on: connection)
            let people = channels.contains(.inbox) ? audience : []
            var channelIDs: [String] = []
            for kind in channels where kind != .inbox {
                let found = try await deliveries.channels(
                    kind, departments: request.recipients.departments, regions: request.recipients.regions, on: connection)
                if found.isEmpty {
                    throw DomainError.failedPrecondition("no enabled \(kind.storedName) channel serves these departments or regions")
                }
                channelIDs += found
            }
            let sent = try await fanout.deliver(
                message, eventID: UUID(), eventType: EventMessages.Send.eventType, people: Set(people), channelIDs: channelIDs,
                by: principal, requestID: request.requestID, on: connection)
            result.withLock { $0 = sent }
            return Fieldwork_V1_SendResponse.with { $0.deliveries = Int32(sent.people.count + sent.queued) }
        }
        published(result.withLock { $0 })
        return response
    }

    /// SPEC §8.3: a manager sends to their team, a director to their region, a
    /// department head to their department, an admin to anyone. Every person the
    /// recipients resolve to must be in the sender's audience, and robot and
    /// webhook channels are chosen by department or region, so those must be
    /// the sender's own.
    private func checkAudience(
        _ people: [String], _ recipients: Fieldwork_V1_Recipients, of principal: Principal, on connection: PostgresConnection
    ) async throws {
        let reaches: [Role: Reach] = [.manager: .team, .director: .region, .deptHead: .department, .admin: .company]
        let scope = try await Scope.of(
            principal, reach: Scope.reach(of: principal, reaches), directory: .replica, on: connection, logger: environment.logger)
        guard !scope.everyone else { return }
        if let outside = people.first(where: { !scope.includes($0) }) {
            throw DomainError.permissionDenied("\(outside) is outside your audience (a manager's team, a director's region, a head's department)")
        }
        let ownRegion = principal.has(.director) ? principal.region : nil
        if let region = recipients.regions.first(where: { $0 != ownRegion }) {
            throw DomainError.permissionDenied("region '\(region)' is not yours to send to")
        }
        let ownDepartment = principal.has(.deptHead) ? principal.department : nil
        if let department = recipients.departments.first(where: { $0 != ownDepartment }) {
            throw DomainError.permissionDenied("department '\(department)' is not yours to send to")
        }
    }

    /// A message's link opens in the app or the browser: a relative deep link
    /// (`/path` or `fieldwork://…`) or an https URL on WEBHOOK_ALLOWED_HOSTS,
    /// never a `javascript:` or look-alike address sent in the company's name.
    func checkLink(_ link: String) throws {
        guard !link.isEmpty else { return }
        if link.hasPrefix("fieldwork://") || (link.hasPrefix("/") && !link.hasPrefix("//") && !link.contains("\\")) { return }
        guard link.lowercased().hasPrefix("https://"), (try? outboundPolicy.check(url: link)) != nil else {
            throw DomainError.invalidArgument(field: "link", message: "must be a relative deep link or an https URL on WEBHOOK_ALLOWED_HOSTS")
        }
    }
}
