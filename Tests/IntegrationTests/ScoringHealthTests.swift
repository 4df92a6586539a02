import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §4.1–4.2 over TCP: facts by RPC, the health model's runs, its versioned
/// configuration, and reading scores back.
@Suite(.serialized) struct ScoringHealthTests {
    @Test func factsBecomeScoresThatFollowTheModelVersion() async throws {
        try await Cluster.with { cluster in
            // Runs as of a later hour need the simulated clock there (SPEC §8.3).
            try await cluster.startAll(extra: [.scoring: Cluster.simulatedClock])
            let story = try await Story(cluster)
            try await story.importDirectory()
            let ops = try await cluster.token("O4001", [.ops], department: "operations")
            let day: @Sendable (Int) -> Fieldwork_V1_Date = { days in DemoData.shanghaiDate(daysFromToday: -days) }
            let purchase: @Sendable (String, String, Int64, Fieldwork_V1_Date) async throws -> Fieldwork_V1_Purchase = { id, customer, fen, date in
                try await cluster.scoring(ops) { client, metadata in
                    try await client.recordPurchase(.with {
                        $0.purchase = .with { $0.sourceRowID = id; $0.customerID = customer; $0.productLine = "spine"; $0.amount.fen = fen; $0.date = date }
                    }, metadata: metadata)
                }
            }
            // 浙一: 6 000 CNY, 3 trials, 1 academic event. 浙二: 2 000 CNY (and an older one outside the window), 4 academic events.
            _ = try await purchase("ERP-1", "H-ZJ-001", 400_000, day(10))
            _ = try await purchase("ERP-2", "H-ZJ-001", 200_000, day(40))
            _ = try await purchase("ERP-3", "H-ZJ-002", 200_000, day(5))
            _ = try await purchase("ERP-OLD", "H-ZJ-002", 9_000_000, day(120))
            for index in 1...3 {
                _ = try await cluster.scoring(ops) { client, metadata in
                    try await client.recordTrial(.with {
                        $0.trial = .with { $0.sourceRowID = "TR-\(index)"; $0.customerID = "H-ZJ-001"; $0.productID = "SP-NEW-01"; $0.date = day(index * 7) }
                    }, metadata: metadata)
                }
            }
            for (index, customer) in ["H-ZJ-001", "H-ZJ-002", "H-ZJ-002", "H-ZJ-002", "H-ZJ-002"].enumerated() {
                _ = try await cluster.scoring(ops) { client, metadata in
                    try await client.recordAcademicParticipation(.with {
                        $0.participation = .with { $0.sourceRowID = "AC-\(index)"; $0.customerID = customer; $0.eventName = "脊柱微创学术沙龙"; $0.date = day(20) }
                    }, metadata: metadata)
                }
            }

            // Facts are keyed by source row: a replay changes nothing; the same id with other values, bad input and other roles are refused.
            #expect(try await purchase("ERP-1", "H-ZJ-001", 400_000, day(10)).amount.fen == 400_000)
            let audit = try await cluster.scoring(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "purchases"; $0.entityID = "ERP-1" }, metadata: metadata).entries
            }
            #expect(audit.count == 1)
            #expect(await rpcCode { _ = try await purchase("ERP-1", "H-ZJ-001", 500_000, day(10)) } == .alreadyExists)
            #expect(await rpcCode { _ = try await purchase("ERP-9", "H-NOPE", 500_000, day(10)) } == .invalidArgument)
            #expect(await rpcCode { _ = try await purchase("ERP-9", "H-ZJ-001", 500_000, DemoData.shanghaiDate(daysFromToday: 2)) } == .invalidArgument)
            #expect(await rpcCode { _ = try await purchase("ERP-9", "H-ZJ-001", 0, day(1)) } == .invalidArgument)
            #expect(await rpcCode {
                _ = try await cluster.scoring(story.rep) { client, metadata in try await client.recordPurchase(.init(), metadata: metadata) }
            } == .permissionDenied)

            // Run 1 with the SPEC's model: P full at the 90th percentile of active amounts
            // (600 000 and 200 000 fen → 560 000), T full at 3, A full at 4.
            let run = { () async throws -> Fieldwork_V1_ScoringRun in
                try await cluster.scoring(story.admin) { client, metadata in try await client.runScoring(.init(), metadata: metadata) }
            }
            let first = try await run()
            #expect(first.customersScored == 2 && first.modelVersion == 1 && first.purchasesP90.fen == 560_000 && first.hints == 1)
            let health = { (customer: String) async throws -> Fieldwork_V1_CustomerHealth in
                try await cluster.scoring(story.admin) { client, metadata in
                    try await client.getCustomerHealth(.with { $0.customerID = customer }, metadata: metadata)
                }
            }
            let zheyi = try await health("H-ZJ-001")
            #expect(zheyi.components.purchases == 100 && zheyi.components.trials == 100 && zheyi.components.academic == 25)
            #expect(zheyi.score == 77.5 && zheyi.grade == "B" && !zheyi.cultivationHint)
            let zheer = try await health("H-ZJ-002")
            #expect(zheer.components.purchases == 35.7 && zheer.components.academic == 100)
            #expect(zheer.score == 44.3 && zheer.grade == "C" && zheer.cultivationHint)   // low score, one component full

            // A new model version (admin, with a reason, audited) applies from the next run.
            let update: @Sendable (String, Fieldwork_V1_ModelConfig) async throws -> Fieldwork_V1_ModelConfig = { token, config in
                try await cluster.scoring(token) { client, metadata in
                    try await client.updateModelConfig(.with { $0.config = config; $0.reason = "加重采购权重" }, metadata: metadata)
                }
            }
            var config = try await cluster.scoring(story.admin) { client, metadata in try await client.getModelConfig(.init(), metadata: metadata) }
            #expect(config.version == 1 && config.weightPurchases == 0.4 && config.trialsFullMarks == 3)
            config.weightPurchases = 0.5
            let unbalanced = config
            #expect(await rpcCode { _ = try await update(story.admin, unbalanced) } == .invalidArgument)   // weights add up to 1.1
            config.weightTrials = 0.25
            config.weightAcademic = 0.25
            let balanced = config
            #expect(await rpcCode { _ = try await update(try await cluster.token("M2001", [.manager]), balanced) } == .permissionDenied)
            #expect(try await update(story.admin, balanced).version == 2)
            #expect(try await health("H-ZJ-001").modelVersion == 1)   // not until the next run
            try await cluster.setTime(.scoring, Date())   // the simulated clock stands still: a run later is a run at a later moment
            let second = try await run()
            #expect(second.modelVersion == 2)
            let rescored = try await health("H-ZJ-001")
            #expect(rescored.score == 81.3 && rescored.grade == "A")   // 0.5·100 + 0.25·100 + 0.25·25 = 81.25

            // History is every run's point; the table is the latest run, best first; a rep sees only their own customers.
            let points = try await cluster.scoring(story.admin) { client, metadata in
                try await client.healthHistory(.with { $0.customerID = "H-ZJ-001" }, metadata: metadata).points
            }
            #expect(points.map(\.score) == [77.5, 81.3] && points.map(\.modelVersion) == [1, 2])
            // Runs are history: their health rows are not checked against them row by row, so runs cannot be deleted.
            let runs = try cluster.scalar(.scoring, "SELECT count(*) FROM scoring_runs")
            _ = try cluster.scalar(.scoring, "DELETE FROM scoring_runs")
            _ = try cluster.scalar(.scoring, "TRUNCATE scoring_runs CASCADE")
            #expect(runs == "2")
            #expect(try cluster.scalar(.scoring, "SELECT count(*) FROM scoring_runs") == runs)
            let table = try await cluster.scoring(story.admin) { client, metadata in
                try await client.listCustomerHealth(.init(), metadata: metadata).customers
            }
            #expect(table.map(\.customerID) == ["H-ZJ-001", "H-ZJ-002"] && table.first?.customerName == "浙江大学医学院附属第一医院")
            let stranger = try await cluster.token("E1002", [.rep], department: "sales")
            #expect(try await cluster.scoring(stranger) { client, metadata in
                try await client.listCustomerHealth(.init(), metadata: metadata).customers
            }.isEmpty)
            #expect(try await cluster.scoring(story.rep) { client, metadata in
                try await client.listCustomerHealth(.init(), metadata: metadata).customers
            }.count == 2)
            // SPEC §8.3: managers and directors read their scope's customers, not the company's
            // (before, every manager, director, ops and department head read every score).
            func tableCount(_ token: String) async throws -> Int {
                try await cluster.scoring(token) { client, metadata in try await client.listCustomerHealth(.init(), metadata: metadata).customers.count }
            }
            #expect(try await tableCount(try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")) == 2)   // E1001's manager
            #expect(try await tableCount(try await cluster.token("D3001", [.director], department: "management", region: "杭州")) == 2)
            #expect(try await tableCount(try await cluster.token("D9", [.director], department: "management", region: "宁波")) == 0)
            #expect(try await tableCount(try await cluster.token("M9", [.manager], department: "sales", region: "宁波")) == 0)
            #expect(try await tableCount(try await cluster.token("MK01", [.deptHead], department: "marketing", region: "杭州")) == 0)
            #expect(try await tableCount(try await cluster.token("GM01", [.executive], department: "management")) == 2)

            // The nightly job runs once per moment, whoever fires it.
            let asOf = Date().addingTimeInterval(3600)
            try await cluster.setTime(.scoring, asOf)
            let job = { () async throws -> Int64 in
                try await cluster.scoring(story.admin) { client, metadata in
                    try await client.runJob(.with { $0.name = "scoring"; $0.asOf = .init(date: asOf) }, metadata: metadata).itemsProcessed
                }
            }
            #expect(try await job() == 2)
            #expect(try await job() == 0)

            // A run reads on connections beside its own: runs at once on the smallest pool take turns, none starves.
            await cluster.stop(.scoring)
            try cluster.start(.scoring, extra: Cluster.simulatedClock.merging(["DATABASE_POOL_SIZE": "2"]) { $1 })
            try await cluster.waitUntilServing(.scoring)
            try await cluster.setTime(.scoring, Date().addingTimeInterval(5 * 3600))
            let scored = try await withThrowingTaskGroup(of: Int32.self) { group in
                for hour in 2...5 {
                    group.addTask {
                        try await cluster.scoring(story.admin) { client, metadata in
                            try await client.runScoring(.with { $0.asOf = .init(date: Date().addingTimeInterval(Double(hour) * 3600)) }, metadata: metadata)
                        }.customersScored
                    }
                }
                group.addTask { try await Task.sleep(for: .seconds(60)); return -1 }   // starved: give up, fail below
                var scored: [Int32] = []
                while let next = try await group.next(), next >= 0 {
                    scored.append(next)
                    if scored.count == 4 { break }
                }
                group.cancelAll()
                return scored
            }
            #expect(scored == [2, 2, 2, 2])
        }
    }

    @Test func aZeroActivityStreakRaisesOneRedWarningForTheRepAndTheirManager() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll(extra: [.scoring: Cluster.simulatedClock])
            let story = try await Story(cluster)
            try await story.importDirectory()
            let ops = try await cluster.token("O4001", [.ops], department: "operations")
            let day: @Sendable (Int) -> Fieldwork_V1_Date = { days in DemoData.shanghaiDate(daysFromToday: -days) }
            // 浙一 bought three weeks ago and nothing since; its trials and academic events are recent.
            _ = try await cluster.scoring(ops) { client, metadata in
                try await client.recordPurchase(.with {
                    $0.purchase = .with { $0.sourceRowID = "ERP-W1"; $0.customerID = "H-ZJ-001"; $0.productLine = "spine"; $0.amount.fen = 300_000; $0.date = day(21) }
                }, metadata: metadata)
            }
            _ = try await cluster.scoring(ops) { client, metadata in
                try await client.recordTrial(.with {
                    $0.trial = .with { $0.sourceRowID = "TR-W1"; $0.customerID = "H-ZJ-001"; $0.productID = "SP-NEW-01"; $0.date = day(1) }
                }, metadata: metadata)
            }
            _ = try await cluster.scoring(ops) { client, metadata in
                try await client.recordAcademicParticipation(.with {
                    $0.participation = .with { $0.sourceRowID = "AC-W1"; $0.customerID = "H-ZJ-001"; $0.eventName = "骨科年会"; $0.date = day(1) }
                }, metadata: metadata)
            }
            let run = { () async throws -> Fieldwork_V1_ScoringRun in
                try await cluster.scoring(story.admin) { client, metadata in try await client.runScoring(.init(), metadata: metadata) }
            }
            let warnings: @Sendable (String) async throws -> [Fieldwork_V1_Warning] = { token in
                try await cluster.scoring(token) { client, metadata in
                    try await client.listWarnings(.with { $0.customerID = "H-ZJ-001" }, metadata: metadata).warnings
                }
            }
            let first = try await run()
            #expect(first.warningsRaised >= 1)
            let raised = try await warnings(story.admin)
            #expect(raised.count == 1)
            #expect(raised.first?.component == "P" && (raised.first?.weeks ?? 0) >= 2)
            #expect(raised.first?.notifiedPersonIds == ["E1001", "M2001"])

            // The same streak on the next run is not raised again; the health rows still carry it.
            let second = try await run()
            #expect(second.warningsRaised == 0)
            #expect(try await warnings(story.admin).count == 1)
            let health = try await cluster.scoring(story.admin) { client, metadata in
                try await client.getCustomerHealth(.with { $0.customerID = "H-ZJ-001" }, metadata: metadata)
            }
            #expect(health.warnings == ["P"])
            // The zero-streak rule recorded each warning as a firing, with the streak as its input.
            let firings = try await cluster.scoring(story.admin) { client, metadata in
                try await client.listRuleFirings(.with { $0.ruleID = "zero_streak" }, metadata: metadata).firings
            }
            let firing = try #require(firings.first { $0.occurrenceKey.hasPrefix("H-ZJ-001:P:") })
            #expect(firing.notifiedPersonIds == ["E1001", "M2001"] && firing.inputs["component_name"] == "采购")
            #expect(firings.count == Int(first.warningsRaised))

            // Switched off, the rule raises nothing for a new, idle customer; switched on again, it does.
            let rule = try #require(try await cluster.scoring(story.admin) { client, metadata in
                try await client.listRules(.init(), metadata: metadata).rules
            }.first { $0.id == "zero_streak" })
            let toggle: @Sendable (Bool) async throws -> Void = { enabled in
                let edited = { () -> Fieldwork_V1_Rule in var r = rule; r.enabled = enabled; return r }()
                _ = try await cluster.scoring(story.admin) { client, metadata in
                    try await client.updateRule(.with { $0.rule = edited; $0.reason = enabled ? "恢复预警" : "年底暂停预警" }, metadata: metadata)
                }
            }
            try await toggle(false)
            let header = DemoData.customers.split(separator: "\n")[0]
            _ = try await cluster.visits(story.admin) { client, metadata in
                try await client.importCsv(.with {
                    $0.kind = .customers
                    $0.content = Data("\(header)\nH-ZJ-003,330100-0003,浙江省人民医院,三级甲等,杭州,杭州市上塘路158号,30.2906,120.1650,300,骨科,E1001,B,\n".utf8)
                }, metadata: metadata)
            }
            try await story.flushVisitsOutbox()
            try await cluster.eventually("scoring knows 浙江省人民医院") {
                try cluster.scalar(.scoring, "SELECT count(*) FROM directory_customers WHERE id = 'H-ZJ-003'") == "1"
            }
            #expect(try await run().warningsRaised == 0)
            try await toggle(true)
            #expect(try await run().warningsRaised == 3)   // P, T and A: 浙江省人民医院 has never been active
            // A week on, the never-active customers' streaks are the same streaks: nothing is raised again.
            try await cluster.setTime(.scoring, Date().addingTimeInterval(8 * 86_400))
            let nextWeek = try await cluster.scoring(story.admin) { client, metadata in
                try await client.runScoring(.with { $0.asOf = .init(date: Date().addingTimeInterval(8 * 86_400)) }, metadata: metadata)
            }
            #expect(nextWeek.warningsRaised == 0)
            let flagged = try await cluster.scoring(story.admin) { client, metadata in
                try await client.listCustomerHealth(.with { $0.warningsOnly = true; $0.page.pageSize = 100 }, metadata: metadata).customers
            }
            #expect(flagged.contains { $0.customerID == "H-ZJ-001" } && flagged.allSatisfy { !$0.warnings.isEmpty })

            // Another rep does not see it; the owning rep and their manager get it in their inboxes.
            #expect(try await warnings(try await story.token("E1002")).isEmpty)
            for person in ["E1001", "M2001"] {
                try await cluster.eventually("\(person) has the red warning in the inbox") {
                    let items = try await cluster.notifications(try await story.token(person)) { client, metadata in
                        try await client.listInbox(.init(), metadata: metadata).items
                    }
                    return items.contains { $0.eventType == "scoring.WarningRaised" && $0.title.contains("浙江大学医学院附属第一医院") && $0.title.contains("无采购") }
                }
            }
        }
    }
}
