import Foundation
import GRPCCore
import Synchronization

/// Wakes this process's open `Subscribe` streams when items for their person
/// were committed here. Streams also poll (another replica may have written
/// the item), so a missed wake-up only delays, never loses, an item.
///
/// Streams are bounded per person and per replica (SPEC §11.2): each open
/// stream reads the database, so an unbounded number would exhaust the pool
/// and stall every RPC. The excess is refused with RESOURCE_EXHAUSTED.
final class InboxFeed: Sendable {
    private struct State {
        var subscribers: [String: [UUID: AsyncStream<Void>.Continuation]] = [:]
        var open = 0
    }
    private let state = Mutex(State())
    let perPerson: Int
    let total: Int

    init(perPerson: Int, total: Int) {
        self.perPerson = perPerson
        self.total = total
    }

    /// A stream of wake-ups for `person`; end it with `remove`.
    func add(_ person: String) throws -> (id: UUID, wakeUps: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation) {
        // One pending wake-up is enough: the stream re-reads everything after its cursor.
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        try state.withLock { state in
            guard state.open < total else {
                throw RPCError(code: .resourceExhausted, message: "this replica has \(total) open streams (SUBSCRIBE_MAX); retry shortly")
            }
            guard state.subscribers[person, default: [:]].count < perPerson else {
                throw RPCError(
                    code: .resourceExhausted,
                    message: "\(person) already has \(perPerson) open streams (SUBSCRIBE_PER_PERSON); close one first")
            }
            state.subscribers[person, default: [:]][id] = continuation
            state.open += 1
        }
        return (id, stream, continuation)
    }

    func remove(_ person: String, _ id: UUID) {
        let continuation = state.withLock { state -> AsyncStream<Void>.Continuation? in
            defer { if state.subscribers[person]?.isEmpty == true { state.subscribers[person] = nil } }
            let removed = state.subscribers[person]?.removeValue(forKey: id)
            if removed != nil { state.open -= 1 }
            return removed
        }
        continuation?.finish()
    }

    /// Call after the transaction that wrote the items committed.
    func wake(_ people: some Sequence<String>) {
        let continuations = state.withLock { state in people.flatMap { state.subscribers[$0].map { Array($0.values) } ?? [] } }
        for continuation in continuations { continuation.yield() }
    }
}
