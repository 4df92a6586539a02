import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §6 story 1 across the four executables, over TCP.
@Suite(.serialized) struct StoryOneTests {
    @Test func aCheckInWithSurgerySupportBecomesThreeNumberedCardsInTheDepartmentsInboxes() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.importDirectory()

            // Inside the fence: an open visit, stamped and watermarked.
            let visit = try await story.checkIn(at: DemoData.insideZheyi)
            #expect(visit.status == .open)
            #expect(!visit.outOfRange && visit.distanceM < 300)
            #expect(visit.watermark.count == 64)
            // A second scan within 10 minutes returns the open visit.
            #expect(try await story.checkIn(at: DemoData.insideZheyi).id == visit.id)

            let submitted = try await story.submit(visit, surgeryInDays: 7)
            #expect(submitted.status == .submitted)
            #expect(submitted.record.productIds == ["SP-NEW-01", "TR-201"])
            #expect(submitted.record.objectionType == .price)

            // Workflows: one request, three cards numbered GT-<today>-0001…0003.
            try await cluster.eventually("three cards") { try await story.cards().count == 3 }
            let cards = try await story.cards()
            #expect(Set(cards.map(\.department)) == ["marketing", "logistics", "compliance"])
            let today = DemoData.shanghaiToday()
            #expect(Set(cards.map(\.number)) == ["GT-\(today)-0001", "GT-\(today)-0002", "GT-\(today)-0003"])
            #expect(cards.allSatisfy { $0.status == .open && $0.title.contains("浙江大学医学院附属第一医院") })
            let requests = try await story.requests()
            #expect(requests.count == 1)
            #expect(requests.first?.origin == "visit:\(visit.id)")
            #expect(requests.first?.requesterID == "E1001")

            // Notifications: each department member has their department's card.
            for (department, members) in DemoData.departmentMembers {
                let number = try #require(cards.first { $0.department == department }?.number)
                for person in members {
                    try await cluster.eventually("\(person)'s inbox") { try await story.inbox(person).count == 1 }
                    let items = try await story.inbox(person)
                    #expect(items.count == 1)
                    #expect(items.first?.title.contains(number) == true)
                    #expect(items.first?.link.hasPrefix("fieldwork://cards/") == true)
                }
            }
            // Nobody outside those departments got one.
            #expect(try await story.inbox("E1002").isEmpty)

            // Reading: a person marks their own items; someone else's are untouched.
            let item = try #require(try await story.inbox("LG02").first)
            let stranger = try await cluster.token("MK01", [.deptHead], department: "marketing")
            let byStranger = try await cluster.notifications(stranger) { client, metadata in
                try await client.markRead(.with { $0.itemIds = [item.id] }, metadata: metadata)
            }
            #expect(byStranger.marked == 0)
            let reader = try await cluster.token("LG02", [.ops], department: "logistics")
            let marked = try await cluster.notifications(reader) { client, metadata in
                try await client.markRead(.with { $0.itemIds = [item.id] }, metadata: metadata)
            }
            #expect(marked.marked == 1)
            let unread = try await cluster.notifications(reader) { client, metadata in try await client.unreadCount(.init(), metadata: metadata) }
            #expect(unread.unread == 0)

            // The watermark verifies; the audit trail has both steps.
            let verified = try await cluster.visits(story.admin) { client, metadata in
                try await client.verifyWatermark(.with { $0.visitID = visit.id }, metadata: metadata)
            }
            #expect(verified.valid)
            let audit = try await cluster.visits(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "visit"; $0.entityID = visit.id }, metadata: metadata)
            }
            #expect(audit.entries.map(\.action) == ["check_in", "submit"])
            #expect(audit.entries.allSatisfy { $0.actorPersonID == "E1001" && $0.actorRole == "rep" })
        }
    }

    @Test func checkInsWithoutGPSAreVoidAndFarAwayOnesAreFlagged() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.importDirectory()

            let void = try await story.checkIn(at: nil)
            #expect(void.status == .void)
            #expect(void.voidReason == "NO_LOCATION")

            let far = try await story.checkIn(at: DemoData.twoKilometresAway, customer: "H-ZJ-002")
            #expect(far.outOfRange)
            #expect(far.distanceM > 1500 && far.distanceM < 2500)
            #expect(far.status == .open)

            // A void visit never becomes a submitted one.
            await #expect { try await story.submit(void, surgeryInDays: nil) } throws: { ($0 as? RPCError)?.code == .failedPrecondition }

            // Coordinates out of bounds: INVALID_ARGUMENT naming the field, nothing written.
            let before = try cluster.scalar(.visits, "SELECT count(*) FROM visits")
            await #expect {
                try await story.checkIn(at: .with { $0.latitude = 91; $0.longitude = 120 })
            } throws: { error in
                let error = error as? RPCError
                return error?.code == .invalidArgument && error?.message.contains("location.latitude") == true
            }
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM visits") == before)
        }
    }
}
