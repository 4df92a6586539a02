import Foundation

/// SPEC §4.3: a customer with no activity in a health component (purchases,
/// trials, academic events) for N completed weeks gets a red warning, once per
/// streak. Weeks are ISO weeks (Monday to Sunday) in the business calendar; the
/// week the run falls in is not complete and does not count.
public struct ZeroActivityStreak: Sendable, Equatable {
    /// The Monday the streak began: the week after the last activity (or the
    /// week the model's window began, for a customer with no activity in it).
    public var start: LocalDate
    /// Completed weeks without activity, up to the week of the run.
    public var weeks: Int

    public init(start: LocalDate, weeks: Int) {
        self.start = start
        self.weeks = weeks
    }

    /// The streak as of `day`, or nil when it is shorter than `minimumWeeks`.
    /// Days are the business calendar's local days; only their order matters here.
    public static func asOf(_ day: LocalDate, lastActivity: LocalDate?, windowStart: LocalDate, minimumWeeks: Int) -> ZeroActivityStreak? {
        let thisWeek = monday(of: day)
        let start = lastActivity.map { monday(of: $0).adding(days: 7) } ?? monday(of: windowStart)
        let days = thisWeek.dayNumber - start.dayNumber
        guard days > 0 else { return nil }
        let weeks = days / 7
        return weeks >= minimumWeeks ? ZeroActivityStreak(start: start, weeks: weeks) : nil
    }

    static func monday(of day: LocalDate) -> LocalDate { day.adding(days: 1 - day.isoWeekday) }
}
