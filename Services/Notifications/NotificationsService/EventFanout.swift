import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import PostgresNIO

/// Turns a message into inbox items and queued deliveries, in the caller's
/// transaction: an event through its routes (routing as data, `RouteStore`)
/// rendered with its type's template, or a hand-written `Send`.
struct EventFanout: Sendable {
    let inbox: InboxStore
    let deliveries: DeliveryStore
    /// Where deep links open outside the app (WeCom cannot open fieldwork://);
    /// "https://crm.example.com/open/" turns fieldwork://cards/1 into …/open/cards/1.
    let linkBaseURL: String
    let cache: MessageSetupCache
    var environment: ServiceEnvironment { inbox.environment }
    var logger: Logger { environment.logger }
    var routes: RouteStore { RouteStore(environment: environment) }

    struct Result: Sendable {
        /// People who got an inbox item (to wake their streams after the commit).
        var people: [String] = []
        /// Deliveries queued for robots and webhooks (to wake the dispatcher).
        var queued = 0
    }

    func fanOut(_ event: Fieldwork_V1_Event, on connection: PostgresConnection) async throws -> Result {
        guard var variables = EventMessages.variables(of: event, dayAndTime: inbox.dayAndTime) else { return Result() }
        if let customer = variables["customer_id"], variables["customer_name"] == nil {
            // Events that name only the customer read its name from the directory copy.
            variables["customer_name"] = customer
            for try await name in try await connection.query(
                "SELECT name FROM directory_customers WHERE id = \(customer)", logger: logger
            ).decode(String.self) { variables["customer_name"] = name }
        }
        let setup = try await cache.setup(for: event.type) {
            (try await routes.routes(eventType: event.type, on: connection), try await template(for: event.type, on: connection))
        }
        var people: Set<String> = []
        var channelIDs: Set<String> = []
        for route in setup.routes {
            let resolved: [String]
            do {
                resolved = try await routes.resolve(route.recipients, variables: variables, on: connection)
            } catch DomainError.failedPrecondition(let message) {
                // The directory copy lags this event: "not yet", which the relay retries with backoff
                // and never parks (a refusal would count toward parking; SPEC §11.5).
                throw DomainError.aborted(message)
            }
            if route.channels.isEmpty || route.channels.contains(.inbox) { people.formUnion(resolved) }
            let named = RouteStore.filled(route.recipients, variables: variables)
            for kind in route.channels where kind != .inbox {
                channelIDs.formUnion(try await deliveries.channels(kind, departments: named.departments, regions: named.regions, on: connection))
            }
        }
        guard !people.isEmpty || !channelIDs.isEmpty else {
            logger.warning("event reaches nobody", metadata: ["event": "\(event.type)", "id": "\(event.id)"])
            return Result()
        }
        guard let template = setup.template else {
            logger.warning("no message template", metadata: ["event": "\(event.type)"])
            return Result()
        }
        let message = OutboundMessage(
            title: TemplateText.render(template.title, variables), body: TemplateText.render(template.body, variables),
            link: TemplateText.render(template.link, variables))
        return try await deliver(
            message, eventID: UUID(uuidString: event.id)!, eventType: event.type, people: people, channelIDs: Array(channelIDs),
            by: try Principal.required(), requestID: event.id, on: connection)
    }

    /// Inbox items for `people` and one queued delivery per channel, at most once per event.
    func deliver(
        _ message: OutboundMessage, eventID: UUID, eventType: String, people: Set<String>, channelIDs: [String],
        by principal: Principal, requestID: String, on connection: PostgresConnection
    ) async throws -> Result {
        var result = Result()
        var outbound = message
        outbound.link = externalLink(message.link)
        result.queued = try await deliveries.enqueue(
            eventID: eventID, eventType: eventType, channelIDs: channelIDs.sorted(), message: outbound, at: environment.clock.now(),
            on: connection)
        if !people.isEmpty {
            result.people = try await inbox.insert(
                eventID: eventID, eventType: eventType, to: people, title: message.title, body: message.body, link: message.link,
                by: principal, requestID: requestID, on: connection)
        }
        return result
    }

    func externalLink(_ link: String) -> String {
        guard !linkBaseURL.isEmpty, link.hasPrefix("fieldwork://") else { return link }
        return linkBaseURL + link.dropFirst("fieldwork://".count)
    }

    private func template(for eventType: String, on connection: PostgresConnection) async throws -> (title: String, body: String, link: String)? {
        let rows = try await connection.query(
            """
            SELECT title, body, link_template FROM message_templates
            WHERE event_type = \(eventType) AND locale = 'zh-CN' ORDER BY version DESC LIMIT 1
            """, logger: logger)
        for try await row in rows.decode((String, String, String).self) { return row }
        return nil
    }
}
