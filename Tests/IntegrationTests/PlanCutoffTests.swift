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
}
