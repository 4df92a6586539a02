import FieldworkProto
import Foundation
import GRPCCore
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SPEC §5 `Subscribe` over TCP: live items, resuming from a cursor, own inbox only.
@Suite(.serialized) struct InboxSubscribeTests {
    /// Collects what a subscription receives, in order, until cancelled.
    final class Received: Sendable {
        let items = Mutex<[(item: Fieldwork_V1_InboxItem, at: ContinuousClock.Instant)]>([])
        var count: Int { items.withLock { $0.count } }
        var all: [Fieldwork_V1_InboxItem] { items.withLock { $0.map(\.item) } }
    }

    static func subscribe(_ cluster: Cluster, token: String, after cursor: Int64, into received: Received) -> Task<Void, any Error> {
        Task {
            try await cluster.notifications(token) { client, metadata in
                try await client.subscribe(.with { $0.afterCursor = cursor }, metadata: metadata) { response in
                    for try await item in response.messages {
                        received.items.withLock { $0.append((item, ContinuousClock.now)) }
                    }
                }
            }
        }
    }

    @Test func aSubscriberSeesNewItemsLiveAndResumesFromItsCursor() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let mk02 = try await story.token("MK02"), e1002 = try await story.token("E1002")

            // Open streams: MK02's (marketing gets every surgery-support card) and another rep's.
            let live = Received(), stranger = Received()
            let liveTask = Self.subscribe(cluster, token: mk02, after: 0, into: live)
            let strangerTask = Self.subscribe(cluster, token: e1002, after: 0, into: stranger)
            try await Task.sleep(for: .milliseconds(500))   // the streams are open before the event happens

            // The visit commits upstream; the card reaches MK02's open stream within a second.
            let visit = try await story.checkIn(at: DemoData.insideZheyi)
            _ = try await story.submit(visit, surgeryInDays: 3)
            let committed = ContinuousClock.now
            try await cluster.eventually("the live item") { live.count == 1 }
            let first = try #require(live.items.withLock { $0.first })
            #expect(first.item.eventType == "workflows.CardCreated" && first.item.personID == "MK02")
            let latency = first.at - committed
            print("Subscribe latency from the upstream commit: \(latency)")
            #expect(latency < .seconds(1), "took \(latency)")
            liveTask.cancel()
            _ = try? await liveTask.value

            // Offline: two more requests reach MK02's inbox.
            for customer in ["H-ZJ-001", "H-ZJ-002"] { _ = try await story.supportRequest(customer: customer) }
            try await cluster.eventually("three items in MK02's inbox") { try await story.inbox("MK02").count == 3 }

            // Reconnecting after the last cursor seen: exactly the two missed items, in order.
            let resumed = Received()
            let resumedTask = Self.subscribe(cluster, token: mk02, after: first.item.cursor, into: resumed)
            try await cluster.eventually("the missed items") { resumed.count >= 2 }
            try await Task.sleep(for: .milliseconds(700))   // and nothing more arrives
            let again = resumed.all
            #expect(again.count == 2)
            #expect(again.map(\.cursor) == again.map(\.cursor).sorted() && again.allSatisfy { $0.cursor > first.item.cursor })
            #expect(Set(again.map(\.id)).count == 2 && !again.contains { $0.id == first.item.id })
            #expect(again.map(\.id) == (try await story.inbox("MK02")).dropFirst().map(\.id))
            resumedTask.cancel()
            _ = try? await resumedTask.value

            // A person's stream carries only their own items.
            #expect(stranger.count == 0)
            strangerTask.cancel()
            _ = try? await strangerTask.value
            #expect(await rpcCode {
                _ = try await cluster.notifications(mk02) { client, metadata in
                    try await client.subscribe(.with { $0.afterCursor = -1 }, metadata: metadata) { response in
                        for try await _ in response.messages {}
                    }
                }
            } == .invalidArgument)

            // Draining ends open streams normally (the client reconnects elsewhere with its cursor),
            // so SIGTERM does not wait out the drain limit for them.
            let open = Received()
            let openTask = Self.subscribe(cluster, token: mk02, after: 0, into: open)
            try await Task.sleep(for: .milliseconds(500))
            let stopping = ContinuousClock.now
            #expect(await cluster.stop(.notifications, signal: SIGTERM) == 0)
            #expect(ContinuousClock.now - stopping < .seconds(15), "the default drain limit is 20 s")
            try await openTask.value   // ended without an error
        }
    }
}
