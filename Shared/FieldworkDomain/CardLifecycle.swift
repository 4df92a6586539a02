import Foundation

/// A task card's status and the moves between them (SPEC §3.1):
/// `OPEN → IN_PROGRESS → DONE`, and `CANCELLED` from any open status.
public enum CardStatus: String, CaseIterable, Sendable {
    case open = "OPEN"
    case inProgress = "IN_PROGRESS"
    case done = "DONE"
    case cancelled = "CANCELLED"

    /// Done and cancelled cards are closed: read-only, never escalated.
    public var isClosed: Bool { self == .done || self == .cancelled }

    public func canMove(to next: CardStatus) -> Bool {
        switch (self, next) {
        case (.open, .inProgress), (.inProgress, .done), (.open, .cancelled), (.inProgress, .cancelled): true
        default: false
        }
    }

    /// The move, or `failedPrecondition` saying which moves exist.
    public func moving(to next: CardStatus) throws -> CardStatus {
        guard canMove(to: next) else {
            let allowed = CardStatus.allCases.filter(canMove(to:)).map(\.rawValue)
            let options = allowed.isEmpty ? "a \(rawValue) card is closed" : "from \(rawValue) a card moves to \(allowed.joined(separator: " or "))"
            throw DomainError.failedPrecondition("cannot move a card from \(rawValue) to \(next.rawValue): \(options)")
        }
        return next
    }
}

/// When an unanswered card escalates (SPEC §3.4): to the department head when
/// the first-response SLA runs out, to the director one step later. Each level's
/// moment is fixed when the card is created, so a sweep after downtime finds
/// every overdue level and fires it once.
public struct EscalationLadder: Sendable, Equatable {
    /// Hours from the first-response due time to the next level.
    public var stepHours: Int
    /// The last level: 2 = director.
    public static let topLevel = 2

    public init(stepHours: Int = 24) {
        self.stepHours = stepHours
    }

    /// When the level after `level` is due, or nil when `level` is the top.
    public func nextDue(after level: Int, firstResponseDue due: Date) -> Date? {
        guard (0..<Self.topLevel).contains(level) else { return nil }
        return due.addingTimeInterval(Double(level * stepHours) * 3600)
    }
}
