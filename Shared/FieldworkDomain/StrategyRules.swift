import Foundation

/// A strategy rule (SPEC §4.5) as data: what triggers it, which built-in
/// condition it evaluates with which parameters, and whom it notifies with
/// what. The scoring service stores every version and records each firing.
public struct StrategyRule: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    /// An event type ("visits.PlanDayClosed") or "schedule:<job>".
    public var trigger: String
    public var condition: StrategyCondition
    public var parameters: [String: String]
    public var notifyPersonIDs: [String]
    /// Resolved relative to the firing's subject: rep, manager, director, ops.
    public var notifyRoles: [String]
    /// The message, with `{name}` placeholders filled from the firing's inputs.
    public var template: String
    public var contentPackage: String
    public var enabled: Bool

    public init(
        id: String, name: String, trigger: String, condition: StrategyCondition, parameters: [String: String],
        notifyPersonIDs: [String] = [], notifyRoles: [String], template: String, contentPackage: String = "", enabled: Bool = true
    ) {
        self.id = id
        self.name = name
        self.trigger = trigger
        self.condition = condition
        self.parameters = parameters
        self.notifyPersonIDs = notifyPersonIDs
        self.notifyRoles = notifyRoles
        self.template = template
        self.contentPackage = contentPackage
        self.enabled = enabled
    }

    /// Roles a rule may notify; each is found from the firing's subject.
    public static let subjectRoles: Set<String> = ["rep", "manager", "director", "ops"]

    /// Checks a rule as an administrator edits it. The condition, trigger and id
    /// belong to the built-in rule and cannot change; parameters are checked by
    /// the condition, and the template may use only the inputs it records.
    public func validate(against builtIn: StrategyRule) throws {
        guard condition == builtIn.condition else {
            throw DomainError.invalidArgument(field: "rule.condition", message: "is \(builtIn.condition.rawValue) for rule \(id) and cannot change")
        }
        guard trigger == builtIn.trigger else {
            throw DomainError.invalidArgument(field: "rule.trigger", message: "is \(builtIn.trigger) for rule \(id) and cannot change")
        }
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 200 else {
            throw DomainError.invalidArgument(field: "rule.name", message: "is required, at most 200 characters")
        }
        try condition.validate(parameters)
        for role in notifyRoles where !Self.subjectRoles.contains(role) {
            throw DomainError.invalidArgument(
                field: "rule.action.notify_roles", message: "'\(role)' is not one of \(Self.subjectRoles.sorted().joined(separator: ", "))")
        }
        if condition == .zeroStreak, let role = notifyRoles.first(where: { $0 != "rep" && $0 != "manager" }) {
            throw DomainError.invalidArgument(
                field: "rule.action.notify_roles", message: "'\(role)': a red warning goes to the customer's rep and manager (and named persons)")
        }
        guard notifyPersonIDs.count <= 50, notifyPersonIDs.allSatisfy({ !$0.isEmpty && $0.count <= 64 }) else {
            throw DomainError.invalidArgument(field: "rule.action.notify_person_ids", message: "at most 50 ids of at most 64 characters")
        }
        guard !notifyRoles.isEmpty || !notifyPersonIDs.isEmpty else {
            throw DomainError.invalidArgument(field: "rule.action", message: "name at least one person or role to notify")
        }
        guard !template.isEmpty, template.count <= 2000 else {
            throw DomainError.invalidArgument(field: "rule.action.template", message: "is required, at most 2000 characters")
        }
        if let unknown = TemplateText.placeholders(in: template).first(where: { !condition.inputNames.contains($0) }) {
            throw DomainError.invalidArgument(
                field: "rule.action.template",
                message: "unknown variable {\(unknown)}; this rule offers \(condition.inputNames.sorted().joined(separator: ", "))")
        }
        guard contentPackage.count <= 200 else {
            throw DomainError.invalidArgument(field: "rule.action.content_package", message: "at most 200 characters")
        }
    }

    /// A parameter as a number, falling back to the built-in default.
    public func number(_ name: String) -> Double {
        Double(parameters[name] ?? "") ?? Double(condition.defaults[name] ?? "") ?? 0
    }

    /// The four rules SPEC §4.5 builds in, with their default parameters.
    public static let builtIns: [StrategyRule] = [
        StrategyRule(
            id: "stalled_customer", name: "客户停滞", trigger: "visits.VisitSubmitted", condition: .stalledCustomer,
            parameters: StrategyCondition.stalledCustomer.defaults, notifyRoles: ["rep"],
            template: "{customer_name}：您已连续 {visits} 次拜访，漏斗仍未到达 {stage}。请使用话术包「{content_package}」。近期采购：{purchase_history}",
            contentPackage: "技术问答话术包"),
        StrategyRule(
            id: "payment_cycle_drift", name: "回款周期漂移", trigger: "schedule:scoring", condition: .paymentCycleDrift,
            parameters: StrategyCondition.paymentCycleDrift.defaults, notifyRoles: ["director"],
            template: "{region} 本月平均回款周期 {this_month_days} 天，上月 {last_month_days} 天（+{increase_days} 天）。最近合同账期变更：{contract_changes}"),
        StrategyRule(
            id: "plan_shortfall", name: "计划完成率不足", trigger: "visits.PlanDayClosed", condition: .planShortfall,
            parameters: StrategyCondition.planShortfall.defaults, notifyRoles: ["ops"],
            template: "{rep_name} {day} 计划拜访 {planned} 家，有效 {valid} 家，完成率 {rate_percent}%（低于 {threshold_percent}%），请回访复盘。"),
        StrategyRule(
            id: "zero_streak", name: "零活动红色预警", trigger: "schedule:scoring", condition: .zeroStreak,
            parameters: StrategyCondition.zeroStreak.defaults, notifyRoles: ["rep", "manager"],
            template: "{customer_name} 连续 {weeks} 周无{component_name}"),
    ]

    public static func builtIn(_ id: String) -> StrategyRule? { builtIns.first { $0.id == id } }
}

