import FieldworkDomain
import Foundation
import PropertyBased
import Testing

/// Generated inputs for the parsers that read what people and files send.
/// Whatever the text, the answer is a value or a named error, never a trap:
/// in a service a trap is a dead process for every caller.
@Suite struct ParserPropertyTests {
    // MARK: Days

    @Test func anyTextIsARealDayOrNoDay() async {
        await propertyCheck(count: 2_000, input: HostileText.any) { text in
            if let day = LocalDate(iso: text) {
                #expect(day.isValid)
                #expect(day.description == text, "only the canonical form YYYY-MM-DD is a day")
            }
            if let day = FactRecord.date(text) { #expect(day.isValid) }
        }
    }

    @Test func everyDayOfTheCalendarReadsBack() async {
        await propertyCheck(count: 2_000, input: HostileText.day) { day in
            #expect(LocalDate(iso: day.description) == day)
            #expect(FactRecord.date(day.description) == day)
            #expect(FactRecord.date(String(format: "%04d/%d/%d", day.year, day.month, day.day)) == day)
            #expect(LocalDate(dayNumber: day.dayNumber) == day)
            #expect(day.adding(days: 1).dayNumber == day.dayNumber + 1)
            #expect((1...7).contains(day.isoWeekday))
        }
    }

    /// What the generated inputs found: `Int("+026")` is 26, so "+026-03-05"
    /// read as the year 26 and "¥+5" as five yuan.
    @Test func signsAreNotDigits() {
        #expect(LocalDate(iso: "+026-03-05") == nil)
        #expect(LocalDate(iso: "2026-+3-05") == nil)
        #expect(FactRecord.date("2026/+3/5") == nil)
        #expect(FactRecord.fen("¥+5") == nil)
        #expect(FactRecord.fen("5.+1") == nil)
        #expect(FactRecord.fen("٣") == nil)
    }

    // MARK: Amounts

    @Test func anyTextIsAnAmountOrNone() async {
        await propertyCheck(count: 2_000, input: HostileText.any) { text in
            if let fen = FactRecord.fen(text) { #expect(fen >= 0 && fen < 10_000_000_000_000 * 100) }
        }
    }

    @Test func everyAmountReadsBackInEachWrittenForm() async {
        await propertyCheck(count: 1_000, input: Gen.int64(in: 0...999_999_999_999_999)) { fen in
            let yuan = fen / 100, cents = fen % 100
            let grouped = HostileText.thousands(yuan)
            #expect(FactRecord.fen("\(yuan).\(cents < 10 ? "0" : "")\(cents)") == fen)
            #expect(FactRecord.fen("¥ \(grouped).\(cents < 10 ? "0" : "")\(cents)") == fen)
            if cents == 0 { #expect(FactRecord.fen("CNY\(yuan)") == fen) }
        }
    }

    // MARK: Rows of the import files

    @Test func anyFactRowIsAFactOrAnErrorNamingOneOfItsCells() async {
        await propertyCheck(count: 1_000, input: Gen<FactRecord.Kind>.case, HostileText.cells) { kind, cells in
            let row = CsvRow(line: 7, values: Dictionary(uniqueKeysWithValues: zip(kind.columns, cells)))
            do {
                let fact = try FactRecord(kind, row: row, today: LocalDate(year: 2026, month: 12, day: 6))
                #expect(!fact.key.isEmpty)
            } catch let error as CsvRowError {
                #expect(error.line == 7)
                #expect(kind.columns.contains(error.column))
            } catch {
                Issue.record("\(kind) row answered \(error), not a CsvRowError")
            }
        }
    }

    @Test func anyDirectoryRowIsARecordOrAnErrorNamingOneOfItsCells() async {
        await propertyCheck(count: 1_000, input: HostileText.cells) { cells in
            for columns in [PersonRecord.csvColumns, CustomerRecord.csvColumns, ["id", "name", "product_line"]] {
                let row = CsvRow(line: 3, values: Dictionary(uniqueKeysWithValues: zip(columns, cells + cells)))
                do {
                    switch columns {
                    case PersonRecord.csvColumns: _ = try PersonRecord(row: row)
                    case CustomerRecord.csvColumns: _ = try CustomerRecord(row: row)
                    default: _ = try ProductRecord(row: row)
                    }
                } catch let error as CsvRowError {
                    #expect(error.line == 3)
                    #expect(columns.contains(error.column), "\(error)")
                } catch {
                    Issue.record("a directory row answered \(error), not a CsvRowError")
                }
            }
        }
    }

    @Test func anyContactCellReadsBackFromItsOwnForm() async {
        await propertyCheck(count: 1_000, input: HostileText.any) { text in
            let contact = CustomerContact(csv: text)
            #expect(CustomerContact(csv: contact.csvValue) == contact)
        }
    }

    // MARK: Configuration

    @Test func anyRuleParametersAreValidOrRefusedByName() async {
        let names = Gen<String?>.element(of: ["visits", "stage", "increase_days", "contracts_shown", "min_payments",
                                               "threshold_percent", "components", "other"]).map { $0! }
        let parameters = zip(names, HostileText.any).array(of: 0...4)
            .map { pairs in Dictionary(pairs, uniquingKeysWith: { first, _ in first }) }
        await propertyCheck(count: 2_000, input: Gen<StrategyCondition>.case, parameters) { kind, parameters in
            do {
                try kind.validate(parameters)
            } catch let DomainError.invalidArgument(field, _) {
                #expect(field.hasPrefix("rule.parameters."))
                #expect(parameters.keys.contains(String(field.dropFirst("rule.parameters.".count))))
            } catch {
                Issue.record("\(kind) answered \(error)")
            }
        }
    }

    /// A model that passes `validate()` scores any activity 0–100 and grades it,
    /// however odd the numbers (negative counts from a bad fact, amounts near Int64.max).
    @Test func aValidModelScoresAnyActivityWithinZeroToHundred() async {
        let share = Gen.double(in: 0...1)
        let models = zip(share, share, Gen.int(in: 1...1000), Gen.int(in: 1...1000), Gen.double(in: 0.001...100))
            .map { first, second, trials, academic, percentile in
                let purchases = first, rest = 1 - first
                return HealthModel(
                    weightPurchases: purchases, weightTrials: rest * second, weightAcademic: 1 - purchases - rest * second,
                    purchasesFullPercentile: percentile, trialsFullMarks: trials, academicFullMarks: academic)
            }
        let amounts = Gen.int64(in: Int64.min...Int64.max).array(of: 0...20)
        let activity = zip(Gen.int64(in: Int64.min...Int64.max), Gen.int(in: -5...5_000), Gen.int(in: -5...5_000))
            .map { HealthModel.Activity(purchasesFen: $0, trials: $1, academic: $2) }
        await propertyCheck(count: 2_000, input: models, amounts, activity) { model, amounts, activity in
            guard (try? model.validate()) != nil else { return }
            let full = model.purchasesFullMark(activeAmounts: amounts)
            #expect(full.isFinite && full >= 0)
            let result = model.score(activity, purchasesFullMark: full)
            for value in [result.purchases, result.trials, result.academic, result.score] {
                #expect(value.isFinite && (0...100).contains(value), "\(result)")
            }
            #expect(["A", "B", "C"].contains(result.grade))
        }
    }

    @Test func anyTemplateRendersWithoutLosingText() async {
        await propertyCheck(count: 2_000, input: HostileText.any) { template in
            // With no variables the text comes back as it was.
            #expect(TemplateText.render(template, [:]) == template)
            let names = TemplateText.placeholders(in: template)
            let filled = TemplateText.render(template, Dictionary(names.map { ($0, "") }, uniquingKeysWith: { first, _ in first }))
            #expect(filled.count <= template.count)
        }
    }
}

/// Text a confused or malicious client sends: mostly the characters parsers
/// split on, plus anything from the whole of Unicode, NUL and controls included.
enum HostileText {
    static let character = Gen.frequency(
        (weight: 6, gen: Gen<Character?>.element(of: Array("0123456789-/.,:{}¥ eE+nai|") as [Character]).map { $0! }),
        (weight: 1, gen: Gen.ascii),
        (weight: 1, gen: Gen<UnicodeScalar>.unicodeScalar(in: "\u{0}"..."\u{D7FF}").map(Character.init)),
        (weight: 1, gen: Gen<UnicodeScalar>.unicodeScalar(in: "\u{E000}"..."\u{10FFFF}").map(Character.init)))

    static let any = Gen.frequency(
        (weight: 8, gen: character.string(of: 0...40).eraseToAnySequence()),
        (weight: 1, gen: Gen<String?>.element(of: [
            "nan", "inf", "-inf", "1e300", "-0", "9999-12-31", "0000-01-01", "2026-02-29", "2024-02-29", "+026-03-05",
            "2026-+3-05", "9223372036854775807", "-9223372036854775808", "99999999999999.99", "1,5", "68,000.00", "{", "}{",
            "{a{b}c}", "",
        ]).map { $0! }.eraseToAnySequence()))

    /// Enough cells for any import file's columns.
    static let cells = any.array(of: 8)

    /// "68,000": the grouping a spreadsheet writes.
    static func thousands(_ value: Int64) -> String {
        let digits = Array(String(value))
        return stride(from: digits.count, to: 0, by: -3).reversed()
            .map { String(digits[max(0, $0 - 3)..<$0]) }.joined(separator: ",")
    }

    static let day = zip(Gen.int(in: 1...9999), Gen.int(in: 1...12), Gen.int(in: 1...31)).map { year, month, day in
        LocalDate(year: year, month: month, day: min(day, LocalDate.days(inMonth: month, of: year)))
    }
}
