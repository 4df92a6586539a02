import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import PostgresNIO
import SwiftProtobuf

/// Routing as data (SPEC §5): which people an event type reaches, by person,
/// role, department or region, with `{variable}` placeholders filled from the
/// event (e.g. departments ["{department}"] for a card). Each save is a new
/// version; the latest active version of each route applies.
struct RouteStore: Sendable {
    let environment: ServiceEnvironment
    var logger: Logger { environment.logger }

    func routes(eventType: String, after: String = "", limit: Int = 500, on connection: PostgresConnection) async throws -> [Fieldwork_V1_Route] {
        var routes: [Fieldwork_V1_Route] = []
        for try await (id, version, type, recipients, channels) in try await connection.query(
            """
            SELECT id, version, event_type, recipients::text, channels FROM routes
            WHERE (id, version) IN (SELECT id, max(version) FROM routes GROUP BY id) AND active
              AND (\(eventType) = '' OR event_type = \(eventType)) AND id > \(after)
            ORDER BY id LIMIT \(limit)
            """, logger: logger
        ).decode((String, Int32, String, String, [String]).self) {
            routes.append(.with {
                $0.id = id
                $0.version = version
                $0.eventType = type
                $0.recipients = (try? Fieldwork_V1_Recipients(jsonString: recipients)) ?? .init()
                $0.channels = channels.compactMap { Fieldwork_V1_ChannelKind(name: $0) }
            })
        }
        return routes
    }

    /// The people `recipients` name, from the directory copy, placeholders filled.
    /// A named department or region with nobody in the copy is refused, so an
    /// event whose directory has not arrived yet is retried rather than lost.
    func resolve(_ recipients: Fieldwork_V1_Recipients, variables: [String: String], on connection: PostgresConnection) async throws -> [String] {
        let named = Self.filled(recipients, variables: variables)
        let persons = named.personIds, roles = named.roles, departments = named.departments, regions = named.regions
        var people = Set(persons)
        guard !departments.isEmpty || !regions.isEmpty || !roles.isEmpty else { return people.sorted() }
        var departmentsFound: Set<String> = [], regionsFound: Set<String> = []
        for try await row in try await connection.execute(
            ActivePeople(departments: departments, regions: regions, roles: roles), logger: logger
        ) {
            let (id, department, region) = try row.decode((String, String, String).self)
            people.insert(id)
            departmentsFound.insert(department)
            regionsFound.insert(region)
        }
        // A department or region nobody is in yet is a directory copy still filling up, not an empty audience.
        for (column, named, found) in [("department", departments, departmentsFound), ("region", regions, regionsFound)] {
            if let missing = named.first(where: { !found.contains($0) }) {
                throw DomainError.failedPrecondition("no active people in \(column) '\(missing)' in the directory copy yet")
            }
        }
        return people.sorted()
    }

    /// The active people in any of the departments or regions or holding any of
    /// the roles, in one statement prepared once per connection (it runs for every event).
    struct ActivePeople: PreparedSQL {
        static let name = "notifications.active-people"
        static let sql = Self(departments: [], regions: [], roles: []).query.sql
        var departments: [String]
        var regions: [String]
        var roles: [String]

        var query: PostgresQuery {
            """
            SELECT id, department, region FROM directory_people
            WHERE active AND (department = ANY (\(departments)) OR region = ANY (\(regions)) OR roles && \(roles))
            """
        }
    }

    /// The recipients with `{variable}` placeholders filled and empty entries dropped.
    /// A filled placeholder holding commas (a list variable such as a rule's
    /// `{notify_person_ids}`) becomes one entry per item; ids never hold commas.
    static func filled(_ recipients: Fieldwork_V1_Recipients, variables: [String: String]) -> Fieldwork_V1_Recipients {
        func fill(_ values: [String]) -> [String] {
            values.flatMap { value in
                let filled = TemplateText.render(value, variables)
                let items = TemplateText.placeholders(in: value).isEmpty ? [Substring(filled)] : filled.split(separator: ",")
                return items.map { $0.trimmingCharacters(in: .whitespaces) }
            }.filter { !$0.isEmpty }
        }
        return .with {
            $0.personIds = fill(recipients.personIds)
            $0.roles = fill(recipients.roles)
            $0.departments = fill(recipients.departments)
            $0.regions = fill(recipients.regions)
        }
    }

    /// Checks a route or a `Send`'s recipients: something named, placeholders known.
    static func validate(_ recipients: Fieldwork_V1_Recipients, field: String, variables: Set<String>) throws {
        let all = recipients.personIds + recipients.roles + recipients.departments + recipients.regions
        guard !all.isEmpty else { throw DomainError.invalidArgument(field: field, message: "name at least one person, role, department or region") }
        guard all.count <= 100 else { throw DomainError.invalidArgument(field: field, message: "at most 100 entries") }
        for (name, values) in [("person_ids", recipients.personIds), ("roles", recipients.roles), ("departments", recipients.departments),
                               ("regions", recipients.regions)] {
            for value in values {
                _ = try Input.text(value, field: "\(field).\(name)", max: 64, required: true)
                if let unknown = TemplateText.placeholders(in: value).first(where: { !variables.contains($0) }) {
                    throw DomainError.invalidArgument(field: "\(field).\(name)", message: "unknown variable {\(unknown)}")
                }
                if name == "roles", TemplateText.placeholders(in: value).isEmpty, Role(rawValue: value) == nil {
                    throw DomainError.invalidArgument(field: "\(field).roles", message: "'\(value)' is not a role")
                }
            }
        }
    }

    /// Inbox, WeCom robots and webhooks; robots and webhooks are reached through the
    /// departments and regions the recipients name (and those set for everyone).
    static func validate(channels: [Fieldwork_V1_ChannelKind], field: String) throws {
        for channel in channels where ![.inbox, .wecomRobot, .webhook].contains(channel) {
            throw DomainError.invalidArgument(field: field, message: "\(channel) is not a channel; use INBOX, WECOM_ROBOT or WEBHOOK")
        }
        guard Set(channels).count == channels.count else { throw DomainError.invalidArgument(field: field, message: "names a channel twice") }
    }
}

extension Fieldwork_V1_ChannelKind {
    init?(name: String) {
        switch name {
        case "INBOX": self = .inbox
        case "WECOM_ROBOT": self = .wecomRobot
        case "WEBHOOK": self = .webhook
        default: return nil
        }
    }

    var storedName: String {
        switch self {
        case .inbox: "INBOX"
        case .wecomRobot: "WECOM_ROBOT"
        case .webhook: "WEBHOOK"
        default: ""
        }
    }
}
