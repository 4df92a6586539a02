import FieldworkDomain
import FieldworkProto
import Foundation
import GRPCCore
import SwiftProtobuf
import Testing

/// SPEC §8.3's object rules on the running binaries, each case one that a
/// signed-in user could abuse before: a rep reading every colleague's WeCom id
/// and every doctor's phone and hospital fence, marking another rep's customer
/// WON from two kilometres away, a director of another region moving the
/// funnel, a manager proposing grades for customers outside their team, TOP 3
/// quoting other regions' notes, a director without a region matching the
/// people without one, a job run a year ahead.
@Suite(.serialized) struct ObjectAccessTests {
    /// People of the demo directory (DemoData) and two who are not in it, by token.
    struct Callers {
        let rep: String        // E1001, 杭州, owns H-ZJ-001 and H-ZJ-002
        let otherRep: String   // E1002, 宁波
        let manager: String    // M2001, E1001's and E1002's supervisor
        let director: String   // D3001, 杭州
        let ningboDirector: String
        let ningboManager: String
        let marketing: String  // MK02, 杭州, not in the sales line
        let ops: String        // OP01, 杭州
        let logisticsHead: String
        let admin: String

        init(_ cluster: Cluster, _ story: Story) async throws {
            rep = story.rep
            otherRep = try await story.token("E1002")
            manager = try await story.token("M2001")
            director = try await story.token("D3001")
            ningboDirector = try await cluster.token("D9", [.director], department: "management", region: "宁波")
            ningboManager = try await cluster.token("M9", [.manager], department: "sales", region: "宁波")
            marketing = try await story.token("MK02")
            ops = try await story.token("OP01")
            logisticsHead = try await story.token("LG01")
            admin = story.admin
        }
    }

    /// The visits service alone, the demo directory imported, and who calls.
    static func withVisits(_ body: (Cluster, Story, Callers) async throws -> Void) async throws {
        try await Cluster.with(createDatabases: [.visits]) { cluster in
            try cluster.start(.visits)
            try await cluster.waitUntilServing(.visits)
            let story = try await Story(cluster)
            try await story.importDirectory()
            try await body(cluster, story, try await Callers(cluster, story))
        }
    }

