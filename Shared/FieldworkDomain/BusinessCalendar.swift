import Foundation

/// A calendar day, independent of time zone.
public struct LocalDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses "YYYY-MM-DD"; nil when malformed or not a real day.
    public init?(iso string: String) {
        let parts = string.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        self.init(year: y, month: m, day: d)
        guard isValid else { return nil }
    }

    /// True when the fields name a day that exists in the Gregorian calendar.
    public var isValid: Bool {
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1 else { return false }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let first = calendar.date(from: DateComponents(year: year, month: month, day: 1)),
              let range = calendar.range(of: .day, in: .month, for: first) else { return false }
        return range.contains(day)
    }

    public var description: String { String(format: "%04d-%02d-%02d", year, month, day) }
    /// "yyyyMMdd", as used in card numbers.
    public var compact: String { String(format: "%04d%02d%02d", year, month, day) }

    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }
}

/// "Today", days and business hours in the business time zone (SPEC §0).
public struct BusinessCalendar: Sendable {
    public static let defaultTimeZoneIdentifier = "Asia/Shanghai"

    public let timeZone: TimeZone
    private let calendar: Calendar

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    public init?(timeZoneIdentifier: String) {
        guard let zone = TimeZone(identifier: timeZoneIdentifier) else { return nil }
        self.init(timeZone: zone)
    }

    public func day(of instant: Date) -> LocalDate {
        let c = calendar.dateComponents([.year, .month, .day], from: instant)
        return LocalDate(year: c.year!, month: c.month!, day: c.day!)
    }

    /// The instant `hour:minute` on `day` in the business time zone.
    public func instant(_ day: LocalDate, hour: Int = 0, minute: Int = 0) -> Date {
        calendar.date(from: DateComponents(year: day.year, month: day.month, day: day.day, hour: hour, minute: minute))!
    }

    public func adding(days: Int, to day: LocalDate) -> LocalDate {
        self.day(of: calendar.date(byAdding: .day, value: days, to: instant(day, hour: 12))!)
    }

    /// The next instant at or after `instant` whose local time is `hour:minute`.
    public func nextOccurrence(hour: Int, minute: Int, after instant: Date) -> Date {
        let today = day(of: instant)
        let candidate = self.instant(today, hour: hour, minute: minute)
        return candidate > instant ? candidate : self.instant(adding(days: 1, to: today), hour: hour, minute: minute)
    }
}

extension BusinessCalendar {
    /// ISO weekday of the instant in the business time zone: 1 = Monday … 7 = Sunday.
    public func isoWeekday(of instant: Date) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let weekday = calendar.component(.weekday, from: instant)  // 1 = Sunday
        return weekday == 1 ? 7 : weekday - 1
    }
}
