import FieldworkProto
import Foundation
import GRPCCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SPEC §3.1, §3.2 and §3.4 over TCP: the card lifecycle, escalation (story 2)
/// and templates as data.
@Suite(.serialized) struct WorkflowsCardTests {
    @Test func cardsMoveThroughTheirLifecycleAndTheRequestCompletes() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let cards = try await story.supportRequest()
            let marketing = try #require(cards["marketing"]), logistics = try #require(cards["logistics"])
            let compliance = try #require(cards["compliance"])
            let mk02 = try await story.token("MK02"), lg02 = try await story.token("LG02")

            // Another department neither sees nor touches the card; the requesting rep sees it but cannot move it.
            #expect(await rpcCode {
                _ = try await cluster.workflows(lg02) { client, metadata in try await client.getCard(.with { $0.id = marketing.id }, metadata: metadata) }
            } == .notFound)
            #expect(await rpcCode {
                _ = try await cluster.workflows(lg02) { client, metadata in
                    try await client.acknowledgeCard(.with { $0.cardID = marketing.number }, metadata: metadata)
                }
            } == .notFound)
            #expect(await rpcCode { _ = try await story.setStatus(marketing.id, .inProgress, by: "E1001") } == .permissionDenied)
            // The request shows each caller only the cards they may see.
            let seenByLogistics = try await cluster.workflows(lg02) { client, metadata in
                try await client.getRequest(.with { $0.id = marketing.requestID }, metadata: metadata)
            }
            #expect(seenByLogistics.cards.map(\.department) == ["logistics"])

            // Illegal moves and missing fields.
            #expect(await rpcCode { _ = try await story.setStatus(marketing.id, .done, by: "MK02") } == .failedPrecondition)
            #expect(await rpcCode { _ = try await story.setStatus(marketing.id, .unspecified, by: "MK02") } == .invalidArgument)
            #expect(await rpcCode { _ = try await story.setStatus(marketing.id, .cancelled, by: "MK02") } == .invalidArgument)

            // Acknowledging is the first response; retrying with the same request id changes nothing.
            let acknowledge: @Sendable () async throws -> Fieldwork_V1_Card = {
                try await cluster.workflows(mk02) { client, metadata in
                    try await client.acknowledgeCard(.with { $0.cardID = marketing.number; $0.requestID = "ack-1" }, metadata: metadata)
                }
            }
            let acknowledged = try await acknowledge()
            #expect(acknowledged.hasFirstResponseAt)
            #expect(try await acknowledge().updatedAt == acknowledged.updatedAt)

            // Assignment: only to an active member of the card's department.
            #expect(await rpcCode {
                _ = try await cluster.workflows(mk02) { client, metadata in
                    try await client.assignCard(.with { $0.cardID = marketing.id; $0.assigneeID = "LG02" }, metadata: metadata)
                }
            } == .invalidArgument)
            let assigned = try await cluster.workflows(mk02) { client, metadata in
                try await client.assignCard(.with { $0.cardID = marketing.id; $0.assigneeID = "MK02" }, metadata: metadata)
            }
            #expect(assigned.assigneeID == "MK02")

            // The rep's note is on the timeline but does not answer the card.
            let repToken = try await story.token("E1001")
            let noted = try await cluster.workflows(repToken) { client, metadata in
                try await client.addNote(.with { $0.cardID = compliance.id; $0.text = "手术改到周五" }, metadata: metadata)
            }
            #expect(!noted.hasFirstResponseAt)

            // All three cards done: the request completes and the rep is told.
            _ = try await story.setStatus(marketing.id, .inProgress, by: "MK02")
            _ = try await story.setStatus(marketing.id, .done, by: "MK02")
            _ = try await story.setStatus(logistics.id, .inProgress, by: "LG02")
            _ = try await story.setStatus(logistics.id, .done, by: "LG02")
            _ = try await story.setStatus(compliance.id, .inProgress, by: "CP01")
            #expect(try await story.requests().first?.status == .open)
            let last = try await story.setStatus(compliance.id, .done, by: "CP01")
            #expect(last.status == .done)
            let request = try #require(try await story.requests().first)
            #expect(request.status == .completed && request.hasCompletedAt)
            try await cluster.eventually("the rep's completion notice") {
                try await story.inbox("E1001").contains { $0.eventType == "workflows.RequestCompleted" && $0.link.contains(request.id) }
            }

            // A done card is read-only.
            #expect(await rpcCode { _ = try await story.setStatus(marketing.id, .inProgress, by: "MK02") } == .failedPrecondition)
            #expect(await rpcCode {
                _ = try await cluster.workflows(mk02) { client, metadata in
                    try await client.addNote(.with { $0.cardID = marketing.id; $0.text = "late" }, metadata: metadata)
                }
            } == .failedPrecondition)

            // The timeline and the audit trail tell the same story.
            let timeline = try await cluster.workflows(mk02) { client, metadata in
                try await client.cardTimeline(.with { $0.cardID = marketing.id }, metadata: metadata).entries
            }
            #expect(timeline.map(\.kind) == ["created", "acknowledged", "assigned", "status", "status"])
            #expect(timeline.filter { $0.kind == "status" }.map { "\($0.changes[0].before)>\($0.changes[0].after)" } == ["OPEN>IN_PROGRESS", "IN_PROGRESS>DONE"])
            #expect(timeline.dropFirst().allSatisfy { $0.actorID == "MK02" })
            let audit = try await cluster.workflows(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "card"; $0.entityID = marketing.id }, metadata: metadata).entries
            }
            #expect(audit.map(\.action) == ["create", "acknowledge", "assign", "status", "status"])
            // What the card was created with: its number, department, status and due time.
            #expect(timeline.first?.text.hasPrefix("\(marketing.number) from surgery-support v1 for visit:") == true)
            #expect(audit.first.map { $0.changes.map { [$0.field, $0.before, $0.after] } } == [
                ["number", "", marketing.number], ["department", "", "marketing"], ["status", "", "OPEN"],
                ["due_at", "", ISO8601DateFormatter().string(from: marketing.dueAt.date)],
            ])
        }
    }

    /// SPEC §6 story 2: nobody answers two of the three cards. The service is
    /// killed and restarted before the 24 h mark, a second replica joins, and
    /// each level fires exactly once.
    @Test func unansweredCardsEscalateOncePerLevelAcrossARestart() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let cards = try await story.supportRequest()
            let marketing = try #require(cards["marketing"]), logistics = try #require(cards["logistics"])
            let lg02 = try await story.token("LG02")
            _ = try await cluster.workflows(lg02) { client, metadata in
                try await client.acknowledgeCard(.with { $0.cardID = logistics.id }, metadata: metadata)
            }

            await cluster.stop(.workflows, signal: SIGKILL)
            // Back with batches of two cards, so a sweep that finds more than a batch due takes several,
            // and on a simulated clock: only then may a sweep run as of a later time (SPEC §8.3).
            try cluster.start(.workflows, extra: Cluster.simulatedClock.merging(["ESCALATION_BATCH": "2"]) { $1 })
            try await cluster.waitUntilServing(.workflows)

            let created = marketing.createdAt.date
            // A second replica on the same database; both sweep at once: each card escalates once.
            let replica = try await cluster.startReplica(.workflows, extra: Cluster.simulatedClock)
            let sweep: @Sendable (Date) async throws -> Int64 = { asOf in
                try await cluster.setTime(.workflows, asOf)
                try await cluster.setTime(.workflows, asOf, port: replica)
                return try await story.runWorkflowsJob("escalation", asOf: asOf).itemsProcessed
            }
            #expect(try await sweep(created.addingTimeInterval(23 * 3600)) == 0)
            try await cluster.setTime(.workflows, created.addingTimeInterval(25 * 3600))
            try await cluster.setTime(.workflows, created.addingTimeInterval(25.5 * 3600), port: replica)
            let admin = story.admin
            let sweepOnReplica: @Sendable (Date) async throws -> Int64 = { asOf in
                try await cluster.withClient(port: replica) { client in
                    try await Fieldwork_V1_WorkflowsService.Client(wrapping: client).runJob(
                        .with { $0.name = "escalation"; $0.asOf = .init(date: asOf) }, metadata: cluster.metadata(admin)).itemsProcessed
                }
            }
            async let first = story.runWorkflowsJob("escalation", asOf: created.addingTimeInterval(25 * 3600))
            async let second = sweepOnReplica(created.addingTimeInterval(25 * 3600))
            #expect(try await first.itemsProcessed + second == 2)
            #expect(try await sweepOnReplica(created.addingTimeInterval(25.5 * 3600)) == 0)
            #expect(try await sweep(created.addingTimeInterval(26 * 3600)) == 0)
            #expect(try await story.card(marketing.id).escalationLevel == 1)
            #expect(try await story.card(logistics.id).escalationLevel == 0)

            // The heads of the silent departments are told, once each; logistics answered in time.
            for head in ["MK01", "CP01"] {
                try await cluster.eventually("\(head) told of the escalation") {
                    try await story.inbox(head).contains { $0.eventType == "workflows.CardEscalated" }
                }
            }

            // 24 h later still nothing: the director (the heads' supervisor).
            #expect(try await sweep(created.addingTimeInterval(49 * 3600)) == 2)
            #expect(try await sweep(created.addingTimeInterval(96 * 3600)) == 0)
            try await cluster.eventually("the director told twice") {
                try await story.inbox("D3001").filter { $0.eventType == "workflows.CardEscalated" }.count == 2
            }
            for head in ["MK01", "CP01"] {
                #expect(try await story.inbox(head).filter { $0.eventType == "workflows.CardEscalated" }.count == 1)
            }
            #expect(try await story.inbox("LG01").filter { $0.eventType == "workflows.CardEscalated" }.isEmpty)
            let escalated = try await cluster.workflows(try await story.token("D3001")) { client, metadata in
                try await client.listCards(.with { $0.escalatedOnly = true }, metadata: metadata).cards
            }
            #expect(Set(escalated.map(\.department)) == ["marketing", "compliance"])
            #expect(escalated.allSatisfy { $0.escalationLevel == 2 })
            let timeline = try await cluster.workflows(story.admin) { client, metadata in
                try await client.cardTimeline(.with { $0.cardID = marketing.id }, metadata: metadata).entries
            }
            // Each level is written down: whom it went to and since when nobody answered (the SLA's end, then 24 h later).
            let slaEnd = marketing.dueAt.date, iso = ISO8601DateFormatter()
            #expect(timeline.filter { $0.kind == "escalated" }.map(\.text) == [
                "no first response since \(iso.string(from: slaEnd)): escalated to the department head MK01",
                "no first response since \(iso.string(from: slaEnd.addingTimeInterval(24 * 3600))): escalated to the director D3001",
            ])
            #expect(timeline.filter { $0.kind == "escalated" }.map { $0.changes.map { [$0.field, $0.before, $0.after] } } == [
                [["escalation_level", "0", "1"]], [["escalation_level", "1", "2"]],
            ])
            let audit = try await cluster.workflows(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "card"; $0.entityID = marketing.id }, metadata: metadata).entries
            }.filter { $0.action == "escalate" }
            #expect(audit.map { $0.changes.map { [$0.field, $0.before, $0.after] } } == [
                [["escalation_level", "0", "1"], ["escalated_to", "", "MK01"]],
                [["escalation_level", "1", "2"], ["escalated_to", "", "D3001"]],
            ])
            #expect(audit.allSatisfy { $0.actorPersonID == "job:escalation" })

            // Found overdue after a long outage: both levels fire in one sweep, once.
            let later = try await story.supportRequest(customer: "H-ZJ-002")
            let laterCreated = try #require(later["marketing"]).createdAt.date
            #expect(try await sweep(laterCreated.addingTimeInterval(60 * 3600)) == 6)
            #expect(try await sweep(laterCreated.addingTimeInterval(61 * 3600)) == 0)
            for card in later.values { #expect(try await story.card(card.id).escalationLevel == 2) }
        }
    }

    @Test func templatesAreDataAndNumbersStayGaplessUnderConcurrency() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let upsert: @Sendable (String, Fieldwork_V1_RequestTemplate) async throws -> Fieldwork_V1_RequestTemplate = { token, template in
                try await cluster.workflows(token) { client, metadata in
                    try await client.upsertTemplate(.with { $0.template = template }, metadata: metadata)
                }
            }
            var device = try #require(try await cluster.workflows(story.admin) { client, metadata in
                try await client.listTemplates(.init(), metadata: metadata).templates
            }.first { $0.id == "sample-device" })
            #expect(device.version == 1 && device.cards.count == 2)

            // Validation names the field; only admins edit templates.
            var bad = device
            bad.cards[0].title = "样机 {hospital}"
            #expect(await rpcCode { _ = try await upsert(story.admin, bad) } == .invalidArgument)
            bad = device
            bad.cards[0].department = "kitchen"
            #expect(await rpcCode { _ = try await upsert(story.admin, bad) } == .invalidArgument)
            bad = device
            bad.numberPrefix = "yp"
            #expect(await rpcCode { _ = try await upsert(story.admin, bad) } == .invalidArgument)
            #expect(await rpcCode { _ = try await upsert(try await story.token("M2001"), device) } == .permissionDenied)

            // A sample-device request opened by hand: two cards, YP-numbered, texts filled from the directory.
            let rep = try await story.token("E1001")
            let create: @Sendable (String, String) async throws -> Fieldwork_V1_Request = { template, products in
                try await cluster.workflows(rep) { client, metadata in
                    try await client.createRequest(.with {
                        $0.templateID = template
                        $0.customerID = "H-ZJ-001"
                        $0.variables = ["products": products]
                    }, metadata: metadata)
                }
            }
            let first = try await create("sample-device", "新型脊柱融合器 样机")
            let today = DemoData.shanghaiToday()
            #expect(first.cards.map(\.number).sorted() == ["YP-\(today)-0001", "YP-\(today)-0002"])
            #expect(first.cards.allSatisfy { $0.title.contains("浙江大学医学院附属第一医院") })
            #expect(first.templateVersion == 1 && first.requesterID == "E1001")

            // A revision is a new version; the earlier request keeps the version it was made from.
            device.cards.append(.with { $0.department = "compliance"; $0.title = "样机合规审核：{customer_name}"; $0.slaHours = 8 })
            let revised = try await upsert(story.admin, device)
            #expect(revised.version == 2 && revised.cards.count == 3)
            let second = try await create("sample-device", "创伤锁定接骨板 样机")
            #expect(second.templateVersion == 2 && second.cards.count == 3)
            #expect(try await story.requests().first { $0.id == first.id }?.templateVersion == 1)
            device.active = false
            _ = try await upsert(story.admin, device)
            #expect(await rpcCode { _ = try await create("sample-device", "x") } == .notFound)
            #expect(await rpcCode {
                _ = try await cluster.workflows(rep) { client, metadata in
                    try await client.createRequest(.with { $0.templateID = "surgery-support"; $0.customerID = "H-ZJ-001"; $0.variables = ["x": "y"] },
                                                   metadata: metadata)
                }
            } == .invalidArgument)

            // 200 surgery-support requests at once: 600 distinct numbers, 0001…0600, no gaps.
            let numbers = try await cluster.workflows(rep) { client, metadata in
                try await withThrowingTaskGroup(of: [String].self) { group in
                    for index in 0..<200 {
                        group.addTask {
                            try await client.createRequest(.with {
                                $0.templateID = "surgery-support"
                                $0.customerID = index.isMultiple(of: 2) ? "H-ZJ-001" : "H-ZJ-002"
                                $0.variables = ["products": "P\(index)"]
                            }, metadata: metadata).cards.map(\.number)
                        }
                    }
                    var all: [String] = []
                    for try await numbers in group { all += numbers }
                    return all
                }
            }
            #expect(numbers.count == 600)
            #expect(Set(numbers) == Set((1...600).map { String(format: "GT-\(today)-%04d", $0) }))

            // Past 9 999 the sequence takes a fifth digit (CreateRequest builds the number in SQL).
            _ = try cluster.scalar(.workflows, "UPDATE card_counters SET last = 9998 WHERE prefix = 'GT'")
            let longer = try await cluster.workflows(rep) { client, metadata in
                try await client.createRequest(.with {
                    $0.templateID = "surgery-support"
                    $0.customerID = "H-ZJ-001"
                    $0.variables = ["products": "P-long"]
                }, metadata: metadata).cards.map(\.number)
            }
            #expect(Set(longer) == ["GT-\(today)-9999", "GT-\(today)-10000", "GT-\(today)-10001"])
            // Their CardCreated events carry the numbers: 9 999 written over the placeholder in
            // the numbering statement, the five-digit ones published by the statement after it.
            for number in longer {
                let events = try cluster.scalar(.workflows, """
                    SELECT count(DISTINCT event_id) FROM outbox
                    WHERE event_type = 'workflows.CardCreated' AND position(convert_to('\(number)', 'UTF8') IN payload) > 0
                    """)
                #expect(events == "1", "CardCreated for \(number)")
            }
            #expect(try cluster.scalar(.workflows, "SELECT count(*) FROM outbox WHERE position(convert_to('-####', 'UTF8') IN payload) > 0") == "0")
        }
    }
}
