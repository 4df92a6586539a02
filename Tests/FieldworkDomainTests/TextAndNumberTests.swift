import FieldworkDomain
import Testing

@Suite struct TextAndNumberTests {
    @Test func cardNumbersArePaddedPerDay() {
        #expect(CardNumber(prefix: "GT", day: LocalDate(year: 2026, month: 3, day: 5), sequence: 7).description == "GT-20260305-0007")
        #expect(CardNumber(prefix: "GT", day: LocalDate(year: 2026, month: 3, day: 5), sequence: 12345).description == "GT-20260305-12345")
        #expect(CardNumber.isValidPrefix("GT"))
        #expect(!CardNumber.isValidPrefix("gt"))
        #expect(!CardNumber.isValidPrefix(""))
    }

    @Test func templatesFillKnownVariablesAndKeepUnknownOnes() {
        let text = TemplateText.render("{customer_name} {surgery_date} {unknown} {", ["customer_name": "浙一", "surgery_date": "2026-03-12"])
        #expect(text == "浙一 2026-03-12 {unknown} {")
    }

    @Test func backoffGrowsAndIsCapped() {
        let backoff = Backoff(baseSeconds: 0.2, capSeconds: 30)
        #expect(backoff.ceiling(attempt: 0) == 0.2)
        #expect(backoff.ceiling(attempt: 3) == 1.6)
        #expect(backoff.ceiling(attempt: 20) == 30)
        for attempt in 0..<40 {
            let delay = backoff.delay(attempt: attempt)
            #expect(delay >= backoff.ceiling(attempt: attempt) / 10 && delay <= backoff.ceiling(attempt: attempt))
        }
    }
}
