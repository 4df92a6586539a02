import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §6 stories 4, 6 and 9 over TCP with the real executables.
@Suite(.serialized) struct VisitsStoriesTests {
    /// Ten customers around 杭州, owned by E1001; H-T-00 starts at grade B.
    static let tenCustomers: String = {
        var csv = "id,name,region,latitude,longitude,owner_rep_id,grade\n"
        for i in 0..<10 { csv += "H-T-0\(i),测试医院\(i),杭州,\(30.30 + Double(i) * 0.01),120.10,E1001,\(i == 0 ? "B" : "C")\n" }
        return csv
    }()

    static func near(_ i: Int) -> Fieldwork_V1_GeoPoint {
        .with { $0.latitude = 30.30 + Double(i) * 0.01 + 0.0005; $0.longitude = 120.10; $0.accuracyM = 5 }
    }

    /// - Parameter simulatedClock: visits on a simulated clock, for the tests that run its jobs as of a later time.
    func setUp(_ cluster: Cluster, simulatedClock: Bool = false) async throws -> Story {
        try await cluster.startAll(extra: simulatedClock ? [.visits: Cluster.simulatedClock] : [:])
        let story = try await Story(cluster)
        try await story.importDirectory()
        _ = try await cluster.visits(story.admin) { client, metadata in
            try await client.importCsv(.with { $0.kind = .customers; $0.content = Data(Self.tenCustomers.utf8) }, metadata: metadata)
        }
        return story
    }

    func visit(_ story: Story, rep token: String, customer: String, at location: Fieldwork_V1_GeoPoint, record: Fieldwork_V1_VisitRecord) async throws {
        let code = try await story.code(customer)
        _ = try await story.cluster.visits(token) { client, metadata in
            let visit = try await client.checkIn(.with { $0.code = code; $0.location = location }, metadata: metadata)
            return try await client.submitVisit(.with { $0.visitID = visit.id; $0.record = record }, metadata: metadata)
        }
    }

    /// SPEC §2.2: scans of one code by one rep that race each other (a double tap,
    /// a retry over a bad network) open one visit: every call gets it back, and
    /// it is written and audited once.
    @Test func concurrentScansOpenOneVisit() async throws {
        try await Cluster.with { cluster in
            let story = try await setUp(cluster)
            // Ten rounds, one per customer, as one round can miss a race.
            for i in 0..<10 {
                let code = try await story.code("H-T-0\(i)")
                // One connection, so the calls reach the service together.
                let ids = try await cluster.visits(story.rep) { client, metadata in
                    try await withThrowingTaskGroup(of: String.self) { group in
                        for _ in 0..<16 {
                            group.addTask {
                                try await client.checkIn(.with { $0.code = code; $0.location = Self.near(i) }, metadata: metadata).id
                            }
                        }
                        return try await group.reduce(into: Set<String>()) { $0.insert($1) }
                    }
                }
                #expect(ids.count == 1, "H-T-0\(i)")
            }
            #expect(try cluster.scalar(.visits, "SELECT count(DISTINCT customer_id) = 10 AND count(*) = 10 FROM visits") == "t")
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM audit_log WHERE entity_type = 'visit' AND action = 'check_in'") == "10")
        }
    }

