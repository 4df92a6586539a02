import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import PostgresNIO
import SwiftProtobuf

/// SQL for templates, requests and cards.
struct CardStore: Sendable {
    let environment: ServiceEnvironment
    var logger: Logger { environment.logger }

    // MARK: Templates

    /// The templates an event type triggers: each template's latest version, if that version is active.
    func activeTemplates(triggeredBy eventType: String, on connection: PostgresConnection) async throws -> [Fieldwork_V1_RequestTemplate] {
        try await templates(
            """
            WHERE (id, version) IN (SELECT id, max(version) FROM request_templates GROUP BY id)
              AND active AND trigger_event_type = \(eventType) ORDER BY id
            """, on: connection)
    }

    /// A template's latest version.
    func latestTemplate(_ id: String, on connection: PostgresConnection) async throws -> Fieldwork_V1_RequestTemplate? {
        try await templates("WHERE id = \(id) ORDER BY version DESC LIMIT 1", on: connection).first
    }

    func latestTemplates(includeInactive: Bool, after: String, limit: Int) async throws -> [Fieldwork_V1_RequestTemplate] {
        try await environment.postgres.withConnection { connection in
            try await templates(
                """
                WHERE (id, version) IN (SELECT id, max(version) FROM request_templates GROUP BY id)
                  AND (\(includeInactive) OR active) AND id > \(after) ORDER BY id LIMIT \(limit)
                """, on: connection)
        }
    }

    private func templates(_ filter: PostgresQuery, on connection: PostgresConnection) async throws -> [Fieldwork_V1_RequestTemplate] {
        var query: PostgresQuery = "SELECT id, version, name, number_prefix, trigger_event_type, cards::text, active, updated_at FROM request_templates "
        query.sql += filter.sql
        query.binds = filter.binds
        var result: [Fieldwork_V1_RequestTemplate] = []
        for try await (id, version, name, prefix, trigger, cards, active, updatedAt) in try await connection.query(query, logger: logger)
            .decode((String, Int, String, String, String, String, Bool, Date).self)
        {
            result.append(.with {
                $0.id = id
                $0.version = Int32(version)
                $0.name = name
                $0.numberPrefix = prefix
                $0.triggerEventType = trigger
                $0.cards = (try? Fieldwork_V1_CardTemplate.array(fromJSONString: cards)) ?? []
                $0.active = active
                $0.updatedAt = .init(updatedAt)
            })
        }
        return result
    }

    // MARK: Requests from events

    /// Turns an event that triggers a template (e.g. SupportRequested) into a
    /// request with one numbered card per card template, and publishes
    /// RequestCreated and a CardCreated per card, so each department is notified.
    func createRequest(for event: Fieldwork_V1_Event, on connection: PostgresConnection) async throws {
        guard case .supportRequested(let support) = event.payload else { return }
        let templates = try await activeTemplates(triggeredBy: event.type, on: connection)
        guard !templates.isEmpty else {
            // Refused, not dropped: the relay retries, then parks it where an operator sees it and can redrive it.
            throw DomainError.failedPrecondition("no active request template is triggered by \(event.type)")
        }
        let date = LocalDate(year: Int(support.surgeryDate.year), month: Int(support.surgeryDate.month), day: Int(support.surgeryDate.day))
        let variables = [
            "customer_name": support.customerName, "customer_id": support.customerID, "department": support.department,
            "surgery_date": date.description, "products": support.productNames.joined(separator: "、"),
            "rep_name": support.repName, "rep_id": support.repID, "region": support.region,
        ]
        let principal = try Principal.required()
        for template in templates {
            try await create(
                template: template, origin: "visit:\(support.visitID)", requester: support.repID, customer: support.customerID,
                variables: variables, principal: principal, requestID: event.id, on: connection)
        }
    }