    @Test func directoryFieldsFollowTheReader() async throws {
        try await Self.withVisits { cluster, story, callers in

            func wecom(_ person: String, readBy token: String) async throws -> String {
                try await cluster.visits(token) { client, metadata in
                    try await client.listPeople(.with { $0.page.pageSize = 500 }, metadata: metadata).people.first { $0.id == person }?.wecomUserID ?? "missing"
                }
            }
            // Everyone sees who E1001 is; only E1001, the supervisor chain and admin see the WeCom id.
            #expect(try await wecom("E1001", readBy: callers.rep) == "zhangwei")
            #expect(try await wecom("E1001", readBy: callers.manager) == "zhangwei")
            #expect(try await wecom("E1001", readBy: callers.director) == "zhangwei")   // M2001 reports to D3001
            #expect(try await wecom("E1001", readBy: callers.admin) == "zhangwei")
            #expect(try await wecom("E1001", readBy: callers.otherRep) == "")
            #expect(try await wecom("E1001", readBy: callers.marketing) == "")
            // A department's head sees the department's people.
            #expect(try await wecom("LG02", readBy: callers.logisticsHead) == "wulei")
            #expect(try await wecom("MK02", readBy: callers.logisticsHead) == "")
            let person = try await cluster.visits(callers.otherRep) { client, metadata in
                try await client.getPerson(.with { $0.id = "E1001" }, metadata: metadata)
            }
            #expect(person.name == "张伟" && person.supervisorID == "M2001" && person.wecomUserID.isEmpty)

            func customer(readBy token: String) async throws -> Fieldwork_V1_Customer? {
                try await cluster.visits(token) { client, metadata in
                    try await client.listCustomers(.init(), metadata: metadata).customers.first { $0.id == "H-ZJ-001" }
                }
            }
            // The owner: the contacts, never the fence.
            let owned = try #require(try await customer(readBy: callers.rep))
            #expect(owned.contacts.map(\.phone).contains("0571-87236114"))
            #expect(!owned.hasFenceCenter && owned.fenceRadiusM == 0)
            // Someone else of the region: the customer, not the doctors.
            let seen = try #require(try await customer(readBy: callers.marketing))
            #expect(seen.name == "浙江大学医学院附属第一医院" && seen.grade == "A" && seen.contacts.isEmpty && !seen.hasFenceCenter)
            // The region's director: the doctors; ops: the fence; admin: both.
            #expect(try await customer(readBy: callers.director)?.contacts.count == 2)
            let opsView = try #require(try await customer(readBy: callers.ops))
            #expect(opsView.hasFenceCenter && opsView.fenceRadiusM == 300 && opsView.contacts.isEmpty)
            let adminView = try #require(try await customer(readBy: callers.admin))
            #expect(adminView.hasFenceCenter && adminView.contacts.count == 2)
            // Another region's rep: not listed, and refused by id.
            #expect(try await customer(readBy: callers.otherRep) == nil)
            #expect(await rpcCode {
                _ = try await cluster.visits(callers.otherRep) { client, metadata in try await client.getCustomer(.with { $0.id = "H-ZJ-001" }, metadata: metadata) }
            } == .permissionDenied)
        }
    }

    @Test func onlyValidVisitsByTheOwnerMoveTheFunnelAndOnlyTheLineAboveSetsIt() async throws {
        try await Self.withVisits { cluster, story, callers in

            func visit(_ token: String, at location: Fieldwork_V1_GeoPoint, stage: Fieldwork_V1_FunnelStage) async throws -> Fieldwork_V1_Visit {
                let code = try await story.code("H-ZJ-001")
                return try await cluster.visits(token) { client, metadata in
                    let visit = try await client.checkIn(.with { $0.code = code; $0.location = location; $0.deviceTime = .init(date: Date()) }, metadata: metadata)
                    var record = DemoData.record(surgeryInDays: nil)
                    record.stageReached = stage
                    return try await client.submitVisit(.with { $0.visitID = visit.id; $0.record = record; $0.location = location }, metadata: metadata)
                }
            }
            func stage() async throws -> [String: Fieldwork_V1_FunnelStage] {
                try await cluster.visits(callers.admin) { client, metadata in
                    let entries = try await client.getFunnel(.with { $0.customerID = "H-ZJ-001" }, metadata: metadata).entries
                    return Dictionary(uniqueKeysWithValues: entries.map { ($0.productLine, $0.stage) })
                }
            }

            // The owner, two kilometres away: the record keeps WON, the funnel does not move.
            let far = try await visit(callers.rep, at: DemoData.twoKilometresAway, stage: .won)
            #expect(far.outOfRange && far.record.stageReached == .won)
            #expect(try await stage().isEmpty)
            // Another rep, on site, at E1001's customer: no move either.
            _ = try await visit(callers.otherRep, at: DemoData.insideZheyi, stage: .won)
            #expect(try await stage().isEmpty)
            // The owner, on site: it moves.
            _ = try await visit(callers.rep, at: DemoData.insideZheyi, stage: .needsConfirmed)
            #expect(try await stage() == ["spine": .needsConfirmed, "trauma": .needsConfirmed])

            func setStage(_ token: String) async -> RPCError.Code? {
                await rpcCode {
                    _ = try await cluster.visits(token) { client, metadata in
                        try await client.setStage(.with { $0.customerID = "H-ZJ-001"; $0.productLine = "spine"; $0.stage = .quoted }, metadata: metadata)
                    }
                }
            }
            #expect(await setStage(callers.ningboDirector) == .permissionDenied)
            #expect(await setStage(callers.ningboManager) == .permissionDenied)
            #expect(await setStage(callers.rep) == .permissionDenied)   // reps move it by visiting
            #expect(await setStage(callers.manager) == nil)
            #expect(await setStage(callers.director) == nil)
            #expect(try await stage()["spine"] == .quoted)

            func propose(_ token: String, _ grade: String) async -> RPCError.Code? {
                await rpcCode {
                    _ = try await cluster.visits(token) { client, metadata in
                        try await client.proposeGradeChange(.with { $0.customerID = "H-ZJ-002"; $0.toGrade = grade; $0.reason = "采购量下降" }, metadata: metadata)
                    }
                }
            }
            #expect(await propose(callers.ningboManager, "B") == .permissionDenied)
            #expect(await propose(callers.ningboDirector, "B") == .permissionDenied)
            #expect(await propose(callers.manager, "B") == nil)
        }
    }

    @Test func topObjectionsAndVisitListsStayInTheCallersScope() async throws {
        try await Self.withVisits { cluster, story, callers in
            _ = try await story.submit(try await story.checkIn(at: DemoData.insideZheyi), surgeryInDays: nil)

            func notes(_ token: String) async throws -> [String] {
                try await cluster.visits(token) { client, metadata in
                    try await client.topObjections(.init(), metadata: metadata).top.flatMap(\.exampleNotes)
                }
            }
            #expect(try await notes(callers.rep) == ["价格高于竞品约8%"])
            #expect(try await notes(callers.manager) == ["价格高于竞品约8%"])
            #expect(try await notes(callers.otherRep).isEmpty)
            #expect(try await notes(callers.ningboDirector).isEmpty)

            // A director whose token has no region sees nobody's visits, not those of people without a region.
            _ = try await cluster.visits(callers.admin) { client, metadata in
                try await client.upsertPerson(.with {
                    $0.person = .with { $0.id = "E1009"; $0.name = "无区域"; $0.department = "sales"; $0.roles = ["rep"] }
                }, metadata: metadata)
            }
            let regionless = try await cluster.token("E1009", [.rep], department: "sales")
            let code = try await story.code("H-ZJ-002")
            _ = try await cluster.visits(regionless) { client, metadata in
                try await client.checkIn(.with { $0.code = code; $0.location = DemoData.insideZheyi; $0.deviceTime = .init(date: Date()) }, metadata: metadata)
            }
            let noRegion = try await cluster.token("D0", [.director], department: "management")
            let seen = try await cluster.visits(noRegion) { client, metadata in try await client.listVisits(.init(), metadata: metadata).visits }
            #expect(seen.isEmpty)
            #expect(try await notes(noRegion).isEmpty)
            // The executive sees the company.
            let executive = try await cluster.token("GM01", [.executive], department: "management", region: "杭州")
            let all = try await cluster.visits(executive) { client, metadata in try await client.listVisits(.init(), metadata: metadata).visits }
            #expect(Set(all.map(\.repID)) == ["E1001", "E1009"])
        }
    }

    @Test func jobsAndScoringRunsDoNotRunAhead() async throws {
        try await Cluster.with(createDatabases: [.visits, .scoring]) { cluster in
            try cluster.start(.visits)
            try cluster.start(.scoring)
            try await cluster.waitUntilServing(.visits)
            try await cluster.waitUntilServing(.scoring)
            let admin = try await cluster.token("A0001", [.admin])
            let nextYear = Google_Protobuf_Timestamp(date: Date().addingTimeInterval(365 * 86_400))
            let refusal: (any Error) -> String = { ($0 as? RPCError).map { "\($0.code) \($0.message.prefix { $0 != ":" })" } ?? "\($0)" }
            do {
                _ = try await cluster.visits(admin) { client, metadata in
                    try await client.runJob(.with { $0.name = "plan-day-close"; $0.asOf = nextYear }, metadata: metadata)
                }
                Issue.record("a plan-day close a year ahead ran")
            } catch { #expect(refusal(error) == "invalidArgument as_of") }
            do {
                _ = try await cluster.scoring(admin) { client, metadata in try await client.runScoring(.with { $0.asOf = nextYear }, metadata: metadata) }
                Issue.record("a scoring run a year ahead ran")
            } catch { #expect(refusal(error) == "invalidArgument as_of") }
            #expect(try cluster.scalar(.scoring, "SELECT count(*) FROM scoring_runs") == "0")
            // Now, and the past, still run.
            let done = try await cluster.visits(admin) { client, metadata in
                try await client.runJob(.with { $0.name = "plan-day-close"; $0.asOf = .init(date: Date().addingTimeInterval(-86_400)) }, metadata: metadata)
            }
            #expect(done.name == "plan-day-close")
        }
    }

    /// Check-in codes are printed by admins and by operations staff for their own
    /// region's customers; a manager could print any hospital's before.
    @Test func checkInCodesComeFromTheRegionsOperationsOrAnAdmin() async throws {
        try await Self.withVisits { cluster, story, callers in
            let ningboOps = try await cluster.token("O9", [.ops], department: "operations", region: "宁波")
            func issue(_ token: String) async -> RPCError.Code? {
                await rpcCode {
                    _ = try await cluster.visits(token) { client, metadata in try await client.issueCheckinCode(.with { $0.customerID = "H-ZJ-001" }, metadata: metadata) }
                }
            }
            #expect(await issue(callers.ops) == nil)
            #expect(await issue(callers.admin) == nil)
            #expect(await issue(ningboOps) == .permissionDenied)
            #expect(await issue(callers.manager) == .permissionDenied)
            #expect(await issue(callers.rep) == .permissionDenied)
        }
    }
}
