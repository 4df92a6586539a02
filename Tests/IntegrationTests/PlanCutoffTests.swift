import FieldworkDomain
import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// SPEC §8.3: a day's plan is set by PLAN_CUTOFF (09:30) that day. Before, a
/// rep could set today's plan at 17:50 listing only the customers already
/// visited and report 100 %. The visits service runs on a simulated clock so
/// the test can stand on either side of the cut-off whatever the real time is.
@Suite(.serialized) struct PlanCutoffTests {
    @Test func todaysPlanIsFixedAfterTheCutoff() async throws {
        try await Cluster.with(createDatabases: [.visits]) { cluster in
            try cluster.start(.visits, extra: Cluster.simulatedClock.merging(["PLAN_CUTOFF": "09:30"]) { $1 })
            try await cluster.waitUntilServing(.visits)
            let story = try await Story(cluster)
            try await story.importDirectory()
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "Asia/Shanghai")!
            let today = DemoData.shanghaiDate(daysFromToday: 0)
            let tomorrow = DemoData.shanghaiDate(daysFromToday: 1)
            func at(_ hour: Int, _ minute: Int) -> Date {
                calendar.date(from: DateComponents(year: Int(today.year), month: Int(today.month), day: Int(today.day), hour: hour, minute: minute))!
            }
            func setTime(_ date: Date) async throws {
                _ = try await cluster.withClient(.visits) { client in
                    try await Fieldwork_V1_SimulationClock.Client(wrapping: client).setTime(
                        .with { $0.now = .init(date: date) }, metadata: cluster.metadata(story.admin))
                }
            }
            func plan(_ day: Fieldwork_V1_Date, _ customers: [String]) async -> RPCError.Code? {
                await rpcCode {
                    _ = try await cluster.visits(story.rep) { client, metadata in
                        try await client.setDailyPlan(.with { $0.day = day; $0.visits = customers.map { id in .with { $0.customerID = id } } }, metadata: metadata)
                    }
                }
            }

            try await setTime(at(8, 45))
            #expect(await plan(today, ["H-ZJ-001"]) == nil)
            #expect(await plan(today, ["H-ZJ-001", "H-ZJ-002"]) == nil)   // changed before the cut-off
            try await setTime(at(9, 30))
            #expect(await plan(today, ["H-ZJ-002"]) == .failedPrecondition)
            try await setTime(at(17, 50))
            #expect(await plan(today, ["H-ZJ-001"]) == .failedPrecondition)
            #expect(await plan(tomorrow, ["H-ZJ-001"]) == nil)   // the evening before is the usual time
            let kept = try await cluster.visits(story.rep) { client, metadata in
                try await client.getDailyPlan(.with { $0.day = today }, metadata: metadata).visits.map(\.customerID)
            }
            #expect(kept == ["H-ZJ-001", "H-ZJ-002"])

            // A day without a plan is reported apart, never as 100 %.
            let team = try await cluster.visits(try await story.token("M2001")) { client, metadata in
                try await client.planCompletion(.with { $0.scope = .team; $0.day = today }, metadata: metadata)
            }
            #expect(team.reps.map(\.repID) == ["E1001"] && team.planned == 2)
            #expect(team.noPlanRepIds == ["E1002"])
            let alone = try await cluster.visits(try await story.token("E1002")) { client, metadata in
                try await client.planCompletion(.with { $0.scope = .rep; $0.day = today }, metadata: metadata)
            }
            #expect(alone.planned == 0 && alone.rate == 0 && alone.noPlanRepIds == ["E1002"])
        }
    }

    /// A working day a planner had no plan for closes as a "no plan" day at the
    /// check time (SPEC §8.3): a row in visits, a PlanDayClosed event, and a count
    /// of its own in scoring's hard indicators, within the caller's scope; weekends
    /// (PLAN_WORKDAYS) close nothing, and days missed while the job did not run are
    /// caught up on its next run.
    @Test func daysWithoutAPlanCloseApartAndReachTheHardIndicators() async throws {
        try await Cluster.with(createDatabases: [.visits, .scoring]) { cluster in
            // Scoring first, and the only subscriber: on a simulated clock that stands still, an
            // event that found its subscriber unreachable would wait for a retry that never comes.
            try cluster.start(.scoring, extra: Cluster.simulatedClock)
            try await cluster.waitUntilServing(.scoring)
            try cluster.start(.visits, extra: Cluster.simulatedClock.merging([
                "PLAN_CUTOFF": "09:30", "PLAN_WORKDAYS": "1,2,3,4,5", "SUBSCRIBERS": "scoring=127.0.0.1:\(cluster.ports[.scoring]!)",
            ]) { $1 })
            try await cluster.waitUntilServing(.visits)
            let story = try await Story(cluster)
            try await story.importDirectory()
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "Asia/Shanghai")!
            // Tuesday 2026-12-01 to Monday 2026-12-07.
            func at(_ day: Int, _ hour: Int, _ minute: Int) -> Date {
                calendar.date(from: DateComponents(year: 2026, month: 12, day: day, hour: hour, minute: minute))!
            }
            func closeDays(at time: Date) async throws -> String {
                try await cluster.setTime(.visits, time)
                return try await cluster.visits(story.admin) { client, metadata in
                    try await client.runJob(.with { $0.name = "plan-day-close" }, metadata: metadata).summary
                }
            }
            func closed(_ sql: String) throws -> String { try cluster.scalar(.visits, sql) }

            func plan(_ token: String, day: Int32) async throws {
                _ = try await cluster.visits(token) { client, metadata in
                    try await client.setDailyPlan(.with {
                        $0.day = .with { $0.year = 2026; $0.month = 12; $0.day = day }
                        $0.visits = [.with { $0.customerID = "H-ZJ-001" }]
                    }, metadata: metadata)
                }
            }

            try await cluster.setTime(.visits, at(1, 8, 45))
            try await plan(story.rep, day: 1)
            // Tuesday: E1001 planned; the other planners (E1002, MK02) had no plan.
            #expect(try await closeDays(at: at(1, 18, 5)) == "closed 1 rep-day(s) and 2 no-plan day(s) up to 2026-12-01")
            // Again the same evening: nothing closes twice.
            #expect(try await closeDays(at: at(1, 18, 30)) == "closed 0 rep-day(s) and 0 no-plan day(s) up to 2026-12-01")
            // Wednesday morning MK02 plans; the job does not run again until Monday evening: Wednesday
            // to Friday and Monday close (MK02's Wednesday as planned), the weekend does not.
            try await cluster.setTime(.visits, at(2, 8, 45))
            try await plan(try await story.token("MK02"), day: 2)
            #expect(try await closeDays(at: at(7, 18, 5)) == "closed 1 rep-day(s) and 11 no-plan day(s) up to 2026-12-07")
            #expect(try closed("""
                SELECT string_agg(day::text || ':' || count, ',' ORDER BY day)
                FROM (SELECT day, count(*) FROM plan_days WHERE no_plan GROUP BY day) d
                """) == "2026-12-01:2,2026-12-02:2,2026-12-03:3,2026-12-04:3,2026-12-07:3")
            #expect(try closed("SELECT count(*) FROM plan_days WHERE rep_id = 'E1001' AND day = '2026-12-01' AND NOT no_plan AND planned = 1") == "1")

            // Scoring keeps the days; each caller counts those of the planners they reach.
            try await story.flushVisitsOutbox()
            try await cluster.eventually("scoring has every closed day") {
                try cluster.scalar(.scoring, "SELECT count(*) || '/' || count(*) FILTER (WHERE no_plan) FROM plan_days") == "15/13"
            }
            let (weekStart, mondayEvening) = (at(1, 0, 0), at(7, 20, 0))
            try await cluster.setTime(.scoring, mondayEvening)
            func indicators(_ token: String) async throws -> Fieldwork_V1_HardIndicatorsResponse {
                try await cluster.scoring(token) { client, metadata in
                    try await client.hardIndicators(.with {
                        $0.range.from = .init(date: weekStart)
                        $0.range.to = .init(date: mondayEvening)
                    }, metadata: metadata)
                }
            }
            let all = try await indicators(story.admin)
            #expect(all.noPlanDays == 13)
            // Two visits planned (E1001 Tuesday, MK02 Wednesday), none made: 0 %, the no-plan days apart.
            #expect(all.indicators.first { $0.name == "process_control" }?.actual == 0)
            #expect(try await indicators(try await story.token("M2001")).noPlanDays == 9)   // team: E1001 (4) and E1002 (5)
            #expect(try await indicators(try await story.token("D3001")).noPlanDays == 8)   // 杭州: E1001 (4) and MK02 (4)
            #expect(try await indicators(try await cluster.token("M9009", [.manager], region: "杭州")).noPlanDays == 0)   // nobody in the team
        }
    }
}