    /// Creates a request and one numbered card per card template, and publishes
    /// RequestCreated and a CardCreated per card. The day's counter row stays
    /// locked from the moment the numbers are taken until commit, so requests on
    /// the same prefix queue there, and the statement that takes the numbers is
    /// the last before COMMIT: it writes the cards, their timeline and audit
    /// entries and the events (data-modifying CTEs).
    ///
    /// The events are built here before the numbers exist: each CardCreated
    /// carries a placeholder as long as the day's numbers up to 9 999
    /// (`GT-20260305-####`), and the statement writes the number over it in the
    /// serialized bytes — a protobuf string is length-prefixed, so a replacement
    /// of the same length leaves the message valid. A longer number (the 10 000th
    /// card of a day) is published by a second statement instead.
    @discardableResult
    func create(
        template: Fieldwork_V1_RequestTemplate, origin: String, requester: String, customer: String, variables: [String: String],
        principal: Principal, requestID: String, on connection: PostgresConnection
    ) async throws -> UUID {
        let now = environment.clock.now()
        let requestUUID = UUID()
        let requestKey = requestUUID.uuidString.lowercased()
        let variablesJSON = String(decoding: try JSONEncoder().encode(variables), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO requests (id, template_id, template_version, origin, requester_id, customer_id, variables, status, created_at)
            VALUES (\(requestUUID), \(template.id), \(Int(template.version)), \(origin), \(requester), \(customer),
                    \(variablesJSON)::jsonb, 'OPEN', \(now))
            """, logger: logger)
        try await environment.audit(
            AuditRecord(entityType: "request", entityID: requestKey, action: "create", changes: [
                .init("template", "", "\(template.id) v\(template.version)"), .init("origin", "", origin), .init("requester_id", "", requester),
            ]),
            by: principal, at: now, requestID: requestID, on: connection)
        let requestCreated: (payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String) = (.requestCreated(.with {
            $0.requestID = requestKey
            $0.templateID = template.id
            $0.origin = origin
            $0.requesterID = requester
            $0.customerID = customer
        }), "request:\(requestKey)")

        let formatter = ISO8601DateFormatter()
        let cards = template.cards.map { card in
            let slaHours = card.slaHours > 0 ? Int(card.slaHours) : 24
            let dueAt = now.addingTimeInterval(Double(slaHours) * 3600)
            return (id: UUID(), department: card.department, title: TemplateText.render(card.title, variables),
                    description: TemplateText.render(card.description_p, variables), slaHours: slaHours,
                    dueAt: dueAt, dueText: formatter.string(from: dueAt))
        }
        guard !cards.isEmpty else {
            try await environment.outbox.appendAll([requestCreated], at: now, on: connection, logger: logger)
            return requestUUID
        }
        let day = environment.calendar.day(of: now)
        let placeholder = CardNumber.stem(prefix: template.numberPrefix, day: day) + String(repeating: "#", count: CardNumber.minimumDigits)
        func cardCreated(_ card: (id: UUID, department: String, title: String, description: String, slaHours: Int, dueAt: Date, dueText: String),
                         number: String) -> (payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String) {
            let cardKey = card.id.uuidString.lowercased()
            return (.cardCreated(.with {
                $0.cardID = cardKey
                $0.number = number
                $0.requestID = requestKey
                $0.department = card.department
                $0.title = card.title
                $0.description_p = card.description
                $0.dueAt = .init(card.dueAt)
                $0.requesterID = requester
                $0.customerID = customer
                $0.customerName = variables["customer_name"] ?? ""
            }), "card:\(cardKey)")
        }
        // Event 1 is RequestCreated, event 1 + n the CardCreated of card n.
        let events = try Outbox.Batch([requestCreated] + cards.map { cardCreated($0, number: placeholder) }, source: environment.outbox.source, at: now)
        // Consecutive numbers per prefix and day: the upsert locks the counter row until commit, so
        // concurrent requests get consecutive numbers with no gaps or duplicates (a rollback returns them).
        let rows = try await connection.query(
            """
            WITH counter AS (
                INSERT INTO card_counters (prefix, day, last) VALUES (\(template.numberPrefix), \(day.compact), \(cards.count))
                ON CONFLICT (prefix, day) DO UPDATE SET last = card_counters.last + \(cards.count)
                RETURNING last
            ), numbered AS (
                SELECT x.*, \(CardNumber.stem(prefix: template.numberPrefix, day: day))
                            || lpad(seq::text, greatest(\(CardNumber.minimumDigits)::int, length(seq::text)), '0') AS number
                FROM counter,
                     unnest(\(cards.map(\.id))::uuid[], \(cards.map(\.department))::text[], \(cards.map(\.title))::text[],
                            \(cards.map(\.description))::text[], \(cards.map(\.slaHours))::int8[], \(cards.map(\.dueAt))::timestamptz[],
                            \(cards.map(\.dueText))::text[]) WITH ORDINALITY AS x (id, department, title, description, sla, due, due_text, n),
                     LATERAL (SELECT counter.last - \(cards.count) + x.n AS seq) s
            ), new_cards AS (
                INSERT INTO cards (id, number, request_id, department, title, description, status, sla_hours, due_at, next_escalation_at,
                                   created_at, updated_at)
                SELECT id, number, \(requestUUID), department, title, description, 'OPEN', sla, due, due, \(now), \(now) FROM numbered
            ), timeline AS (
                INSERT INTO card_timeline (card_id, at, actor_id, kind, text)
                SELECT id, \(now), \(principal.personID), 'created', number || \(" from \(template.id) v\(template.version) for \(origin)")
                FROM numbered
            ), audit AS (
                INSERT INTO audit_log (\(unescaped: AuditLog.columns))
                SELECT gen_random_uuid(), \(now), \(principal.personID), \(principal.primaryRole.rawValue), 'card', id::text, 'create',
                       jsonb_build_array(\(unescaped: AuditRecord.changeSQL("number", before: "''", after: "number")),
                                         \(unescaped: AuditRecord.changeSQL("department", before: "''", after: "department")),
                                         \(unescaped: AuditRecord.changeSQL("status", before: "''", after: "'OPEN'")),
                                         \(unescaped: AuditRecord.changeSQL("due_at", before: "''", after: "due_text"))), '', \(requestID)
                FROM numbered ORDER BY n
            ), events AS (
                -- Each CardCreated with its number in place of the placeholder; a longer number is published below.
                INSERT INTO outbox (\(unescaped: Outbox.columns))
                SELECT o.* FROM (
                    SELECT array_agg(e.id ORDER BY e.n) AS ids, array_agg(e.aggregate ORDER BY e.n) AS aggregates,
                           array_agg(e.type ORDER BY e.n) AS types,
                           array_agg(CASE WHEN c.number IS NULL THEN e.payload
                                          ELSE overlay(e.payload PLACING convert_to(c.number, 'UTF8')
                                                       FROM position(convert_to(\(placeholder), 'UTF8') IN e.payload)) END
                                     ORDER BY e.n) AS payloads
                    FROM unnest(\(events.eventIDs)::uuid[], \(events.aggregateIDs)::text[], \(events.types)::text[], \(events.payloads)::bytea[])
                         WITH ORDINALITY AS e (id, aggregate, type, payload, n)
                    LEFT JOIN numbered c ON c.n = e.n - 1
                    WHERE c.number IS NULL OR length(c.number) = \(placeholder.count)
                ) b, outbox_rows(b.ids, b.aggregates, b.types, b.payloads, \(environment.outbox.subscribers), \(now)) o
            )
            SELECT number FROM numbered ORDER BY n
            """, logger: logger)
        var numbers: [String] = []
        for try await number in rows.decode(String.self) { numbers.append(number) }
        guard numbers.count == cards.count else { throw DomainError.failedPrecondition("card counter did not advance") }
        let longer = zip(cards, numbers).filter { $0.1.count != placeholder.count }
        if !longer.isEmpty {
            try await environment.outbox.appendAll(longer.map { cardCreated($0, number: $1) }, at: now, on: connection, logger: logger)
        }
        return requestUUID
    }

    // MARK: Changes

    /// The fields a change needs, read under a row lock.
    struct LockedCard: Sendable {
        var id: UUID
        var number: String
        var requestID: UUID
        var department: String
        var status: CardStatus
        var assigneeID: String
        var firstResponseAt: Date?
        var requesterID: String

        var entityID: String { id.uuidString.lowercased() }

        /// Members of the card's department act on it; admins on every card.
        func mayAct(_ principal: Principal) -> Bool {
            principal.has(.admin) || (!principal.department.isEmpty && principal.department == department)
        }

        /// As the read RPCs: the department, the requesting rep, directors and admins.
        func mayView(_ principal: Principal) -> Bool {
            mayAct(principal) || principal.personID == requesterID || principal.hasAny([.director, .executive])
        }
    }

    /// Locks a card by id or number until the transaction ends.
    func lockCard(_ key: String, on connection: PostgresConnection) async throws -> LockedCard {
        let rows = try await connection.query(
            """
            SELECT c.id, c.number, c.request_id, c.department, c.status, c.assignee_id, c.first_response_at, r.requester_id
            FROM cards c JOIN requests r ON r.id = c.request_id
            WHERE c.id = \(UUID(uuidString: key)) OR c.number = \(key)   -- both indexed; never c.id::text, which scans
            FOR UPDATE OF c
            """, logger: logger)
        for try await (id, number, request, department, status, assignee, firstResponse, requester) in rows.decode(
            (UUID, String, UUID, String, String, String, Date?, String).self)
        {
            return LockedCard(
                id: id, number: number, requestID: request, department: department, status: CardStatus(rawValue: status) ?? .open,
                assigneeID: assignee, firstResponseAt: firstResponse, requesterID: requester)
        }
        throw DomainError.notFound(entity: "card", id: key)
    }

    func card(_ id: UUID, on connection: PostgresConnection) async throws -> Fieldwork_V1_Card {
        for try await row in try await connection.query(
            "SELECT \(unescaped: Self.cardColumns) FROM cards c WHERE c.id = \(id)", logger: logger)
        {
            return try Self.decodeCard(row)
        }
        throw DomainError.notFound(entity: "card", id: id.uuidString.lowercased())
    }

    func recordTimeline(
        card: UUID, at: Date, actor: String, kind: String, text: String, changes: [AuditRecord.Change] = [],
        on connection: PostgresConnection
    ) async throws {
        let changesJSON = String(decoding: try JSONEncoder().encode(changes), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO card_timeline (card_id, at, actor_id, kind, text, changes)
            VALUES (\(card), \(at), \(actor), \(kind), \(text), \(changesJSON)::jsonb)
            """, logger: logger)
    }