    /// SPEC §2.3: submissions of one visit that race each other (a double tap on
    /// check-out) store one record: one call succeeds, the others are told it is
    /// already submitted, and the record, its audit entry, its event and its
    /// funnel move are written once. Every way a submission is stored: alone, in a
    /// transaction with the funnel stage it moves, and in one with its request id.
    @Test func concurrentSubmissionsStoreOneRecord() async throws {
        try await Cluster.with { cluster in
            let story = try await setUp(cluster)
            for (customer, movesStage, withRequestIDs) in [("H-T-04", false, false), ("H-T-05", true, false), ("H-T-06", false, true)] {
                let code = try await story.code(customer)
                let visit = try await cluster.visits(story.rep) { client, metadata in
                    try await client.checkIn(.with { $0.code = code; $0.location = Self.near(Int(customer.suffix(1))!) }, metadata: metadata)
                }
                var record = DemoData.record(surgeryInDays: nil)
                if !movesStage { record.stageReached = .unspecified }
                let submitted = record
                let outcomes = try await cluster.visits(story.rep) { client, metadata in
                    try await withThrowingTaskGroup(of: RPCError.Code?.self) { group in
                        for n in 0..<8 {
                            group.addTask {
                                do {
                                    _ = try await client.submitVisit(.with {
                                        $0.visitID = visit.id
                                        $0.record = submitted
                                        if withRequestIDs { $0.requestID = "submit-\(n)" }
                                    }, metadata: metadata)
                                    return nil
                                } catch let error as RPCError {
                                    return error.code
                                }
                            }
                        }
                        return try await group.reduce(into: [RPCError.Code?]()) { $0.append($1) }
                    }
                }
                #expect(outcomes.filter { $0 == nil }.count == 1, "\(customer): \(outcomes)")
                #expect(outcomes.filter { $0 == .failedPrecondition }.count == 7, "\(customer): \(outcomes)")
                #expect(try cluster.scalar(.visits, "SELECT count(*) FROM audit_log WHERE entity_id = '\(visit.id)' AND action = 'submit'") == "1")
                #expect(try cluster.scalar(.visits, "SELECT count(DISTINCT event_id) FROM outbox WHERE aggregate_id = 'visit:\(visit.id)'") == "1")
                let moves = try cluster.scalar(.visits, "SELECT count(*) FROM funnel_changes WHERE customer_id = '\(customer)'")
                #expect(moves == (movesStage ? "2" : "0"), "\(customer): one move per product line")
            }
        }
    }

    /// SPEC §0: retries of one request that race each other (the app resends
    /// while the first call is still running) all get the first call's answer,
    /// and the change is made once: a retry waits on the request id's lock, then
    /// reads the stored answer in a snapshot taken after the wait. Check-ins show
    /// it (a retry that ran the call again would find the open visit and then
    /// fail to store its answer under the taken id); submissions too.
    @Test func racingRetriesOfOneRequestGetTheFirstAnswer() async throws {
        try await Cluster.with { cluster in
            let story = try await setUp(cluster)
            // Five rounds, one per customer, as one round can miss a race.
            for round in 0..<5 {
                let customer = "H-T-0\(round)"
                let code = try await story.code(customer)
                let record = DemoData.record(surgeryInDays: nil)
                // One connection, so the calls reach the service together.
                let (checkIns, submits) = try await cluster.visits(story.rep) { client, metadata in
                    let checkIns = try await withThrowingTaskGroup(of: Fieldwork_V1_Visit.self) { group in
                        for _ in 0..<8 {
                            group.addTask {
                                try await client.checkIn(.with {
                                    $0.requestID = "scan-\(round)"; $0.code = code; $0.location = Self.near(round)
                                }, metadata: metadata)
                            }
                        }
                        return try await group.reduce(into: [Fieldwork_V1_Visit]()) { $0.append($1) }
                    }
                    let visitID = checkIns.first?.id ?? ""
                    let submits = try await withThrowingTaskGroup(of: Fieldwork_V1_Visit.self) { group in
                        for _ in 0..<8 {
                            group.addTask {
                                try await client.submitVisit(.with {
                                    $0.requestID = "submit-\(round)"; $0.visitID = visitID; $0.record = record
                                }, metadata: metadata)
                            }
                        }
                        return try await group.reduce(into: [Fieldwork_V1_Visit]()) { $0.append($1) }
                    }
                    return (checkIns, submits)
                }
                #expect(checkIns.count == 8 && Set(checkIns).count == 1, "\(customer)")
                #expect(submits.count == 8 && Set(submits).count == 1 && submits.first?.status == .submitted, "\(customer)")
                let visitID = checkIns.first?.id ?? ""
                #expect(try cluster.scalar(.visits, "SELECT count(*) FROM visits WHERE customer_id = '\(customer)'") == "1")
                #expect(try cluster.scalar(.visits, "SELECT count(*) FROM audit_log WHERE entity_id = '\(visitID)'") == "2")
                #expect(try cluster.scalar(.visits, "SELECT count(DISTINCT event_id) FROM outbox WHERE aggregate_id = 'visit:\(visitID)'") == "1")
            }
        }
    }

