import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §4.4 and §4.6 over TCP: each run's recommendations, the effectiveness
/// report for a cohort, and the three hard indicators from the scoring
/// service's own copies of the visits and workflows events.
@Suite(.serialized) struct ScoringReportTests {
    @Test func recommendationsTheirEffectivenessAndTheHardIndicators() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let ops = try await cluster.token("O4001", [.ops], department: "operations")
            let day = { (days: Int) -> String in
                let date = DemoData.shanghaiDate(daysFromToday: -days)
                return String(format: "%04d-%02d-%02d", date.year, date.month, date.day)
            }
            let importing: @Sendable (Fieldwork_V1_CsvKind, String) async throws -> Void = { kind, text in
                _ = try await cluster.scoring(ops) { client, metadata in
                    try await client.importCsv(.with { $0.kind = kind; $0.content = Data(text.utf8) }, metadata: metadata)
                }
            }
            // Before the cohort run (40 days ago): 浙一 is strong everywhere and has bought spine; 浙二 had one trial.
            try await importing(.purchases, "source_row_id,customer_id,product_line,amount,date\nERP-1,H-ZJ-001,spine,100000,\(day(50))\n")
            try await importing(.trials, """
                source_row_id,customer_id,product_id,date
                TR-1,H-ZJ-001,SP-NEW-01,\(day(45))
                TR-2,H-ZJ-001,SP-NEW-01,\(day(44))
                TR-3,H-ZJ-001,SP-NEW-01,\(day(43))
                TR-4,H-ZJ-002,SP-NEW-01,\(day(45))
                """)
            try await importing(.academicParticipations, """
                source_row_id,customer_id,event_name,date
                AC-1,H-ZJ-001,脊柱沙龙,\(day(42))
                AC-2,H-ZJ-001,创伤论坛,\(day(42))
                AC-3,H-ZJ-001,关节年会,\(day(42))
                AC-4,H-ZJ-001,检验周,\(day(42))
                """)
            let runScoring: @Sendable (Date?) async throws -> Fieldwork_V1_ScoringRun = { asOf in
                try await cluster.scoring(story.admin) { client, metadata in
                    try await client.runScoring(.with { if let asOf { $0.asOf = .init(date: asOf) } }, metadata: metadata)
                }
            }
            let recommendations: @Sendable (String) async throws -> [Fieldwork_V1_Recommendation] = { run in
                try await cluster.scoring(story.admin) { client, metadata in
                    try await client.listRecommendations(.with { $0.runID = run }, metadata: metadata).recommendations
                }
            }
            let cohortAsOf = Date().addingTimeInterval(-40 * 86_400)
            let cohort = try await runScoring(cohortAsOf)
            // The top fifth of two customers is one: 浙一, for the line it has not bought yet; 浙二 (10.0, no full component) is not.
            #expect(cohort.recommendations == 1)
            #expect(try await recommendations(cohort.id).map { "\($0.customerID)/\($0.productLine)/\($0.reason)/\($0.score)" }
                    == ["H-ZJ-001/trauma/top score/100.0"])

            // After the cohort: 浙一 buys trauma (a first purchase of the line); 浙二's spine funnel reaches WON.
            try await importing(.purchases, "source_row_id,customer_id,product_line,amount,date\nERP-2,H-ZJ-001,trauma,50000,\(day(10))\n")
            _ = try await cluster.visits(story.admin) { client, metadata in
                try await client.setStage(.with { $0.customerID = "H-ZJ-002"; $0.productLine = "spine"; $0.stage = .won }, metadata: metadata)
            }
            try await story.flushVisitsOutbox()
            try await cluster.eventually("scoring has the WON change") {
                try cluster.scalar(.scoring, "SELECT count(*) FROM funnel_changes WHERE to_stage = 'WON'") == "1"
            }
            // Today 浙一 has won both lines and 浙二 is no top score: nothing to recommend.
            let latest = try await runScoring(nil)
            let latestRecommendations = try await recommendations("")
            #expect(latest.recommendations == 0 && latestRecommendations.isEmpty)

            let report: @Sendable (String, Fieldwork_V1_Date, Int32) async throws -> Fieldwork_V1_EffectivenessReportResponse = { token, cohort, months in
                try await cluster.scoring(token) { client, metadata in
                    try await client.effectivenessReport(.with { $0.cohort = cohort; $0.months = months }, metadata: metadata)
                }
            }
            let effectiveness = try await report(story.admin, DemoData.shanghaiDate(daysFromToday: -40), 0)
            #expect(effectiveness.cohortRunID == cohort.id)
            #expect(effectiveness.recommended == 1 && effectiveness.recommendedConverted == 1 && effectiveness.recommendedRate == 100)
            #expect(effectiveness.others == 2 && effectiveness.othersConverted == 1 && effectiveness.othersRate == 50)
            #expect(effectiveness.differencePp == 50)
            #expect(await rpcCode { _ = try await report(story.admin, DemoData.shanghaiDate(daysFromToday: -60), 6) } == .notFound)
            #expect(await rpcCode { _ = try await report(story.admin, DemoData.shanghaiDate(daysFromToday: -40), 30) } == .invalidArgument)
            #expect(await rpcCode { _ = try await report(story.rep, DemoData.shanghaiDate(daysFromToday: -40), 6) } == .permissionDenied)

            // Collaboration: a support request's three cards; logistics answers at once, the others not yet.
            let cards = try await story.supportRequest()
            let logistics = try #require(cards["logistics"])
            _ = try await cluster.workflows(try await story.token("LG02")) { client, metadata in
                try await client.acknowledgeCard(.with { $0.cardID = logistics.id }, metadata: metadata)
            }
            try await cluster.eventually("scoring has the cards and the first response") {
                try cluster.scalar(.scoring, "SELECT count(*) || '/' || count(first_response_at) FROM card_responses") == "3/1"
            }
            let indicators = try await cluster.scoring(story.admin) { client, metadata in
                try await client.hardIndicators(.init(), metadata: metadata).indicators
            }
            #expect(indicators.map(\.name) == ["process_control", "collaboration", "strategy_effectiveness"])
            let byName = Dictionary(uniqueKeysWithValues: indicators.map { ($0.name, $0) })
            #expect(byName["process_control"]?.actual == 0 && byName["process_control"]?.attained == false)   // no plan day closed this month
            #expect((byName["collaboration"]?.actual ?? 99) < 0.1 && byName["collaboration"]?.attained == true && byName["collaboration"]?.target == 2)
            #expect(byName["strategy_effectiveness"]?.actual == 50 && byName["strategy_effectiveness"]?.attained == true)
            #expect(await rpcCode {
                _ = try await cluster.scoring(story.rep) { client, metadata in try await client.hardIndicators(.init(), metadata: metadata) }
            } == .permissionDenied)

            // Within the caller's scope (SPEC §8.2): E1001's manager sees E1001's cards and customers as the
            // admin does; a manager nobody reports to sees no card, no customer and no attainment.
            let scoped: @Sendable (String) async throws -> [String: Fieldwork_V1_HardIndicator] = { token in
                let indicators = try await cluster.scoring(token) { client, metadata in
                    try await client.hardIndicators(.init(), metadata: metadata).indicators
                }
                return Dictionary(uniqueKeysWithValues: indicators.map { ($0.name, $0) })
            }
            let manager = try await scoped(try await story.token("M2001"))
            #expect(manager["collaboration"]?.attained == true && manager["strategy_effectiveness"]?.actual == 50)
            let loneManager = try await cluster.token("M9009", [.manager], department: "sales", region: "杭州")
            let lone = try await scoped(loneManager)
            #expect(lone["collaboration"]?.actual == 0 && lone["collaboration"]?.attained == false)
            #expect(lone["strategy_effectiveness"]?.actual == 0 && lone["strategy_effectiveness"]?.attained == false)
            let loneReport = try await report(loneManager, DemoData.shanghaiDate(daysFromToday: -40), 0)
            #expect(loneReport.recommended == 0 && loneReport.others == 0)
        }
    }
}
