import FieldworkProto
import Foundation
import GRPCCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Story 1 with services failing in the middle: no event lost, none applied twice.
@Suite(.serialized) struct ResilienceTests {
    /// (a) workflows is killed with SIGKILL after visits accepted records, then
    /// restarted: every request gets exactly its three cards.
    @Test func workflowsKilledMidFlowLosesAndDoublesNothing() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.importDirectory()

            var visits: [String] = []
            for index in 0..<4 {
                let visit = try await story.checkIn(at: DemoData.insideZheyi, customer: index % 2 == 0 ? "H-ZJ-001" : "H-ZJ-002")
                _ = try await story.submit(visit, surgeryInDays: 3 + index)
                visits.append(visit.id)
                if index == 1 {
                    // Mid-flow, without warning: events of visit 2 may be in flight or not yet sent.
                    await cluster.stop(.workflows, signal: SIGKILL)
                }
            }
            try await Task.sleep(for: .milliseconds(500))  // visits keeps retrying against a dead port
            try cluster.start(.workflows)
            try await cluster.waitUntilServing(.workflows)

            try await cluster.eventually("twelve cards") { try await story.cards().count >= 12 }
            try await story.flushVisitsOutbox()
            try await Task.sleep(for: .milliseconds(500))  // room for a duplicate to show up, if any could
            let cards = try await story.cards()
            #expect(cards.count == 12)
            #expect(Set(cards.map(\.number)).count == 12)
            let requests = try await story.requests()
            #expect(requests.count == 4)
            #expect(Set(requests.map(\.origin)) == Set(visits.map { "visit:\($0)" }))
            #expect(requests.allSatisfy { $0.cards.count == 3 })
            // Numbers are consecutive per day: no gaps, no duplicates.
            let today = DemoData.shanghaiToday()
            #expect(Set(cards.map(\.number)) == Set((1...12).map { String(format: "GT-\(today)-%04d", $0) }))
        }
    }

    /// (b) notifications is down while the story runs and started later: every
    /// inbox item arrives, exactly once.
    @Test func notificationsDownDuringTheFlowGetsEveryItemOnce() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.importDirectory()
            try await story.flushVisitsOutbox()  // the directory copy reached every consumer

            await cluster.stop(.notifications, signal: SIGKILL)
            for days in [2, 5] {
                let visit = try await story.checkIn(at: DemoData.insideZheyi, customer: days == 2 ? "H-ZJ-001" : "H-ZJ-002")
                _ = try await story.submit(visit, surgeryInDays: days)
            }
            try await cluster.eventually("six cards while notifications is down") { try await story.cards().count == 6 }
            try await Task.sleep(for: .seconds(1))  // several failed delivery attempts

            try cluster.start(.notifications)
            try await cluster.waitUntilServing(.notifications)
            for (_, members) in DemoData.departmentMembers {
                for person in members {
                    try await cluster.eventually("\(person) has two items") { try await story.inbox(person).count == 2 }
                }
            }
            try await Task.sleep(for: .seconds(1))
            for (_, members) in DemoData.departmentMembers {
                for person in members {
                    let items = try await story.inbox(person)
                    #expect(items.count == 2, "\(person): \(items.map(\.title))")
                    #expect(Set(items.map(\.eventID)).count == 2)
                }
            }
            #expect(try cluster.scalar(.notifications, "SELECT count(*) FROM inbox_items") == "10")
        }
    }

    /// (d) a surgery date before today is INVALID_ARGUMENT and nothing is written in any service.
    @Test func aPastSurgeryDateIsRefusedAndWritesNothingAnywhere() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.importDirectory()
            let visit = try await story.checkIn(at: DemoData.insideZheyi)
            try await story.flushVisitsOutbox()
            let outboxBefore = try cluster.scalar(.visits, "SELECT count(*) FROM outbox")
            let auditBefore = try cluster.scalar(.visits, "SELECT count(*) FROM audit_log")

            await #expect {
                try await story.submit(visit, surgeryInDays: -1)
            } throws: { error in
                let error = error as? RPCError
                return error?.code == .invalidArgument && error?.message.contains("record.surgery_support.surgery_date") == true
            }

            let after = try await cluster.visits(story.rep) { client, metadata in
                try await client.getVisit(.with { $0.id = visit.id }, metadata: metadata)
            }
            #expect(after.status == .open)
            #expect(after.record == Fieldwork_V1_VisitRecord())
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM outbox") == outboxBefore)
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM audit_log") == auditBefore)
            try await story.flushVisitsOutbox()
            #expect(try await story.requests().isEmpty)
            #expect(try await story.cards().isEmpty)
            #expect(try cluster.scalar(.workflows, "SELECT count(*) FROM requests") == "0")
            #expect(try cluster.scalar(.notifications, "SELECT count(*) FROM inbox_items") == "0")

            // The same visit with a valid date then goes through.
            _ = try await story.submit(visit, surgeryInDays: 0)
            try await cluster.eventually("three cards") { try await story.cards().count == 3 }
        }
    }
}
