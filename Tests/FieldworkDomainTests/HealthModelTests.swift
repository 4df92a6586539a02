import FieldworkDomain
import Testing

@Suite struct HealthModelTests {
    let model = HealthModel()

    @Test func componentsAreLinearAndCappedAndTheScoreIsWeighted() {
        let full = 1_000_000.0
        let result = model.score(.init(purchasesFen: 500_000, trials: 2, academic: 5), purchasesFullMark: full)
        #expect(result.purchases == 50)
        #expect(result.trials == 66.7)          // 2 of 3, one decimal
        #expect(result.academic == 100)         // capped
        #expect(result.score == 70)             // 0.4·50 + 0.3·66.7 + 0.3·100 = 70.01 → 70.0
        #expect(result.grade == "B")
        #expect(model.score(.init(purchasesFen: 2_000_000, trials: 3, academic: 4), purchasesFullMark: full).score == 100)
        let idle = model.score(.init(), purchasesFullMark: full)
        #expect(idle.score == 0 && idle.grade == "C")
        // Nobody bought anything: P is 0, not a division by zero.
        #expect(model.score(.init(purchasesFen: 0, trials: 3), purchasesFullMark: 0).purchases == 0)
    }

    @Test func gradesFollowTheCutOffs() {
        #expect(model.grade(of: 80) == "A" && model.grade(of: 79.9) == "B" && model.grade(of: 60) == "B" && model.grade(of: 59.9) == "C")
        #expect(HealthModel(gradeAMin: 90, gradeBMin: 50).grade(of: 85) == "B")
    }

    @Test func theFullMarkIsTheNinetiethPercentileOfActiveCustomers() {
        // 10 active customers 100…1000: rank 0.9·9 = 8.1 → 900 + 0.1·100 = 910; zeros are not active.
        let amounts: [Int64] = [0, 0] + (1...10).map { Int64($0) * 100 }
        #expect(abs(model.purchasesFullMark(activeAmounts: amounts) - 910) < 1e-9)
        #expect(model.purchasesFullMark(activeAmounts: [700]) == 700)
        #expect(model.purchasesFullMark(activeAmounts: []) == 0)
        #expect(model.purchasesFullMark(activeAmounts: [0, 0]) == 0)
    }

    @Test func cultivationHintsAreLowScoresWithAFullComponent() {
        // SPEC's example: a private hospital at 61 with academic participation at 100.
        let result = model.score(.init(purchasesFen: 0, trials: 3, academic: 4), purchasesFullMark: 100)
        #expect(result.score == 60 && model.isCultivationHint(result))
        #expect(!model.isCultivationHint(model.score(.init(purchasesFen: 100, trials: 3, academic: 4), purchasesFullMark: 100)))
        #expect(!model.isCultivationHint(model.score(.init(purchasesFen: 10, trials: 1, academic: 1), purchasesFullMark: 100)))
    }

    @Test func configurationsAreChecked() throws {
        try model.validate()
        #expect(throws: DomainError.self) { try HealthModel(weightPurchases: 0.5).validate() }      // weights add to 1.1
        #expect(throws: DomainError.self) { try HealthModel(windowMonths: 0).validate() }
        #expect(throws: DomainError.self) { try HealthModel(gradeAMin: 50, gradeBMin: 60).validate() }
        #expect(throws: DomainError.self) { try HealthModel(trialsFullMarks: 0).validate() }
        try HealthModel(weightPurchases: 0.5, weightTrials: 0.25, weightAcademic: 0.25).validate()
    }
}

@Suite struct ZeroActivityStreakTests {
    func day(_ text: String) -> LocalDate { LocalDate(iso: text)! }

    @Test func twoCompletedWeeksWithoutActivityMakeAStreak() {
        // Thursday 2026-11-26; its week began Monday 2026-11-23.
        let run = day("2026-11-26"), window = day("2026-08-26")
        // Last purchase on Wednesday 2026-11-04: the streak began Monday 11-09; weeks 11-09 and 11-16 are complete.
        #expect(ZeroActivityStreak.asOf(run, lastActivity: day("2026-11-04"), windowStart: window, minimumWeeks: 2)
                == ZeroActivityStreak(start: day("2026-11-09"), weeks: 2))
        // Activity in the week of 11-09: only one complete empty week (11-16).
        #expect(ZeroActivityStreak.asOf(run, lastActivity: day("2026-11-15"), windowStart: window, minimumWeeks: 2) == nil)
        #expect(ZeroActivityStreak.asOf(run, lastActivity: day("2026-11-15"), windowStart: window, minimumWeeks: 1)
                == ZeroActivityStreak(start: day("2026-11-16"), weeks: 1))
        // Activity this week: no streak, whatever the threshold.
        #expect(ZeroActivityStreak.asOf(run, lastActivity: day("2026-11-23"), windowStart: window, minimumWeeks: 1) == nil)
        // Never any activity: the streak runs from the window's first week (Monday 2026-08-24) — 13 complete weeks.
        #expect(ZeroActivityStreak.asOf(run, lastActivity: nil, windowStart: window, minimumWeeks: 2)
                == ZeroActivityStreak(start: day("2026-08-24"), weeks: 13))
        // The same streak seen a week later has the same start: it is one streak, raised once.
        #expect(ZeroActivityStreak.asOf(day("2026-12-03"), lastActivity: day("2026-11-04"), windowStart: window, minimumWeeks: 2)?.start
                == day("2026-11-09"))
    }
}
