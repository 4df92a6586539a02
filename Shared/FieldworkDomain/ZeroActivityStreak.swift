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
    public static func asOf(
        _ day: LocalDate, lastActivity: LocalDate?, windowStart: LocalDate, minimumWeeks: Int, calendar: BusinessCalendar
    ) -> ZeroActivityStreak? {
        let thisWeek = monday(of: day, calendar: calendar)
        let start = lastActivity.map { calendar.adding(days: 7, to: monday(of: $0, calendar: calendar)) }
            ?? monday(of: windowStart, calendar: calendar)
        let days = daysBetween(start, thisWeek, calendar: calendar)
        guard days > 0 else { return nil }
        let weeks = days / 7
        return weeks >= minimumWeeks ? ZeroActivityStreak(start: start, weeks: weeks) : nil
    }

    static func monday(of day: LocalDate, calendar: BusinessCalendar) -> LocalDate {
        let weekday = calendar.isoWeekday(of: calendar.instant(day, hour: 12))
        return calendar.adding(days: 1 - weekday, to: day)
    }

    static func daysBetween(_ from: LocalDate, _ to: LocalDate, calendar: BusinessCalendar) -> Int {
        Int((calendar.instant(to, hour: 12).timeIntervalSince(calendar.instant(from, hour: 12)) / 86_400).rounded())
    }
}