    /// Records the first response when the actor belongs to the card's department
    /// (SPEC §3.4): the card leaves the escalation queue for good, and the
    /// response time is published for the collaboration indicator (§4.6).
    func noteResponse(to card: LockedCard, by principal: Principal, at now: Date, on connection: PostgresConnection) async throws {
        guard card.firstResponseAt == nil, principal.department == card.department else { return }
        var createdAt = now
        for try await created in try await connection.query(
            "UPDATE cards SET first_response_at = \(now), next_escalation_at = NULL WHERE id = \(card.id) RETURNING created_at", logger: logger
        ).decode(Date.self) { createdAt = created }
        try await environment.publish(.cardFirstResponse(.with {
            $0.cardID = card.entityID
            $0.number = card.number
            $0.department = card.department
            $0.createdAt = .init(createdAt)
            $0.respondedAt = .init(now)
            $0.responderID = principal.personID
        }), aggregateID: "card:\(card.entityID)", at: now, on: connection)
    }

    /// Completes the request once none of its cards is open: COMPLETED when at
    /// least one card is done (the rep is notified), CANCELLED when all were cancelled.
    @discardableResult
    func completeRequestIfFinished(
        _ requestID: UUID, by principal: Principal, at now: Date, clientRequestID: String, on connection: PostgresConnection
    ) async throws -> Bool {
        // The request row lock serialises the last two cards finishing at once.
        var requester = ""
        for try await (status, requesterID) in try await connection.query(
            "SELECT status, requester_id FROM requests WHERE id = \(requestID) FOR UPDATE", logger: logger
        ).decode((String, String).self) {
            guard status == "OPEN" else { return false }
            requester = requesterID
        }
        var open = 0, done = 0
        for try await (stillOpen, finished) in try await connection.query(
            """
            SELECT count(*) FILTER (WHERE status IN ('OPEN', 'IN_PROGRESS')), count(*) FILTER (WHERE status = 'DONE')
            FROM cards WHERE request_id = \(requestID)
            """, logger: logger
        ).decode((Int, Int).self) {
            open = stillOpen
            done = finished
        }
        guard open == 0 else { return false }
        let outcome = done > 0 ? "COMPLETED" : "CANCELLED"
        try await connection.query(
            "UPDATE requests SET status = \(outcome), completed_at = \(now) WHERE id = \(requestID)", logger: logger)
        try await environment.audit(
            AuditRecord(entityType: "request", entityID: requestID.uuidString.lowercased(), action: "complete",
                        changes: [.init("status", "OPEN", outcome)]),
            by: principal, at: now, requestID: clientRequestID, on: connection)
        if outcome == "COMPLETED" {
            try await environment.publish(.requestCompleted(.with {
                $0.requestID = requestID.uuidString.lowercased()
                $0.requesterID = requester
                $0.completedAt = .init(now)
            }), aggregateID: "request:\(requestID.uuidString.lowercased())", at: now, on: connection)
        }
        return true
    }

