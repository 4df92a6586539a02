import FieldworkProto
import Foundation
import Logging
import PostgresNIO
import SwiftProtobuf
import Synchronization

/// The producer side of the transactional outbox: an event is appended in the
/// same transaction as the change it describes, one row per subscriber, and a
/// relay delivers the rows after the commit.
public struct Outbox: Sendable {
    public let source: String
    public let subscribers: [String]
    let signal: WakeSignal

    init(source: String, subscribers: [String], signal: WakeSignal) {
        self.source = source
        self.subscribers = subscribers
        self.signal = signal
    }

    /// Appends an event; its rows become visible to the relay when the transaction commits.
    /// An event dated ahead (a job run with a future `as_of`) is still due at once.
    @discardableResult
    public func append(
        _ payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String, at occurredAt: Date,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Fieldwork_V1_Event {
        // One statement for all subscribers' rows: a round trip per event, not per subscriber.
        try await appendAll([(payload, aggregateID)], at: occurredAt, on: connection, logger: logger)[0]
    }

    /// Appends many events in one statement — one row per event and subscriber —
    /// for work that publishes in bulk (e.g. an escalation sweep).
    @discardableResult
    public func appendAll(
        _ items: [(payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String)], at occurredAt: Date,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> [Fieldwork_V1_Event] {
        let batch = try Batch(items, source: source, at: occurredAt)
        guard !batch.events.isEmpty, !subscribers.isEmpty else { return batch.events }
        // Each event once over the wire; SQL makes its row per subscriber, in event order.
        try await connection.query(
            """
            INSERT INTO outbox (\(unescaped: Self.columns))
            SELECT * FROM outbox_rows(\(batch.eventIDs), \(batch.aggregateIDs), \(batch.types), \(batch.payloads), \(subscribers), \(occurredAt))
            """, logger: logger)
        return batch.events
    }

    /// The columns `outbox_rows(…)` fills, in its order (RuntimeSchema.outboxRows).
    public static let columns = "event_id, subscriber, aggregate_id, event_type, payload, created_at, next_attempt_at"

    /// Events built and serialized, column by column, for an INSERT into the
    /// outbox: `appendAll`'s, or a statement's that writes its events itself.
    public struct Batch: Sendable {
        public var events: [Fieldwork_V1_Event] = []
        public var eventIDs: [UUID] = []
        public var aggregateIDs: [String] = []
        public var types: [String] = []
        public var payloads: [ByteBuffer] = []

        public init() {}

        public init(_ items: [(payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String)], source: String, at occurredAt: Date) throws {
            for item in items {
                let eventID = UUID.timeOrdered()
                let event = Fieldwork_V1_Event.with {
                    $0.id = eventID.uuidString.lowercased()
                    $0.type = item.payload.typeName
                    $0.occurredAt = .init(occurredAt)
                    $0.source = source
                    $0.aggregateID = item.aggregateID
                    $0.payload = item.payload
                }
                eventIDs.append(eventID)
                aggregateIDs.append(item.aggregateID)
                types.append(event.type)
                payloads.append(ByteBuffer(bytes: try event.serializedBytes() as [UInt8]))
                events.append(event)
            }
        }
    }

    /// Tells the relay new rows may be waiting (call after commit).
    public func wake() { signal.wake() }
}

/// Wakes a polling loop (the outbox relay, a delivery dispatcher) early
/// instead of waiting for its next poll. One waiter at a time.
public final class WakeSignal: Sendable {
    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {}

    public func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            if state.waiter == nil { state.pending = true }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns after `wake()` or `timeout`, whichever comes first.
    public func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.state.withLock { state -> Bool in
                        if state.pending { state.pending = false; return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // Release a waiter that did not fire, so the group can finish.
            self.wake()
        }
        state.withLock { $0.pending = false }
    }
}
