import Foundation
import Synchronization

/// Wakes this process's open `Subscribe` streams when items for their person
/// were committed here. Streams also poll (another replica may have written
/// the item), so a missed wake-up only delays, never loses, an item.
final class InboxFeed: Sendable {
    private let subscribers = Mutex<[String: [UUID: AsyncStream<Void>.Continuation]]>([:])

    /// A stream of wake-ups for `person`; end it with `remove`.
    func add(_ person: String) -> (id: UUID, wakeUps: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation) {
        // One pending wake-up is enough: the stream re-reads everything after its cursor.
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        subscribers.withLock { $0[person, default: [:]][id] = continuation }
        return (id, stream, continuation)
    }

    func remove(_ person: String, _ id: UUID) {
        let continuation = subscribers.withLock { subscribers -> AsyncStream<Void>.Continuation? in
            defer { if subscribers[person]?.isEmpty == true { subscribers[person] = nil } }
            return subscribers[person]?.removeValue(forKey: id)
        }
        continuation?.finish()
    }

    /// Call after the transaction that wrote the items committed.
    func wake(_ people: some Sequence<String>) {
        let continuations = subscribers.withLock { subscribers in people.flatMap { subscribers[$0].map { Array($0.values) } ?? [] } }
        for continuation in continuations { continuation.yield() }
    }
}
