import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §11.5: a card that reaches notifications before its department's people
/// is "not yet", not a refusal. Before, each try counted toward parking, so a
/// card could park ~25 s after a fresh start and wait for a manual redrive.
@Suite(.serialized) struct DirectoryLagTests {
    @Test func aCardAheadOfItsDepartmentsPeopleWaitsAndIsNeverParked() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll(extra: [.workflows: ["RELAY_MAX_REJECTIONS": "2"]])
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            // Notifications' copy loses logistics' people, as if their events were still on the way.
            try cluster.psql("""
                CREATE TABLE lagging AS SELECT * FROM directory_people WHERE department = 'logistics';
                DELETE FROM directory_people WHERE department = 'logistics';
                """, database: cluster.database(.notifications))
            let cards = try await story.supportRequest()
            let logistics = try #require(cards["logistics"])
            let row = """
                SELECT attempts || '/' || rejections || '/' || (parked_at IS NOT NULL) || '/' || (delivered_at IS NOT NULL) FROM outbox
                WHERE subscriber = 'notifications' AND event_type = 'workflows.CardCreated' AND aggregate_id = 'card:\(logistics.id)'
                """
            // Tried more often than the rejection budget (2), yet neither refused nor parked.
            try await cluster.eventually("several tries of the logistics card", timeout: .seconds(30)) {
                let state = try cluster.scalar(.workflows, row).split(separator: "/")
                return state.count == 4 && (Int(state[0]) ?? 0) >= 4
            }
            let waiting = try cluster.scalar(.workflows, row).split(separator: "/").dropFirst().joined(separator: "/")
            #expect(waiting == "0/false/false", "rejections/parked/delivered: \(waiting)")
            #expect(try await story.inbox("LG01").isEmpty)
            // The people arrive: the card goes through on its own, no redrive.
            try cluster.psql("INSERT INTO directory_people SELECT * FROM lagging", database: cluster.database(.notifications))
            try await cluster.eventually("the card in logistics' inbox", timeout: .seconds(30)) {
                try await story.inbox("LG01").contains { $0.eventType == "workflows.CardCreated" }
            }
            #expect(try cluster.scalar(.workflows, row).hasSuffix("/0/false/true"))
        }
    }
}