/// The conditions the engine knows. Each names its parameters (with defaults)
/// and the inputs a firing records, which are also the template's variables.
public enum StrategyCondition: String, Sendable, Codable, CaseIterable {
    case stalledCustomer = "stalled_customer"
    case paymentCycleDrift = "payment_cycle_drift"
    case planShortfall = "plan_shortfall"
    case zeroStreak = "zero_streak"

    public var defaults: [String: String] {
        switch self {
        case .stalledCustomer: ["visits": "3", "stage": "QUOTED"]
        case .paymentCycleDrift: ["increase_days": "12", "contracts_shown": "5", "min_payments": "1"]
        case .planShortfall: ["threshold_percent": "92"]
        case .zeroStreak: ["components": "P,T,A"]
        }
    }

    public var inputNames: Set<String> {
        switch self {
        case .stalledCustomer:
            ["rep_id", "rep_name", "customer_id", "customer_name", "visits", "stage", "visit_ids", "purchase_history", "content_package"]
        case .paymentCycleDrift:
            ["region", "month", "this_month_days", "last_month_days", "increase_days", "this_month_payments", "last_month_payments",
             "contract_changes"]
        case .planShortfall: ["rep_id", "rep_name", "day", "planned", "valid", "rate_percent", "threshold_percent"]
        case .zeroStreak: ["customer_id", "customer_name", "component", "component_name", "weeks", "streak_start"]
        }
    }

