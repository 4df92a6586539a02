/// Approval chains as data (SPEC §3.6): ordered steps, each naming who approves
/// and when the step applies (an amount threshold, optionally product lines).
public struct ApprovalStepRule: Sendable, Equatable, Codable {
    /// Who approves a step; the service resolves each to one named person at submission.
    public enum Approver: String, CaseIterable, Sendable, Codable {
        /// The submitter's supervisor (the sales manager).
        case manager
        /// The first director up the submitter's supervisor line.
        case director
        /// The head of the finance department.
        case finance
        /// The head of the management department.
        case generalManager = "general_manager"
    }

    public var approver: Approver
    /// The step applies when the amount (in fen) is at least this.
    public var minAmountFen: Int64
    /// The step applies to these product lines only; empty means any.
    public var productLines: [String]

    public init(approver: Approver, minAmountFen: Int64 = 0, productLines: [String] = []) {
        self.approver = approver
        self.minAmountFen = minAmountFen
        self.productLines = productLines
    }

    public func applies(amountFen: Int64, productLine: String) -> Bool {
        amountFen >= minAmountFen && (productLines.isEmpty || productLines.contains(productLine))
    }
}

public enum ApprovalRules {
    /// The default contract chain: < 100 000 CNY the sales manager; from 100 000
    /// also the director; from 1 000 000 also finance and the general manager.
    public static let contract: [ApprovalStepRule] = [
        .init(approver: .manager),
        .init(approver: .director, minAmountFen: 100_000_00),
        .init(approver: .finance, minAmountFen: 1_000_000_00),
        .init(approver: .generalManager, minAmountFen: 1_000_000_00),
    ]

    /// The steps that apply to a submission, in chain order.
    public static func steps(of chain: [ApprovalStepRule], amountFen: Int64, productLine: String) -> [ApprovalStepRule] {
        chain.filter { $0.applies(amountFen: amountFen, productLine: productLine) }
    }

    /// A chain must have 1–10 steps, non-negative thresholds, and no approver twice.
    public static func validate(_ chain: [ApprovalStepRule]) throws {
        guard (1...10).contains(chain.count) else {
            throw DomainError.invalidArgument(field: "chain.steps", message: "a chain has 1 to 10 steps")
        }
        for (index, step) in chain.enumerated() where step.minAmountFen < 0 {
            throw DomainError.invalidArgument(field: "chain.steps[\(index)].min_amount_fen", message: "must not be negative")
        }
        var seen: Set<Approver> = []
        for (index, step) in chain.enumerated() where !seen.insert(step.approver).inserted {
            throw DomainError.invalidArgument(field: "chain.steps[\(index)].role", message: "'\(step.approver.rawValue)' already approves an earlier step")
        }
    }

    public typealias Approver = ApprovalStepRule.Approver
}
