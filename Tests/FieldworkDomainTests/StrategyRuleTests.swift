import FieldworkDomain
import Testing

@Suite struct StrategyRuleTests {
    @Test func planShortfallIsBelowTheThresholdOnly() {
        #expect(PlanShortfall.shortfall(planned: 10, valid: 9, thresholdPercent: 92) == 90)
        #expect(PlanShortfall.shortfall(planned: 10, valid: 10, thresholdPercent: 92) == nil)
        #expect(PlanShortfall.shortfall(planned: 25, valid: 23, thresholdPercent: 92) == nil)   // exactly 92 %: not below
        #expect(PlanShortfall.shortfall(planned: 25, valid: 22, thresholdPercent: 92) == 88)
        #expect(PlanShortfall.shortfall(planned: 0, valid: 0, thresholdPercent: 92) == nil)     // nothing planned
        #expect(PlanShortfall.shortfall(planned: 4, valid: 6, thresholdPercent: 92) == nil)     // extra visits cap at 100 %
    }

    @Test func paymentCycleDriftComparesTheTwoMonths() {
        let last = PaymentCycleDrift.Month(payments: 5, averageDays: 45)
        #expect(PaymentCycleDrift.drift(thisMonth: .init(payments: 5, averageDays: 58), lastMonth: last, increaseDays: 12, minimumPayments: 1) == 13)
        #expect(PaymentCycleDrift.drift(thisMonth: .init(payments: 5, averageDays: 57), lastMonth: last, increaseDays: 12, minimumPayments: 1) == 12)
        #expect(PaymentCycleDrift.drift(thisMonth: .init(payments: 5, averageDays: 56.9), lastMonth: last, increaseDays: 12, minimumPayments: 1) == nil)
        // A month without payments (or too few) is no basis for comparison.
        #expect(PaymentCycleDrift.drift(thisMonth: .init(payments: 1, averageDays: 90), lastMonth: .init(payments: 0, averageDays: 0),
                                        increaseDays: 12, minimumPayments: 1) == nil)
        #expect(PaymentCycleDrift.drift(thisMonth: .init(payments: 2, averageDays: 90), lastMonth: last, increaseDays: 12, minimumPayments: 3) == nil)
    }

    @Test func previousMonthHandlesYearsAndLeapDays() {
        let january = PaymentCycleDrift.previousMonth(of: LocalDate(year: 2027, month: 1, day: 15))
        #expect(january.first == LocalDate(year: 2026, month: 12, day: 1) && january.last == LocalDate(year: 2026, month: 12, day: 31))
        #expect(PaymentCycleDrift.previousMonth(of: LocalDate(year: 2024, month: 3, day: 31)).last == LocalDate(year: 2024, month: 2, day: 29))
        #expect(PaymentCycleDrift.previousMonth(of: LocalDate(year: 2100, month: 3, day: 1)).last == LocalDate(year: 2100, month: 2, day: 28))
        #expect(PaymentCycleDrift.previousMonth(of: LocalDate(year: 2026, month: 12, day: 1)).last == LocalDate(year: 2026, month: 11, day: 30))
    }

    @Test func aStreakIsStalledFromItsNthVisitAndEndsWhenTheStageIsReached() {
        var streak = VisitStreak()
        func add(_ id: String, reached: Bool = false, _ threshold: Int) -> Bool {
            streak.add(visitID: id, reachedStage: reached, threshold: threshold)
        }
        #expect(!add("v1", 3))
        #expect(!add("v1", 3))   // redelivered: counted once
        #expect(!add("v2", 3))
        #expect(add("v3", 3))
        #expect(add("v4", 3))    // still stalled; same occurrence (first visit v1)
        #expect(streak.firstVisitID == "v1" && streak.visits == 4 && streak.recentVisitIDs == ["v1", "v2", "v3", "v4"])
        #expect(!add("v5", reached: true, 3))
        #expect(streak == VisitStreak())
        #expect(!add("v6", 2))
        #expect(add("v7", 2))
        #expect(streak.firstVisitID == "v6")
        for index in 8...30 { _ = add("v\(index)", 2) }
        #expect(streak.recentVisitIDs.count == VisitStreak.recentLimit && streak.recentVisitIDs.last == "v30" && streak.visits == 25)
    }

    @Test func funnelStagesCompareByOrderAndLostReachesNothing() {
        #expect(FunnelProgress.reaches("QUOTED", "QUOTED") && FunnelProgress.reaches("TRIAL", "QUOTED") && FunnelProgress.reaches("WON", "QUOTED"))
        #expect(!FunnelProgress.reaches("NEEDS_CONFIRMED", "QUOTED") && !FunnelProgress.reaches("needsConfirmed", "QUOTED"))
        #expect(FunnelProgress.reaches("quoted", "QUOTED"))
        #expect(!FunnelProgress.reaches("LOST", "QUOTED") && !FunnelProgress.reaches("", "QUOTED") && !FunnelProgress.reaches("unspecified", "LEAD"))
    }

    @Test func editsAreCheckedAgainstTheBuiltInRule() throws {
        let builtIn = try #require(StrategyRule.builtIn("stalled_customer"))
        try builtIn.validate(against: builtIn)
        for rule in StrategyRule.builtIns { try rule.validate(against: rule) }

        func refusal(_ edit: (inout StrategyRule) -> Void) -> String? {
            var rule = builtIn
            edit(&rule)
            do {
                try rule.validate(against: builtIn)
                return nil
            } catch DomainError.invalidArgument(let field, _) {
                return field
            } catch {
                return "\(error)"
            }
        }
        let edits: [(expected: String?, edit: (inout StrategyRule) -> Void)] = [
            ("rule.parameters.visits", { $0.parameters["visits"] = "0" }),
            ("rule.parameters.visits", { $0.parameters["visits"] = "three" }),
            ("rule.parameters.weeks", { $0.parameters["weeks"] = "2" }),
            ("rule.parameters.stage", { $0.parameters["stage"] = "LOST" }),
            ("rule.parameters.stage", { $0.parameters["stage"] = "lost" }),
            ("rule.action.notify_roles", { $0.notifyRoles = ["ceo"] }),
            ("rule.action", { $0.notifyRoles = []; $0.notifyPersonIDs = [] }),
            ("rule.action.template", { $0.template = "{customer_name} {amount}" }),
            ("rule.condition", { $0.condition = .planShortfall }),
            ("rule.trigger", { $0.trigger = "schedule:scoring" }),
            ("rule.name", { $0.name = " " }),
            (nil, { $0.parameters["visits"] = "5"; $0.notifyRoles = ["rep", "manager"] }),
        ]
        for (expected, edit) in edits {
            let field = refusal(edit)
            #expect(field == expected)
        }

        let zero = try #require(StrategyRule.builtIn("zero_streak"))
        var components = zero
        components.parameters["components"] = "T, A"
        try components.validate(against: zero)
        components.parameters["components"] = "X"
        #expect(throws: DomainError.self) { try components.validate(against: zero) }
        // A red warning goes to the customer's rep and manager, plus named persons; not to roles found elsewhere.
        var directors = zero
        directors.notifyRoles = ["manager", "director"]
        #expect(throws: DomainError.invalidArgument(
            field: "rule.action.notify_roles", message: "'director': a red warning goes to the customer's rep and manager (and named persons)")) {
            try directors.validate(against: zero)
        }
        // The default template uses only variables the condition records.
        for rule in StrategyRule.builtIns {
            #expect(TemplateText.placeholders(in: rule.template).allSatisfy { rule.condition.inputNames.contains($0) })
        }
    }
}
