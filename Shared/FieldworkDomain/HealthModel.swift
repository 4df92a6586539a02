import Foundation

/// The customer health model (SPEC §4.2), as pure arithmetic: the scoring
/// service feeds it each customer's activity in the window and stores what it
/// returns. Every number in it is configuration, versioned by the service.
public struct HealthModel: Sendable, Equatable, Codable {
    public var weightPurchases: Double
    public var weightTrials: Double
    public var weightAcademic: Double
    /// The activity window, in months back from the run's day.
    public var windowMonths: Int
    /// P reaches 100 at this percentile of active customers' purchase amounts.
    public var purchasesFullPercentile: Double
    public var trialsFullMarks: Int
    public var academicFullMarks: Int
    public var gradeAMin: Double
    public var gradeBMin: Double
    public var zeroStreakWeeks: Int
    public var cultivationMaxScore: Double
    /// The top share of customers by score that each run recommends (SPEC §4.4).
    public var recommendationTopShare: Double

    public init(
        weightPurchases: Double = 0.4, weightTrials: Double = 0.3, weightAcademic: Double = 0.3, windowMonths: Int = 3,
        purchasesFullPercentile: Double = 90, trialsFullMarks: Int = 3, academicFullMarks: Int = 4,
        gradeAMin: Double = 80, gradeBMin: Double = 60, zeroStreakWeeks: Int = 2, cultivationMaxScore: Double = 70,
        recommendationTopShare: Double = 0.2
    ) {
        self.weightPurchases = weightPurchases
        self.weightTrials = weightTrials
        self.weightAcademic = weightAcademic
        self.windowMonths = windowMonths
        self.purchasesFullPercentile = purchasesFullPercentile
        self.trialsFullMarks = trialsFullMarks
        self.academicFullMarks = academicFullMarks
        self.gradeAMin = gradeAMin
        self.gradeBMin = gradeBMin
        self.zeroStreakWeeks = zeroStreakWeeks
        self.cultivationMaxScore = cultivationMaxScore
        self.recommendationTopShare = recommendationTopShare
    }

    /// Versions saved before a setting existed read it as its default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = HealthModel()
        self.init(
            weightPurchases: try container.decode(Double.self, forKey: .weightPurchases),
            weightTrials: try container.decode(Double.self, forKey: .weightTrials),
            weightAcademic: try container.decode(Double.self, forKey: .weightAcademic),
            windowMonths: try container.decode(Int.self, forKey: .windowMonths),
            purchasesFullPercentile: try container.decode(Double.self, forKey: .purchasesFullPercentile),
            trialsFullMarks: try container.decode(Int.self, forKey: .trialsFullMarks),
            academicFullMarks: try container.decode(Int.self, forKey: .academicFullMarks),
            gradeAMin: try container.decode(Double.self, forKey: .gradeAMin),
            gradeBMin: try container.decode(Double.self, forKey: .gradeBMin),
            zeroStreakWeeks: try container.decodeIfPresent(Int.self, forKey: .zeroStreakWeeks) ?? defaults.zeroStreakWeeks,
            cultivationMaxScore: try container.decodeIfPresent(Double.self, forKey: .cultivationMaxScore) ?? defaults.cultivationMaxScore,
            recommendationTopShare: try container.decodeIfPresent(Double.self, forKey: .recommendationTopShare) ?? defaults.recommendationTopShare)
    }

    /// What one customer did in the window.
    public struct Activity: Sendable, Equatable {
        public var purchasesFen: Int64
        public var trials: Int
        public var academic: Int

        public init(purchasesFen: Int64 = 0, trials: Int = 0, academic: Int = 0) {
            self.purchasesFen = purchasesFen
            self.trials = trials
            self.academic = academic
        }
    }

    public struct Result: Sendable, Equatable {
        /// Components 0–100 and the score, each kept to one decimal.
        public var purchases: Double
        public var trials: Double
        public var academic: Double
        public var score: Double
        public var grade: String
    }

    /// The purchase amount that earns P = 100: the configured percentile of the
    /// amounts of active customers (those with a purchase in the window), linearly
    /// interpolated between ranks (as PostgreSQL's percentile_cont); 0 when none.
    public func purchasesFullMark(activeAmounts: [Int64]) -> Double {
        let sorted = activeAmounts.filter { $0 > 0 }.sorted()
        guard !sorted.isEmpty else { return 0 }
        let position = purchasesFullPercentile / 100 * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = Int(position.rounded(.up))
        return Double(sorted[lower]) + (Double(sorted[upper]) - Double(sorted[lower])) * (position - Double(lower))
    }

    public func score(_ activity: Activity, purchasesFullMark: Double) -> Result {
        func component(_ value: Double, fullAt full: Double) -> Double {
            guard full > 0, value > 0 else { return 0 }
            return Self.oneDecimal(min(100, value / full * 100))
        }
        let p = component(Double(activity.purchasesFen), fullAt: purchasesFullMark)
        let t = component(Double(activity.trials), fullAt: Double(trialsFullMarks))
        let a = component(Double(activity.academic), fullAt: Double(academicFullMarks))
        let score = Self.oneDecimal(weightPurchases * p + weightTrials * t + weightAcademic * a)
        return Result(purchases: p, trials: t, academic: a, score: score, grade: grade(of: score))
    }

    public func grade(of score: Double) -> String {
        score >= gradeAMin ? "A" : score >= gradeBMin ? "B" : "C"
    }

    /// Worth cultivating: below the threshold, yet one component at full marks.
    public func isCultivationHint(_ result: Result) -> Bool {
        result.score < cultivationMaxScore && [result.purchases, result.trials, result.academic].contains(100)
    }

    static func oneDecimal(_ value: Double) -> Double { (value * 10).rounded() / 10 }

    /// A configuration must add its weights to 1 and keep every number in range.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ message: String) throws {
            if !ok { throw DomainError.invalidArgument(field: "config.\(field)", message: message) }
        }
        for (field, weight) in [("weight_purchases", weightPurchases), ("weight_trials", weightTrials), ("weight_academic", weightAcademic)] {
            try check(weight.isFinite && weight >= 0 && weight <= 1, field, "must be within 0–1")
        }
        try check(abs(weightPurchases + weightTrials + weightAcademic - 1) < 1e-9, "weight_purchases", "the three weights must add up to 1")
        try check((1...24).contains(windowMonths), "window_months", "must be within 1–24")
        try check(purchasesFullPercentile > 0 && purchasesFullPercentile <= 100, "purchases_full_percentile", "must be within 0–100")
        try check((1...1000).contains(trialsFullMarks), "trials_full_marks", "must be within 1–1000")
        try check((1...1000).contains(academicFullMarks), "academic_full_marks", "must be within 1–1000")
        try check(gradeBMin >= 0 && gradeBMin < gradeAMin && gradeAMin <= 100, "grade_a_min", "needs 0 ≤ grade_b_min < grade_a_min ≤ 100")
        try check((1...52).contains(zeroStreakWeeks), "zero_streak_weeks", "must be within 1–52")
        try check(cultivationMaxScore > 0 && cultivationMaxScore <= 100, "cultivation_max_score", "must be within 0–100")
        try check(recommendationTopShare > 0 && recommendationTopShare <= 1, "recommendation_top_share", "must be within 0–1")
    }
}

