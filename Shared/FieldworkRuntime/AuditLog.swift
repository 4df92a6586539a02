import FieldworkDomain
import FieldworkProto
import Foundation
import Logging
import PostgresNIO

/// One mutation to record: written in the mutation's own transaction (SPEC §0).
public struct AuditRecord: Sendable {
    public struct Change: Codable, Sendable, Equatable {
        public var field: String
        public var before: String
        public var after: String

        public init(_ field: String, _ before: String, _ after: String) {
            self.field = field
            self.before = before
            self.after = after
        }
    }

    public var entityType: String
    public var entityID: String
    public var action: String
    public var changes: [Change]
    public var reason: String

    public init(entityType: String, entityID: String, action: String, changes: [Change] = [], reason: String = "") {
        self.entityType = entityType
        self.entityID = entityID
        self.action = action
        self.changes = changes
        self.reason = reason
    }

    /// One change built in SQL, in the JSON shape `Change` encodes to, for
    /// statements that write audit entries from their own rows (data-modifying
    /// CTEs). `field` is a name from the code; `before` and `after` are SQL text
    /// expressions.
    public static func changeSQL(_ field: StaticString, before: String, after: String) -> String {
        "jsonb_build_object('field', '\(field)', 'before', \(before), 'after', \(after))"
    }

    /// `changes` as the JSON array stored in `audit_log.changes`.
    public var changesJSON: String {
        get throws { String(decoding: try JSONEncoder().encode(changes), as: UTF8.self) }
    }

    /// The fields whose values differ between `before` (nil: created) and `after`.
    public static func diff(_ before: [String: String]?, _ after: [String: String]) -> [Change] {
        after.keys.sorted().compactMap { field in
            let old = before?[field] ?? ""
            let new = after[field] ?? ""
            return before != nil && old == new ? nil : Change(field, old, new)
        }
    }
}

/// An audit entry as a statement that writes it itself binds it: the record,
/// its changes as JSON, and who made it in which request.
public struct AuditEntry: Sendable {
    public var id = UUID.timeOrdered()
    public var record: AuditRecord
    public var changesJSON: String
    public var actorID: String
    public var actorRole: String
    public var requestID: String

    public init(_ record: AuditRecord, by actor: Principal, requestID: String) throws {
        self.record = record
        changesJSON = try record.changesJSON
        actorID = actor.personID
        actorRole = actor.primaryRole.rawValue
        self.requestID = requestID
    }

    /// Any entry, for a prepared statement's example instance (`PreparedSQL`).
    public static let example = try! AuditEntry(
        AuditRecord(entityType: "", entityID: "", action: ""), by: Principal(personID: "", roles: []), requestID: "")
}

/// The append-only audit log every service keeps (a trigger refuses UPDATE and DELETE).
public enum AuditLog {
    /// Every column of an entry, for statements that write entries themselves.
    public static let columns = "id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes, reason, request_id"