    public func validate(_ parameters: [String: String]) throws {
        let field = "rule.parameters"
        if let unknown = parameters.keys.sorted().first(where: { defaults[$0] == nil }) {
            throw DomainError.invalidArgument(
                field: "\(field).\(unknown)", message: "is not a parameter of \(rawValue); it has \(defaults.keys.sorted().joined(separator: ", "))")
        }
        func integer(_ name: String, _ range: ClosedRange<Int>) throws {
            guard let text = parameters[name] else { return }
            guard let value = Int(text), range.contains(value) else {
                throw DomainError.invalidArgument(field: "\(field).\(name)", message: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
        }
        switch self {
        case .stalledCustomer:
            try integer("visits", 1...50)
            if let stage = parameters["stage"], FunnelProgress.index(of: stage) == nil || FunnelProgress.index(of: stage) == FunnelProgress.index(of: "LOST") {
                throw DomainError.invalidArgument(field: "\(field).stage", message: "must be one of \(FunnelProgress.stages.dropLast().joined(separator: ", "))")
            }
        case .paymentCycleDrift:
            try integer("increase_days", 1...365)
            try integer("contracts_shown", 0...20)
            try integer("min_payments", 1...1000)
        case .planShortfall:
            try integer("threshold_percent", 1...100)
        case .zeroStreak:
            if let components = parameters["components"] {
                let names = components.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard !names.isEmpty, names.allSatisfy({ ["P", "T", "A"].contains($0) }) else {
                    throw DomainError.invalidArgument(field: "\(field).components", message: "must list P, T and/or A, comma-separated")
                }
            }
        }
    }
}

/// The funnel's stage order (SPEC §2.8), for "has the customer reached QUOTED".
/// Names are compared loosely ("needsConfirmed" and "NEEDS_CONFIRMED" are one stage).
public enum FunnelProgress {
    public static let stages = ["LEAD", "VISITED", "NEEDS_CONFIRMED", "QUOTED", "TRIAL", "WON", "LOST"]

    public static func index(of name: String) -> Int? {
        let key = name.uppercased().replacingOccurrences(of: "_", with: "")
        return stages.firstIndex { $0.replacingOccurrences(of: "_", with: "") == key }
    }

    /// Whether `stage` is `target` or past it; LOST reaches nothing.
    public static func reaches(_ stage: String, _ target: String) -> Bool {
        guard let at = index(of: stage), let goal = index(of: target), stages[at] != "LOST" else { return false }
        return at >= goal
    }
}

/// Plan shortfall (SPEC §2.5): a closed day below the threshold. A day with
/// nothing planned is not a shortfall.
public enum PlanShortfall {
    /// The completion rate in percent when it is below the threshold, else nil.
    public static func shortfall(planned: Int, valid: Int, thresholdPercent: Double) -> Double? {
        guard planned > 0 else { return nil }
        let rate = Double(min(valid, planned)) / Double(planned) * 100
        return rate < thresholdPercent ? rate : nil
    }
}

/// Payment-cycle drift (SPEC §4.5): this month's average invoice→paid days in a
/// region against last month's.
public enum PaymentCycleDrift {
    public struct Month: Sendable, Equatable {
        public var payments: Int
        public var averageDays: Double
        public init(payments: Int, averageDays: Double) {
            self.payments = payments
            self.averageDays = averageDays
        }
    }

    /// The increase in days when it reaches the threshold and both months have
    /// enough payments to compare, else nil.
    public static func drift(thisMonth: Month, lastMonth: Month, increaseDays: Double, minimumPayments: Int) -> Double? {
        guard thisMonth.payments >= minimumPayments, lastMonth.payments >= minimumPayments else { return nil }
        let increase = thisMonth.averageDays - lastMonth.averageDays
        return increase >= increaseDays ? increase : nil
    }

    /// The calendar month before `day`'s, as (first day, last day).
    public static func previousMonth(of day: LocalDate) -> (first: LocalDate, last: LocalDate) {
        let (year, month) = day.month == 1 ? (day.year - 1, 12) : (day.year, day.month - 1)
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let length = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (LocalDate(year: year, month: month, day: 1), LocalDate(year: year, month: month, day: length))
    }
}

/// Stalled customer (SPEC §4.5): one rep's consecutive visits to one customer
/// while the funnel has not reached the rule's stage. The streak restarts when
/// a visit or a funnel change reaches it. It is stalled from the N-th visit on;
/// the streak's first visit names the occurrence, so it fires once per streak.
public struct VisitStreak: Sendable, Equatable, Codable {
    /// The streak's first visit; nil when there is no streak.
    public var firstVisitID: String?
    public var visits: Int
    /// The latest visits, for the firing's inputs (at most `recentLimit`).
    public var recentVisitIDs: [String]
    public static let recentLimit = 10

    public init(firstVisitID: String? = nil, visits: Int = 0, recentVisitIDs: [String] = []) {
        self.firstVisitID = firstVisitID
        self.visits = visits
        self.recentVisitIDs = recentVisitIDs
    }

    /// Adds a visit (a redelivered one counts once); returns true when the
    /// streak is at or past `threshold` visits after it.
    public mutating func add(visitID: String, reachedStage: Bool, threshold: Int) -> Bool {
        guard !recentVisitIDs.contains(visitID) else { return false }
        if reachedStage {
            self = VisitStreak()
            return false
        }
        if firstVisitID == nil { firstVisitID = visitID }
        visits += 1
        recentVisitIDs = Array((recentVisitIDs + [visitID]).suffix(Self.recentLimit))
        return visits >= threshold
    }
}