/// Recommendations and their effectiveness (SPEC §4.4), as pure arithmetic.
public enum Recommendations {
    public static let topScore = "top score"
    public static let cultivationHint = "cultivation hint"

    /// The customers a run recommends, with the reason: the model's top share by
    /// score (at least one customer; ties with the last one included; only
    /// scores above 0), plus every customer with a cultivation hint.
    public static func pick(_ scored: [(customer: String, result: HealthModel.Result)], model: HealthModel) -> [String: String] {
        var picked: [String: String] = [:]
        let ranked = scored.filter { $0.result.score > 0 }.sorted { ($0.result.score, $1.customer) > ($1.result.score, $0.customer) }
        if !ranked.isEmpty {
            let count = max(1, Int((model.recommendationTopShare * Double(scored.count)).rounded(.up)))
            let cutoff = ranked[min(count, ranked.count) - 1].result.score
            for entry in ranked where entry.result.score >= cutoff { picked[entry.customer] = topScore }
        }
        for entry in scored where picked[entry.customer] == nil && model.isCultivationHint(entry.result) {
            picked[entry.customer] = cultivationHint
        }
        return picked
    }

    public struct Effectiveness: Sendable, Equatable {
        public var recommended, recommendedConverted, others, othersConverted: Int
        /// Conversion rates in percent, one decimal.
        public var recommendedRate: Double { Self.rate(recommendedConverted, of: recommended) }
        public var othersRate: Double { Self.rate(othersConverted, of: others) }
        /// Recommended minus others, in percentage points (SPEC's target: ≥ 15).
        public var differencePP: Double { ((recommendedRate - othersRate) * 10).rounded() / 10 }

        public init(recommended: Int, recommendedConverted: Int, others: Int, othersConverted: Int) {
            (self.recommended, self.recommendedConverted, self.others, self.othersConverted) = (recommended, recommendedConverted, others, othersConverted)
        }

        static func rate(_ part: Int, of whole: Int) -> Double {
            whole == 0 ? 0 : (Double(part) / Double(whole) * 1000).rounded() / 10
        }
    }
}
