import FieldworkDomain
import Testing

@Suite struct FactRecordTests {
    let today = LocalDate(year: 2026, month: 11, day: 27)

    func row(_ values: [String: String], line: Int = 2) -> CsvRow { CsvRow(line: line, values: values) }

    func refusal(_ kind: FactRecord.Kind, _ values: [String: String]) -> CsvRowError? {
        do {
            _ = try FactRecord(kind, row: row(values), today: today)
            return nil
        } catch {
            return error as? CsvRowError
        }
    }

    @Test func amountsReadLikeExcelWritesThem() {
        #expect(FactRecord.fen("68000") == 6_800_000)
        #expect(FactRecord.fen("68,000.5") == 6_800_050)
        #expect(FactRecord.fen("¥ 1,234.56") == 123_456)
        #expect(FactRecord.fen("￥12.05") == 1_205)
        #expect(FactRecord.fen("1,234,567") == 123_456_700)
        for bad in ["", "-5", "1.234", "12.", "abc", "1e5", "１２", "99999999999999", "1,5", "12,34,567", ",000"] { #expect(FactRecord.fen(bad) == nil, "\(bad)") }
    }

    @Test func datesAcceptDashesSlashesAndDots() {
        #expect(FactRecord.date("2026-03-05") == LocalDate(year: 2026, month: 3, day: 5))
        #expect(FactRecord.date("2026/3/5") == LocalDate(year: 2026, month: 3, day: 5))
        #expect(FactRecord.date("2026.03.05") == LocalDate(year: 2026, month: 3, day: 5))
        for bad in ["2026-02-30", "26-03-05", "2026-13-01", "March 5", "2026-03"] { #expect(FactRecord.date(bad) == nil, "\(bad)") }
    }

    @Test func rowsBecomeFacts() throws {
        let purchase = try FactRecord(.purchases, row: row([
            "source_row_id": "ERP-1", "customer_id": "H-1", "product_line": "spine", "amount": "1,250.00", "date": "2026/11/1",
        ]), today: today)
        #expect(purchase == .purchase(.init(sourceRowID: "ERP-1", customerID: "H-1", productLine: "spine", amountFen: 125_000,
                                            day: LocalDate(year: 2026, month: 11, day: 1))))
        let contract = try FactRecord(.contracts, row: row([
            "contract_id": "HT-1", "customer_id": "H-1", "region": "", "amount": "300000", "payment_terms_days": "45", "signed": "2026-05-10",
        ]), today: today)
        #expect(contract.key == "HT-1")
        #expect(FactRecord.Kind.contracts.required.contains("region") == false)
    }

    @Test func badRowsNameTheirColumn() {
        let purchase = ["source_row_id": "ERP-1", "customer_id": "H-1", "product_line": "spine", "amount": "100", "date": "2026-11-01"]
        #expect(refusal(.purchases, purchase.merging(["amount": "0"]) { $1 })?.column == "amount")
        #expect(refusal(.purchases, purchase.merging(["date": "2026-11-28"]) { $1 })?.column == "date")   // tomorrow
        #expect(refusal(.purchases, purchase.merging(["customer_id": ""]) { $1 })?.column == "customer_id")
        #expect(refusal(.purchases, purchase.merging(["product_line": String(repeating: "x", count: 65)]) { $1 })?.column == "product_line")
        let payment = ["source_row_id": "P-1", "contract_id": "HT-1", "invoice_date": "2026-10-01", "paid_date": "2026-09-30", "amount": "1"]
        #expect(refusal(.payments, payment)?.column == "paid_date")
        let contract = ["contract_id": "HT-1", "customer_id": "H-1", "amount": "1", "payment_terms_days": "-1", "signed": "2026-01-01"]
        #expect(refusal(.contracts, contract)?.column == "payment_terms_days")
        #expect(refusal(.contracts, contract.merging(["payment_terms_days": "30"]) { $1 }) == nil)
    }
}
