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
        // Digits only: Int("+026") is 26, and "+026-03-05" is not a day.
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }),
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        self.init(year: y, month: m, day: d)
        guard isValid else { return nil }
    }

    /// True when the fields name a day that exists in the Gregorian calendar.
    public var isValid: Bool {
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1 else { return false }
        return day <= Self.days(inMonth: month, of: year)
    }

    public static func days(inMonth month: Int, of year: Int) -> Int {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    }

    /// Days since 1970-01-01 (negative before): date arithmetic without a
    /// Foundation calendar, which a run over 100 000 customers cannot afford per
    /// date. H. Hinnant's days_from_civil.
    public var dayNumber: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The day `dayNumber` days after 1970-01-01 (civil_from_days).
    public init(dayNumber: Int) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let month = mp + (mp < 10 ? 3 : -9)
        self.init(year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month: month, day: dayOfYear - (153 * mp + 2) / 5 + 1)
    }

    public func adding(days: Int) -> LocalDate { LocalDate(dayNumber: dayNumber + days) }

    /// 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
    public var isoWeekday: Int { ((dayNumber + 3) % 7 + 7) % 7 + 1 }

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

    /// The same local time `months` calendar months later (clamped to the month's end).
    public func adding(months: Int, to instant: Date) -> Date {
        calendar.date(byAdding: .month, value: months, to: instant) ?? instant
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

extension Character {
    /// 0–9 only (`isNumber` also admits "½" and "٣").
    @inlinable public var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
