import FieldworkDomain
import Foundation
import Testing

@Suite struct CalendarTests {
    let shanghai = BusinessCalendar(timeZoneIdentifier: "Asia/Shanghai")!

    @Test func todayIsTheBusinessTimeZonesDay() {
        // 2026-03-04 17:30 UTC is already 2026-03-05 01:30 in Shanghai.
        let instant = ISO8601DateFormatter().date(from: "2026-03-04T17:30:00Z")!
        #expect(shanghai.day(of: instant) == LocalDate(year: 2026, month: 3, day: 5))
    }

    @Test func nextOccurrenceIsLocalTime() {
        let instant = ISO8601DateFormatter().date(from: "2026-03-05T10:00:00Z")!  // 18:00 Shanghai
        let next = shanghai.nextOccurrence(hour: 18, minute: 0, after: instant)
        #expect(ISO8601DateFormatter().string(from: next) == "2026-03-06T10:00:00Z")
        let morning = ISO8601DateFormatter().date(from: "2026-03-05T00:00:00Z")!  // 08:00 Shanghai
        #expect(ISO8601DateFormatter().string(from: shanghai.nextOccurrence(hour: 18, minute: 0, after: morning)) == "2026-03-05T10:00:00Z")
    }

    @Test func isoWeekdayStartsOnMonday() {
        let monday = ISO8601DateFormatter().date(from: "2026-03-02T01:00:00Z")!  // Monday 09:00 Shanghai
        #expect(shanghai.isoWeekday(of: monday) == 1)
        #expect(shanghai.isoWeekday(of: monday.addingTimeInterval(6 * 86400)) == 7)
    }

    @Test func datesParseAndValidate() {
        #expect(LocalDate(iso: "2026-02-28") == LocalDate(year: 2026, month: 2, day: 28))
        #expect(LocalDate(iso: "2026-02-29") == nil)
        #expect(LocalDate(iso: "2028-02-29") != nil)
        #expect(LocalDate(iso: "2026-3-5") == nil)
        #expect(LocalDate(year: 2026, month: 13, day: 1).isValid == false)
        #expect(LocalDate(year: 2026, month: 3, day: 5).compact == "20260305")
    }
}

@Suite struct LocalDateArithmeticTests {
    @Test func dayNumbersRoundTripAndCountFromTheEpoch() {
        #expect(LocalDate(year: 1970, month: 1, day: 1).dayNumber == 0)
        #expect(LocalDate(year: 2000, month: 3, day: 1).dayNumber == 11_017)
        #expect(LocalDate(year: 1969, month: 12, day: 31).dayNumber == -1)
        var day = LocalDate(year: 1999, month: 12, day: 25)
        for _ in 0..<800 {   // across 2000-02-29 and a year end
            let next = day.adding(days: 1)
            #expect(next.dayNumber == day.dayNumber + 1 && next.isValid && LocalDate(dayNumber: next.dayNumber) == next)
            day = next
        }
        #expect(LocalDate(year: 2024, month: 2, day: 28).adding(days: 1) == LocalDate(year: 2024, month: 2, day: 29))
        #expect(LocalDate(year: 2100, month: 2, day: 28).adding(days: 1) == LocalDate(year: 2100, month: 3, day: 1))
    }

    @Test func weekdaysAndValidityNeedNoFoundationCalendar() {
        #expect(LocalDate(year: 2026, month: 11, day: 23).isoWeekday == 1)   // a Monday
        #expect(LocalDate(year: 2026, month: 11, day: 29).isoWeekday == 7)
        #expect(LocalDate(year: 1969, month: 12, day: 29).isoWeekday == 1)
        #expect(!LocalDate(year: 2026, month: 2, day: 29).isValid && LocalDate(year: 2028, month: 2, day: 29).isValid)
        #expect(!LocalDate(year: 2026, month: 4, day: 31).isValid && !LocalDate(year: 2026, month: 13, day: 1).isValid)
    }
}
