import FieldworkDomain
import FieldworkProto
import Foundation
import Logging
import PostgresNIO

/// The consumer side: an event's id is recorded in the same transaction as its
/// effects, so a redelivered event is acknowledged and changes nothing.
public enum Inbox {
    /// Runs `effects` once per event id. Returns true when the event was a duplicate.
    public static func consume(
        _ event: Fieldwork_V1_Event, at receivedAt: Date, on connection: PostgresConnection, logger: Logger,
        effects: (PostgresConnection) async throws -> Void
    ) async throws -> Bool {
        guard let eventID = UUID(uuidString: event.id) else {
            throw RPCFieldError.invalid("event.id", "must be a UUID")
        }
        let rows = try await connection.execute(
            Record(eventID: eventID, eventType: event.type, source: event.source, receivedAt: receivedAt), logger: logger)
        var inserted = false
        for try await _ in rows { inserted = true }
        guard inserted else { return true }
        try await effects(connection)
        return false
    }
}

extension Inbox {
    /// Records an event id unless it is there; returns it when it was not.
    /// Prepared once per connection: it runs for every event delivered.
    struct Record: PreparedSQL {
        static let name = "runtime.inbox-record"
        static let sql = Self(eventID: UUID(), eventType: "", source: "", receivedAt: Date()).query.sql
        var eventID: UUID
        var eventType: String
        var source: String
        var receivedAt: Date

        var query: PostgresQuery {
            """
            INSERT INTO inbox (event_id, event_type, source, received_at)
            VALUES (\(eventID), \(eventType), \(source), \(receivedAt))
            ON CONFLICT (event_id) DO NOTHING RETURNING event_id
            """
        }
    }
}

/// Shorthand for `DomainError.invalidArgument` inside the runtime.
enum RPCFieldError {
    static func invalid(_ field: String, _ message: String) -> Error {
        DomainError.invalidArgument(field: field, message: message)
    }
}