    /// Product ids are checked against the catalogue as every text input is
    /// taken: trimmed. A padded id is the catalogue's product, not an unknown one.
    @Test func aSubmittedRecordsProductIdsAreTrimmed() async throws {
        try await Cluster.with { cluster in
            let story = try await setUp(cluster)
            let visit = try await story.checkIn(at: DemoData.insideZheyi)
            var padded = DemoData.record(surgeryInDays: nil)
            padded.productIds = padded.productIds.map { " \($0)  " }
            let record = padded
            let submitted = try await cluster.visits(story.rep) { client, metadata in
                try await client.submitVisit(.with { $0.visitID = visit.id; $0.record = record }, metadata: metadata)
            }
            #expect(submitted.status == .submitted)
        }
    }

    /// Story 4: 10 planned and 9 valid visits → 90 %; 10/10 → 100 %; the 18:00 close publishes both once.
    @Test func dailyPlanCompletionAndTheDayClose() async throws {
        try await Cluster.with { cluster in
            let story = try await setUp(cluster, simulatedClock: true)
            let today = DemoData.shanghaiDate(daysFromToday: 0)
            let rep2 = try await cluster.token("E1002", [.rep], department: "sales", region: "宁波")
            for token in [story.rep, rep2] {
                _ = try await cluster.visits(token) { client, metadata in
                    try await client.setDailyPlan(.with {
                        $0.day = today
                        $0.visits = (0..<10).map { i in .with { $0.customerID = "H-T-0\(i)"; $0.slot = "slot \(i)" } }
                    }, metadata: metadata)
                }
            }
            // (The plan cut-off is PlanCutoffTests': this cluster has none, on the real clock.)

            let record = DemoData.record(surgeryInDays: nil)
            for i in 0..<9 { try await visit(story, rep: story.rep, customer: "H-T-0\(i)", at: Self.near(i), record: record) }
            // The tenth: far away, so it does not count.
            try await visit(story, rep: story.rep, customer: "H-T-09", at: DemoData.insideZheyi, record: record)
            for i in 0..<10 { try await visit(story, rep: rep2, customer: "H-T-0\(i)", at: Self.near(i), record: record) }

            let completion = try await cluster.visits(story.admin) { client, metadata in
                try await client.planCompletion(.with { $0.scope = .rep; $0.subject = "E1001"; $0.day = today }, metadata: metadata)
            }
            #expect(completion.planned == 10 && completion.valid == 9)
            #expect(abs(completion.rate - 0.9) < 1e-9)
            let manager = try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")
            let team = try await cluster.visits(manager) { client, metadata in
                try await client.planCompletion(.with { $0.scope = .team; $0.day = today }, metadata: metadata)
            }
            #expect(team.planned == 20 && team.valid == 19)
            #expect(team.reps.map(\.repID) == ["E1001", "E1002"])
            // A rep sees only their own completion.
            await #expect {
                _ = try await cluster.visits(rep2) { client, metadata in
                    try await client.planCompletion(.with { $0.scope = .rep; $0.subject = "E1001"; $0.day = today }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .permissionDenied }

            // 18:00 in Shanghai: each rep's day closes once, with the counts published; MK02, the
            // other rep, had no plan and closes a "no plan" day (every day is a workday in the tests).
            let checkTime = ISO8601DateFormatter().date(from: String(format: "%04d-%02d-%02dT18:00:00+08:00", today.year, today.month, today.day))!
            try await cluster.setTime(.visits, checkTime)
            for expected in [3, 0] {
                let ran = try await cluster.visits(story.admin) { client, metadata in
                    try await client.runJob(.with { $0.name = "plan-day-close"; $0.asOf = .init(date: checkTime) }, metadata: metadata)
                }
                #expect(ran.itemsProcessed == Int64(expected))
            }
            let published = try cluster.scalar(.visits, """
                SELECT string_agg(aggregate_id, ',' ORDER BY aggregate_id) FROM outbox
                WHERE event_type = 'visits.PlanDayClosed' AND subscriber = 'scoring'
                """)
            #expect(published == "plan:E1001,plan:E1002,plan:MK02")
            #expect(try cluster.scalar(.visits, """
                SELECT string_agg(rep_id || '=' || valid || '/' || planned || CASE WHEN no_plan THEN ' no plan' ELSE '' END, ',' ORDER BY rep_id)
                FROM plan_days
                """) == "E1001=9/10,E1002=10/10,MK02=0/0 no plan")
            let plan = try await cluster.visits(story.rep) { client, metadata in
                try await client.getDailyPlan(.with { $0.day = today }, metadata: metadata)
            }
            #expect(plan.closed && plan.visits.count == 10)
            // The cut-off here is 24:00, but the closed day's counts are published: its plan stays as it closed.
            #expect(await rpcCode {
                _ = try await cluster.visits(story.rep) { client, metadata in
                    try await client.setDailyPlan(.with { $0.day = today; $0.visits = [.with { $0.customerID = "H-T-00" }] }, metadata: metadata)
                }
            } == .failedPrecondition)

            // The plan-shortfall rule: 90 % < 92 % alerts E1001's operations supervisor once; 10/10 alerts nobody.
            try await cluster.eventually("the ops supervisor's shortfall alert") {
                try await story.inbox("OP01").contains { $0.eventType == "scoring.RuleFired" && $0.body.contains("张伟") && $0.body.contains("90.0%") }
            }
            let firings = try await cluster.scoring(story.admin) { client, metadata in
                try await client.listRuleFirings(.with { $0.ruleID = "plan_shortfall" }, metadata: metadata).firings
            }
            #expect(firings.count == 1)
            let firing = try #require(firings.first)
            #expect(firing.inputs["planned"] == "10" && firing.inputs["valid"] == "9" && firing.inputs["rate_percent"] == "90.0")
            #expect(firing.notifiedPersonIds == ["OP01"] && firing.occurrenceKey == "E1001:\(today.year)-\(String(format: "%02d-%02d", today.month, today.day))")
            #expect(try await story.inbox("LG02").filter { $0.eventType == "scoring.RuleFired" }.isEmpty)   // an ops in logistics is not the supervisor

            // Process control for the day (SPEC §4.6): 19 valid of 20 planned = 95 % ≥ 92 %.
            let startOfDay = ISO8601DateFormatter().date(from: String(format: "%04d-%02d-%02dT00:00:00+08:00", today.year, today.month, today.day))!
            let indicators = try await cluster.scoring(story.admin) { client, metadata in
                try await client.hardIndicators(.with { $0.range.from = .init(date: startOfDay) }, metadata: metadata).indicators
            }
            let process = try #require(indicators.first { $0.name == "process_control" })
            #expect(process.actual == 95 && process.target == 92 && process.attained && process.unit == "%")
        }
    }

    /// Story 6: a rep proposes B→A; nothing changes until the supervisor confirms.
    @Test func gradeChangesNeedTheSupervisorsConfirmation() async throws {
        try await Cluster.with { cluster in
            let story = try await setUp(cluster)
            func grade() async throws -> String {
                try await cluster.visits(story.rep) { client, metadata in try await client.getCustomer(.with { $0.id = "H-T-00" }, metadata: metadata).grade }
            }
            await #expect {
                _ = try await cluster.visits(story.rep) { client, metadata in
                    try await client.proposeGradeChange(.with { $0.customerID = "H-T-00"; $0.toGrade = "A" }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .invalidArgument && ($0 as? RPCError)?.message.hasPrefix("reason") == true }
            let proposal = try await cluster.visits(story.rep) { client, metadata in
                try await client.proposeGradeChange(.with { $0.customerID = "H-T-00"; $0.toGrade = "A"; $0.reason = "季度采购额翻倍" }, metadata: metadata)
            }
            #expect(proposal.status == .proposed && proposal.fromGrade == "B")
            #expect(try await grade() == "B")

            // Direct writes of the grade are refused.
            await #expect {
                _ = try await cluster.visits(story.admin) { client, metadata in
                    try await client.upsertCustomer(.with {
                        $0.customer = .with {
                            $0.id = "H-T-00"; $0.name = "测试医院0"; $0.region = "杭州"; $0.grade = "A"
                            $0.fenceCenter = .with { $0.latitude = 30.30; $0.longitude = 120.10 }
                        }
                    }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .failedPrecondition }
            // The proposer cannot confirm (role), nor can another team's manager.
            await #expect {
                _ = try await cluster.visits(story.rep) { client, metadata in
                    try await client.confirmGradeChange(.with { $0.proposalID = proposal.id }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .permissionDenied }
            let otherManager = try await cluster.token("D3001", [.director], department: "management", region: "杭州")
            await #expect {
                _ = try await cluster.visits(otherManager) { client, metadata in
                    try await client.confirmGradeChange(.with { $0.proposalID = proposal.id }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .permissionDenied }
            #expect(try await grade() == "B")

            let supervisor = try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")
            let confirmed = try await cluster.visits(supervisor) { client, metadata in
                try await client.confirmGradeChange(.with { $0.proposalID = proposal.id }, metadata: metadata)
            }
            #expect(confirmed.status == .confirmed && confirmed.decidedBy == "M2001")
            #expect(try await grade() == "A")
            await #expect {
                _ = try await cluster.visits(supervisor) { client, metadata in
                    try await client.rejectGradeChange(.with { $0.proposalID = proposal.id; $0.reason = "late" }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .failedPrecondition }

            // A rejection needs a reason and keeps it; the grade stays.
            let second = try await cluster.visits(story.rep) { client, metadata in
                try await client.proposeGradeChange(.with { $0.customerID = "H-T-00"; $0.toGrade = "C"; $0.reason = "试用暂停" }, metadata: metadata)
            }
            await #expect {
                _ = try await cluster.visits(supervisor) { client, metadata in
                    try await client.rejectGradeChange(.with { $0.proposalID = second.id }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .invalidArgument }
            let rejected = try await cluster.visits(supervisor) { client, metadata in
                try await client.rejectGradeChange(.with { $0.proposalID = second.id; $0.reason = "数据不足" }, metadata: metadata)
            }
            #expect(rejected.status == .rejected && rejected.decisionReason == "数据不足" && rejected.reason == "试用暂停")
            #expect(try await grade() == "A")

            let audit = try await cluster.visits(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "customer"; $0.entityID = "H-T-00" }, metadata: metadata)
            }
            #expect(audit.entries.map(\.action) == ["create", "propose_grade", "confirm_grade", "propose_grade", "reject_grade"])
            let history = try await cluster.visits(supervisor) { client, metadata in
                try await client.listGradeChanges(.with { $0.customerID = "H-T-00" }, metadata: metadata)
            }
            #expect(Set(history.changes.map(\.status)) == [.confirmed, .rejected])
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM outbox WHERE event_type = 'visits.GradeChanged' AND subscriber = 'scoring'") == "1")
        }
    }

    /// Story 9: the TOP 3 objections update as visits are submitted; the Monday digest goes out once.
    @Test func topObjectionsFollowSubmittedVisits() async throws {
        try await Cluster.with { cluster in
            let story = try await setUp(cluster, simulatedClock: true)
            func top(product: String = "") async throws -> [String] {
                try await cluster.visits(story.admin) { client, metadata in
                    try await client.topObjections(.with { $0.productID = product }, metadata: metadata).top.map { "\($0.objectionType)=\($0.count)" }
                }
            }
            #expect(try await top().isEmpty)
            func record(_ type: Fieldwork_V1_ObjectionType, _ note: String, product: String = "SP-NEW-01") -> Fieldwork_V1_VisitRecord {
                .with { $0.productIds = [product]; $0.objectionType = type; $0.objectionNote = note }
            }
            try await visit(story, rep: story.rep, customer: "H-T-00", at: Self.near(0), record: record(.price, "贵了"))
            #expect(try await top() == ["PRICE=1"])
            try await visit(story, rep: story.rep, customer: "H-T-01", at: Self.near(1), record: record(.delivery, "交期三周", product: "TR-201"))
            try await visit(story, rep: story.rep, customer: "H-T-02", at: Self.near(2), record: record(.delivery, "到货慢"))
            try await visit(story, rep: story.rep, customer: "H-T-03", at: Self.near(3), record: record(.qualification, "缺注册证"))
            try await visit(story, rep: story.rep, customer: "H-T-04", at: Self.near(4), record: .with { $0.productIds = ["SP-NEW-01"] })
            #expect(try await top() == ["DELIVERY=2", "PRICE=1", "QUALIFICATION=1"])
            #expect(try await top(product: "TR-201") == ["DELIVERY=1"])

            // The manager's view of the same week: per rep and customer, products, objections, intents.
            let manager = try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")
            let summary = try await cluster.visits(manager) { client, metadata in try await client.visitSummary(.init(), metadata: metadata) }
            #expect(summary.rows.count == 5)
            #expect(summary.rows.allSatisfy { $0.repID == "E1001" && $0.visits == 1 })
            #expect(summary.rows.first { $0.customerID == "H-T-01" }?.productMentions == ["TR-201": 1])
            #expect(summary.rows.first { $0.customerID == "H-T-02" }?.objections == ["DELIVERY": 1])
            let otherRep = try await cluster.token("E1002", [.rep], department: "sales", region: "宁波")
            #expect(try await cluster.visits(otherRep) { client, metadata in try await client.visitSummary(.init(), metadata: metadata) }.rows.isEmpty)
            let notes = try await cluster.visits(story.admin) { client, metadata in try await client.topObjections(.init(), metadata: metadata).top.first?.exampleNotes }
            #expect(Set(notes ?? []) == ["交期三周", "到货慢"])

            // Next Monday 08:00: last week's digest, once.
            var calendar = Calendar(identifier: .iso8601)
            calendar.timeZone = TimeZone(identifier: "Asia/Shanghai")!
            // The Monday after this ISO week: its digest covers this week, which holds the visits above.
            let thisWeek = calendar.dateInterval(of: .weekOfYear, for: Date())!.start
            let nextMonday = calendar.date(byAdding: DateComponents(day: 7, hour: 8), to: thisWeek)!
            try await cluster.setTime(.visits, nextMonday)
            for expected: Int64 in [3, 0] {
                let ran = try await cluster.visits(story.admin) { client, metadata in
                    try await client.runJob(.with { $0.name = "objection-digest"; $0.asOf = .init(date: nextMonday) }, metadata: metadata)
                }
                #expect(ran.itemsProcessed == expected, "\(ran.summary)")
            }
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM outbox WHERE event_type = 'visits.ObjectionDigest' AND subscriber = 'notifications'") == "1")
        }
    }

    /// The funnel moves with visit records (forward only) and SetStage; amendments need a reason.
    @Test func funnelStagesAndAmendments() async throws {
        try await Cluster.with { cluster in
            let story = try await setUp(cluster)
            func stage() async throws -> [String] {
                try await cluster.visits(story.rep) { client, metadata in
                    try await client.getFunnel(.with { $0.customerID = "H-T-00" }, metadata: metadata).entries.map { "\($0.productLine)=\($0.stage)" }
                }
            }
            var record = DemoData.record(surgeryInDays: nil)
            record.productIds = ["SP-NEW-01"]
            record.stageReached = .needsConfirmed
            try await visit(story, rep: story.rep, customer: "H-T-00", at: Self.near(0), record: record)
            #expect(try await stage() == ["spine=needsConfirmed"])
            record.stageReached = .visited
            try await visit(story, rep: story.rep, customer: "H-T-00", at: Self.near(0), record: record)
            #expect(try await stage() == ["spine=needsConfirmed"])  // a visit never moves it back

            // SetStage is the line above the owner (SPEC §8.3): the rep moves it by visiting.
            let manager = try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")
            let quoted = try await cluster.visits(manager) { client, metadata in
                try await client.setStage(.with { $0.customerID = "H-T-00"; $0.productLine = "spine"; $0.stage = .quoted }, metadata: metadata)
            }
            #expect(quoted.stage == .quoted && quoted.changedBy == "M2001")
            let otherRep = try await cluster.token("E1002", [.rep], department: "sales", region: "宁波")
            await #expect {
                _ = try await cluster.visits(otherRep) { client, metadata in
                    try await client.setStage(.with { $0.customerID = "H-T-00"; $0.productLine = "spine"; $0.stage = .won }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .permissionDenied }
            await #expect {
                _ = try await cluster.visits(manager) { client, metadata in
                    try await client.setStage(.with { $0.customerID = "H-T-00"; $0.productLine = "dental"; $0.stage = .won }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .invalidArgument && ($0 as? RPCError)?.message.hasPrefix("product_line") == true }

            let report = try await cluster.visits(story.admin) { client, metadata in try await client.funnelReport(.init(), metadata: metadata) }
            let counts = Dictionary(uniqueKeysWithValues: report.stages.map { ($0.stage, $0) })
            #expect(counts[.needsConfirmed]?.count == 1 && counts[.quoted]?.count == 1)
            #expect(counts[.needsConfirmed]?.conversionToNext == 1.0)
            #expect(counts[.quoted]?.conversionToNext == 0)
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM outbox WHERE event_type = 'visits.FunnelStageChanged' AND subscriber = 'scoring'") == "2")

            // Amendments: only of submitted records, with a reason, never of the surgery-support switch.
            let finalRecord = record
            let open = try await story.checkIn(at: Self.near(1), customer: "H-T-01")
            await #expect {
                _ = try await cluster.visits(story.rep) { client, metadata in
                    try await client.amendVisit(.with { $0.visitID = open.id; $0.record = finalRecord; $0.reason = "补充" }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .failedPrecondition }
            let submitted = try await story.submit(open, surgeryInDays: nil)
            let amended = {
                var amended = submitted.record
                amended.objectionType = .delivery
                amended.objectionNote = "改为交付问题"
                return amended
            }()
            await #expect {
                _ = try await cluster.visits(story.rep) { client, metadata in
                    try await client.amendVisit(.with { $0.visitID = submitted.id; $0.record = amended }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .invalidArgument && ($0 as? RPCError)?.message.hasPrefix("reason") == true }
            let withSupport = {
                var withSupport = amended
                withSupport.surgerySupport = DemoData.record(surgeryInDays: 3).surgerySupport
                return withSupport
            }()
            await #expect {
                _ = try await cluster.visits(story.rep) { client, metadata in
                    try await client.amendVisit(.with { $0.visitID = submitted.id; $0.record = withSupport; $0.reason = "补跟台" }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .failedPrecondition }
            let result = try await cluster.visits(story.rep) { client, metadata in
                try await client.amendVisit(.with { $0.visitID = submitted.id; $0.record = amended; $0.reason = "记录有误" }, metadata: metadata)
            }
            #expect(result.amendments == 1 && result.record.objectionType == .delivery)
            let top = try await cluster.visits(story.admin) { client, metadata in try await client.topObjections(.init(), metadata: metadata) }
            #expect(top.top.contains { $0.objectionType == "DELIVERY" && $0.exampleNotes == ["改为交付问题"] })
            let audit = try await cluster.visits(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "visit"; $0.entityID = submitted.id }, metadata: metadata)
            }
            #expect(audit.entries.last?.action == "amend" && audit.entries.last?.reason == "记录有误")
        }
    }
}