    // MARK: Reads

    static let cardColumns = """
        c.id, c.number, c.request_id, c.department, c.title, c.description, c.assignee_id, c.status, c.due_at, c.created_at,
        c.first_response_at, c.escalation_level, c.updated_at
        """

    static func decodeCard(_ row: PostgresRow) throws -> Fieldwork_V1_Card {
        let (id, number, request, department, title, description, assignee, status, due, created, firstResponse, level, updated) =
            try row.decode((UUID, String, UUID, String, String, String, String, String, Date, Date, Date?, Int, Date).self)
        return .with {
            $0.id = id.uuidString.lowercased()
            $0.number = number
            $0.requestID = request.uuidString.lowercased()
            $0.department = department
            $0.title = title
            $0.description_p = description
            $0.assigneeID = assignee
            $0.status = Fieldwork_V1_CardStatus(stored: status)
            $0.dueAt = .init(due)
            $0.createdAt = .init(created)
            if let firstResponse { $0.firstResponseAt = .init(firstResponse) }
            $0.escalationLevel = Int32(level)
            $0.updatedAt = .init(updated)
        }
    }

    /// Cards the principal may see: their department's, those of requests they
    /// made; directors and admins see all (SPEC §3, access).
    func cards(
        visibleTo principal: Principal, department: String, status: String, requestID: UUID?, cardKey: String,
        escalatedOnly: Bool = false, window: TimeWindow, page: Page
    ) async throws -> [Fieldwork_V1_Card] {
        let after = page.after
        let rows = try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.cardColumns) FROM cards c JOIN requests r ON r.id = c.request_id
            WHERE c.number > \(after) AND c.created_at >= \(window.from) AND c.created_at < \(window.to)
              AND (\(department) = '' OR c.department = \(department)) AND (\(status) = '' OR c.status = \(status))
              AND (\(requestID)::uuid IS NULL OR c.request_id = \(requestID))
              AND (\(cardKey) = '' OR c.id = \(UUID(uuidString: cardKey)) OR c.number = \(cardKey))
              AND (NOT \(escalatedOnly) OR c.escalation_level > 0)
              AND (\(principal.hasAny([.admin, .director, .executive])) OR c.department = \(principal.department)
                   OR r.requester_id = \(principal.personID))
            ORDER BY c.number LIMIT \(page.limit)
            """, logger: logger)
        var cards: [Fieldwork_V1_Card] = []
        for try await row in rows { cards.append(try Self.decodeCard(row)) }
        return cards
    }

    func requests(
        visibleTo principal: Principal, id: UUID?, requester: String, status: String, window: TimeWindow, page: Page
    ) async throws -> [Fieldwork_V1_Request] {
        let afterID = try page.idKey()
        let rows = try await environment.postgres.query(
            """
            SELECT r.id, r.template_id, r.template_version, r.origin, r.requester_id, r.customer_id, r.variables::text, r.status,
                   r.created_at, r.completed_at
            FROM requests r
            WHERE (\(afterID)::uuid IS NULL OR r.id > \(afterID)) AND (\(id)::uuid IS NULL OR r.id = \(id))
              AND r.created_at >= \(window.from) AND r.created_at < \(window.to)
              AND (\(requester) = '' OR r.requester_id = \(requester)) AND (\(status) = '' OR r.status = \(status))
              AND (\(principal.hasAny([.admin, .director, .executive])) OR r.requester_id = \(principal.personID)
                   OR EXISTS (SELECT 1 FROM cards c WHERE c.request_id = r.id AND c.department = \(principal.department)))
            ORDER BY r.id LIMIT \(page.limit)
            """, logger: logger)
        var requests: [Fieldwork_V1_Request] = []
        for try await (id, template, version, origin, requester, customer, variables, status, created, completed) in rows.decode(
            (UUID, String, Int, String, String, String, String, String, Date, Date?).self)
        {
            requests.append(.with {
                $0.id = id.uuidString.lowercased()
                $0.templateID = template
                $0.templateVersion = Int32(version)
                $0.origin = origin
                $0.requesterID = requester
                $0.customerID = customer
                $0.variables = (try? JSONDecoder().decode([String: String].self, from: Data(variables.utf8))) ?? [:]
                $0.status = status == "COMPLETED" ? .completed : status == "CANCELLED" ? .cancelled : .open
                $0.createdAt = .init(created)
                if let completed { $0.completedAt = .init(completed) }
            })
        }
        // The page's cards in one query.
        let ids = requests.compactMap { UUID(uuidString: $0.id) }
        var cardsByRequest: [String: [Fieldwork_V1_Card]] = [:]
        for try await row in try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.cardColumns) FROM cards c JOIN requests r ON r.id = c.request_id
            WHERE c.request_id = ANY (\(ids))
              AND (\(principal.hasAny([.admin, .director, .executive])) OR c.department = \(principal.department)
                   OR r.requester_id = \(principal.personID))
            ORDER BY c.number
            """, logger: logger)
        {
            let card = try Self.decodeCard(row)
            cardsByRequest[card.requestID, default: []].append(card)
        }
        for index in requests.indices { requests[index].cards = cardsByRequest[requests[index].id] ?? [] }
        return requests
    }
}

extension Fieldwork_V1_CardStatus {
    init(stored: String) {
        switch stored {
        case "OPEN": self = .open
        case "IN_PROGRESS": self = .inProgress
        case "DONE": self = .done
        case "CANCELLED": self = .cancelled
        default: self = .unspecified
        }
    }

    var stored: String {
        switch self {
        case .open: "OPEN"
        case .inProgress: "IN_PROGRESS"
        case .done: "DONE"
        case .cancelled: "CANCELLED"
        default: ""
        }
    }
}
