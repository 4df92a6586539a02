import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore

/// `Subscribe` (SPEC §5): the caller's new inbox items, live. Items are sent in
/// cursor order; a client that reconnects with the last cursor it saw gets
/// everything after it, so nothing is missed and nothing repeats. Items are read
/// only below the transaction horizon (`InboxStore.visible`), so no item can
/// commit later behind a cursor already sent: "after this cursor" is safe to resume from.
extension NotificationsService {
    static let subscribePollInterval = Duration.milliseconds(500)
    static let subscribeBatch = 200

    func subscribe(_ request: Fieldwork_V1_SubscribeRequest, writer: RPCWriter<Fieldwork_V1_InboxItem>) async throws {
        let person = try Principal.required().personID
        guard request.afterCursor >= 0 else {
            throw DomainError.invalidArgument(field: "after_cursor", message: "must not be negative")
        }
        let subscription = try feed.add(person)
        defer { feed.remove(person, subscription.id) }
        // 0 means "only what arrives from now on".
        let start = request.afterCursor == 0 ? try await inbox.lastCursor(person: person) : request.afterCursor
        try await untilShutdown {
            var cursor = start
            try await withThrowingDiscardingTaskGroup { group in
                // The poll: picks up items another replica wrote.
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: Self.subscribePollInterval)
                        subscription.continuation.yield()
                    }
                }
                subscription.continuation.yield()   // first, anything already after the cursor
                for await _ in subscription.wakeUps {
                    while true {
                        let items = try await inbox.items(person: person, after: cursor, limit: Self.subscribeBatch)
                        for item in items {
                            try await writer.write(item)
                            cursor = item.cursor
                        }
                        if items.count < Self.subscribeBatch { break }
                    }
                }
                group.cancelAll()
            }
        }
    }
}
