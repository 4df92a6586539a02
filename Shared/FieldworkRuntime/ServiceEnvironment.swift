import FieldworkDomain
import FieldworkProto
import Foundation
import GRPCCore
import Logging
import PostgresNIO
import SwiftProtobuf

/// What a service's handlers, stores and jobs run on: its database, clock,
/// calendar, outbox and jobs, plus the transaction helpers that tie the
/// runtime's guarantees (idempotency, outbox, inbox, audit) together.
public struct ServiceEnvironment: Sendable {
    public let name: String
    public let configuration: ServiceConfiguration
    public let postgres: PostgresClient
    public let clock: any FieldworkClock
    public let calendar: BusinessCalendar
    public let logger: Logger
    public let outbox: Outbox
    public let jobs: JobRunner
    public let tokens: TokenAuthority
    /// Long-running loops a service adds (e.g. a delivery dispatcher); they run
    /// beside the gRPC server and stop with it.
    public let background: BackgroundServices

    /// Runs `body` in a read-only transaction on a connection of its own that sees
    /// exactly the snapshot another, still open, transaction exported with
    /// `pg_export_snapshot()`, so several connections can read one consistent
    /// state at once (as pg_dump's parallel jobs do).
    public func readOnly<Result: Sendable>(
        inSnapshot snapshot: String, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        // SET TRANSACTION SNAPSHOT takes no parameters: the id goes into the text, so it must be one.
        guard !snapshot.isEmpty, snapshot.allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
            throw DomainError.failedPrecondition("'\(snapshot)' is not a snapshot id")
        }
        do {
            return try await postgres.withTransaction(logger: logger) { connection in
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: "SET TRANSACTION SNAPSHOT '\(snapshot)'"), logger: logger)
                // Batch reads beside a long run (scoring's component sums): not bound by the pool's statement limit.
                try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
                return try await body(connection)
            }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error
        }
    }

    /// Runs `body` in one transaction and wakes the relay after the commit.
    public func transaction<Result: Sendable>(
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            let result = try await postgres.withTransaction(logger: logger) { connection in try await body(connection) }
            outbox.wake()
            return result
        } catch let error as PostgresTransactionError {
            // The handler's own error (e.g. a DomainError) is what the caller must see.
            throw error.closureError ?? error
        }
    }

    /// A command RPC: one transaction; with a client `request_id`, a retry by the
    /// same caller returns the first response and changes nothing (SPEC §0).
    ///
    /// `inTransaction: false` is for a body whose every write is a single
    /// statement that stands alone (a hot path, where BEGIN and COMMIT are two of
    /// its few round trips): it then runs on a connection of its own, each
    /// statement committing as it returns. Nothing checks that: a body that
    /// writes twice (say, a store method and then `audit`) must not use it. A
    /// `request_id` still makes it one transaction, as the stored response must
    /// commit with the writes.
    public func command<Response: Message & Sendable>(
        _ method: String, requestID rawRequestID: String, inTransaction: Bool = true,
        _ body: (_ connection: PostgresConnection, _ principal: Principal, _ now: Date) async throws -> Response
    ) async throws -> Response {
        let principal = try Principal.required()
        let requestID = try Input.requestID(rawRequestID)
        let now = clock.now()
        if requestID.isEmpty, !inTransaction {
            // Also after an error: a statement may have committed before its answer was lost.
            defer { outbox.wake() }
            return try await postgres.withConnection { connection in try await body(connection, principal, now) }
        }
        return try await transaction { connection in
            guard !requestID.isEmpty else { return try await body(connection, principal, now) }
            // Serialise retries of one request id; the second waits and then sees the first's answer.
            let stored = try await connection.query(
                "SELECT stored_answer_after_request_lock(\(method), \(principal.personID), \(requestID))", logger: logger)
            for try await bytes in stored.decode(ByteBuffer?.self) {
                if let bytes { return try Response(serializedBytes: Array(bytes.readableBytesView)) }
            }
            let response = try await body(connection, principal, now)
            let bytes = ByteBuffer(bytes: try response.serializedBytes() as [UInt8])
            try await connection.query(
                """
                INSERT INTO idempotency_keys (method, principal, request_id, response, created_at)
                VALUES (\(method), \(principal.personID), \(requestID), \(bytes), \(now))
                """, logger: logger)
            return response
        }
    }

    /// `Deliver`: applies an event at most once (the inbox), in one transaction with its effects.
    public func deliver(
        _ request: Fieldwork_V1_DeliverRequest,
        _ apply: (_ event: Fieldwork_V1_Event, _ connection: PostgresConnection) async throws -> Void
    ) async throws -> Fieldwork_V1_DeliverResponse {
        guard request.hasEvent, request.event.payload != nil else {
            throw DomainError.invalidArgument(field: "event.payload", message: "is required")
        }
        let event = request.event
        let now = clock.now()
        let duplicate = try await transaction { connection in
            try await Inbox.consume(event, at: now, on: connection, logger: logger) { connection in
                try await apply(event, connection)
            }
        }
        logger.debug("event delivered", metadata: ["event": "\(event.type)", "id": "\(event.id)", "duplicate": "\(duplicate)"])
        return .with { $0.duplicate = duplicate }
    }

    /// `RunJob`: runs a registered job as of the given time (default now).
    public func runJob(_ request: Fieldwork_V1_RunJobRequest) async throws -> Fieldwork_V1_RunJobResponse {
        let asOf = try asOf(request.hasAsOf ? request.asOf : nil)
        let outcome = try await jobs.run(request.name, asOf: asOf)
        return .with {
            $0.name = request.name
            $0.asOf = .init(asOf)
            $0.itemsProcessed = Int64(outcome.items)
            $0.summary = outcome.summary
        }
    }

    static let asOfRange = Date(timeIntervalSince1970: 946_684_800)..<Date(timeIntervalSince1970: 32_503_680_000)

    /// The moment a job or scoring run is asked to run as of: now when unset,
    /// and never ahead of now (SPEC §8.3) — one run a year ahead would escalate
    /// every card and hide every real nightly run — unless the clock is simulated,
    /// where the simulation decides what "now" is. A minute of leeway covers the
    /// caller's clock running slightly ahead.
    public func asOf(_ timestamp: Google_Protobuf_Timestamp?, field: String = "as_of") throws -> Date {
        let now = clock.now()
        guard let timestamp else { return now }
        let asOf = try timestamp.instant(field: field)
        // Runs look back over windows of months: from year 1 that reached the year
        // 0, which PostgreSQL refuses (INTERNAL instead of the field's name).
        guard Self.asOfRange.contains(asOf) else {
            throw DomainError.invalidArgument(field: field, message: "must be within the years 2000–2999")
        }
        guard clock is ManualClock || asOf <= now.addingTimeInterval(60) else {
            throw DomainError.invalidArgument(field: field, message: "is later than now; jobs and runs look back, not ahead")
        }
        return asOf
    }

    public func listAudit(_ request: Fieldwork_V1_ListAuditRequest) async throws -> Fieldwork_V1_ListAuditResponse {
        try await AuditLog.list(request, client: postgres, logger: logger)
    }

    /// `ListAudit` under the service's object rules (`AuditAccess`).
    public func listAudit(_ request: Fieldwork_V1_ListAuditRequest, access: AuditAccess) async throws -> Fieldwork_V1_ListAuditResponse {
        let principal = try Principal.required()
        try await access.check(request, by: principal)
        var response = try await AuditLog.list(request, client: postgres, logger: logger)
        if !principal.has(.admin) { response.entries = response.entries.compactMap { access.entry($0, principal) } }
        return response
    }

    /// Appends an audit entry for the current caller.
    public func audit(_ record: AuditRecord, by principal: Principal, at: Date, requestID: String, on connection: PostgresConnection) async throws {
        try await AuditLog.append(record, actor: principal, at: at, requestID: requestID, on: connection, logger: logger)
    }

    /// Appends an event to the outbox.
    @discardableResult
    public func publish(
        _ payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String, at: Date, on connection: PostgresConnection
    ) async throws -> Fieldwork_V1_Event {
        try await outbox.append(payload, aggregateID: aggregateID, at: at, on: connection, logger: logger)
    }
}