    public static func append(
        _ record: AuditRecord, actor: Principal, at: Date, requestID: String = "",
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO audit_log (\(unescaped: columns))
            VALUES (\(UUID.timeOrdered()), \(at), \(actor.personID), \(actor.primaryRole.rawValue), \(record.entityType), \(record.entityID),
                    \(record.action), \(try record.changesJSON)::jsonb, \(record.reason), \(requestID))
            """, logger: logger)
    }

    /// Appends many entries by one actor in one statement, in the given order.
    public static func appendAll(
        _ records: [AuditRecord], actor: Principal, at: Date, requestID: String = "",
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !records.isEmpty else { return }
        let changes = try records.map { try $0.changesJSON }
        // WITH ORDINALITY keeps the array order in seq.
        try await connection.query(
            """
            INSERT INTO audit_log (\(unescaped: columns))
            SELECT gen_random_uuid(), \(at), \(actor.personID), \(actor.primaryRole.rawValue), t, e, a, c::jsonb, r, \(requestID)
            FROM unnest(\(records.map(\.entityType))::text[], \(records.map(\.entityID))::text[], \(records.map(\.action))::text[],
                        \(changes)::text[], \(records.map(\.reason))::text[]) WITH ORDINALITY AS x (t, e, a, c, r, n)
            ORDER BY n
            """, logger: logger)
    }

    /// A request names one entity (type and id) or one actor, never both.
    static func checkShape(_ request: Fieldwork_V1_ListAuditRequest) throws {
        let byEntity = !request.entityType.isEmpty || !request.entityID.isEmpty
        guard byEntity != !request.actorPersonID.isEmpty else {
            throw DomainError.invalidArgument(
                field: "entity_id", message: "give entity_type and entity_id, or actor_person_id (one of the two)")
        }
        if byEntity, request.entityType.isEmpty || request.entityID.isEmpty {
            throw DomainError.invalidArgument(field: request.entityType.isEmpty ? "entity_type" : "entity_id", message: "is required")
        }
    }

    /// `ListAudit`: per entity or per person, in order, paged and filtered by time.
    public static func list(
        _ request: Fieldwork_V1_ListAuditRequest, client: PostgresClient, logger: Logger
    ) async throws -> Fieldwork_V1_ListAuditResponse {
        try checkShape(request)
        let byEntity = !request.entityType.isEmpty
        let page = try Page(request.page)
        let window = try TimeWindow(request.range)
        let after = try page.sequenceKey() ?? 0
        let rows = try await client.query(
            """
            SELECT seq, id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes::text, reason, request_id
            FROM audit_log
            WHERE seq > \(after) AND at >= \(window.from) AND at < \(window.to)
              AND (\(byEntity) AND entity_type = \(request.entityType) AND entity_id = \(request.entityID)
                   OR NOT \(byEntity) AND actor_person_id = \(request.actorPersonID))
            ORDER BY seq LIMIT \(page.limit)
            """, logger: logger)
        var entries: [(Int64, Fieldwork_V1_AuditEntry)] = []
        for try await (seq, id, at, actor, role, entityType, entityID, action, changes, reason, requestID) in rows.decode(
            (Int64, UUID, Date, String, String, String, String, String, String, String, String).self)
        {
            let decoded = (try? JSONDecoder().decode([AuditRecord.Change].self, from: Data(changes.utf8))) ?? []
            entries.append((seq, .with {
                $0.id = id.uuidString.lowercased()
                $0.at = .init(at)
                $0.actorPersonID = actor
                $0.actorRole = role
                $0.entityType = entityType
                $0.entityID = entityID
                $0.action = action
                $0.reason = reason
                $0.requestID = requestID
                $0.changes = decoded.map { change in .with { $0.field = change.field; $0.before = change.before; $0.after = change.after } }
            }))
        }
        let finished = page.finish(entries) { String($0.0) }
        return .with {
            $0.entries = finished.rows.map(\.1)
            $0.page = finished.page
        }
    }
}

/// Which audit entries a caller reads (SPEC §8.3: an entry is visible exactly
/// when its entity is). Admins read every entry. Anyone else names an entity
/// the service lets them see, or reads their own actions; `entry` may then
/// hide parts of an entry (a delivery's title from who did not receive it).
public struct AuditAccess: Sendable {
    /// Whether `principal` may read the history of the entity `type`/`id`.
    public var entity: @Sendable (_ type: String, _ id: String, _ principal: Principal) async throws -> Bool
    /// What `principal` sees of one entry (nil: nothing).
    public var entry: @Sendable (_ entry: Fieldwork_V1_AuditEntry, _ principal: Principal) -> Fieldwork_V1_AuditEntry?

    public init(
        entity: @escaping @Sendable (_ type: String, _ id: String, _ principal: Principal) async throws -> Bool,
        entry: @escaping @Sendable (_ entry: Fieldwork_V1_AuditEntry, _ principal: Principal) -> Fieldwork_V1_AuditEntry? = { entry, _ in entry }
    ) {
        self.entity = entity
        self.entry = entry
    }

    func check(_ request: Fieldwork_V1_ListAuditRequest, by principal: Principal) async throws {
        try AuditLog.checkShape(request)   // a malformed request is INVALID_ARGUMENT for everyone
        guard !principal.has(.admin) else { return }
        if request.actorPersonID.isEmpty {
            guard try await entity(request.entityType, request.entityID, principal) else {
                throw DomainError.permissionDenied("the history of \(request.entityType) \(request.entityID) is not yours to read")
            }
        } else if request.actorPersonID != principal.personID {
            // Another person's (or a service's) actions span entities the caller may not see.
            throw DomainError.permissionDenied("only admins read another person's actions")
        }
    }
}

