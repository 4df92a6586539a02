import Foundation

/// Commercial facts as CSV rows (SPEC §4.1): what old Excel exports contain,
/// parsed and checked without a database. Amounts are in CNY ("68000",
/// "68,000.50", "¥68000"); dates are "2026-03-05" or "2026/3/5".
public enum FactRecord: Sendable, Equatable {
    case purchase(Purchase)
    case trial(Trial)
    case academic(Academic)
    case contract(Contract)
    case payment(Payment)

    public struct Purchase: Sendable, Equatable {
        public var sourceRowID, customerID, productLine: String
        public var amountFen: Int64
        public var day: LocalDate

        public init(sourceRowID: String, customerID: String, productLine: String, amountFen: Int64, day: LocalDate) {
            (self.sourceRowID, self.customerID, self.productLine, self.amountFen, self.day) = (sourceRowID, customerID, productLine, amountFen, day)
        }
    }

    public struct Trial: Sendable, Equatable {
        public var sourceRowID, customerID, productID: String
        public var day: LocalDate

        public init(sourceRowID: String, customerID: String, productID: String, day: LocalDate) {
            (self.sourceRowID, self.customerID, self.productID, self.day) = (sourceRowID, customerID, productID, day)
        }
    }

    public struct Academic: Sendable, Equatable {
        public var sourceRowID, customerID, eventName: String
        public var day: LocalDate

        public init(sourceRowID: String, customerID: String, eventName: String, day: LocalDate) {
            (self.sourceRowID, self.customerID, self.eventName, self.day) = (sourceRowID, customerID, eventName, day)
        }
    }

    public struct Contract: Sendable, Equatable {
        public var id, customerID, region: String
        public var amountFen: Int64
        public var paymentTermsDays: Int
        public var signed: LocalDate

        public init(id: String, customerID: String, region: String, amountFen: Int64, paymentTermsDays: Int, signed: LocalDate) {
            (self.id, self.customerID, self.region, self.amountFen, self.paymentTermsDays, self.signed) =
                (id, customerID, region, amountFen, paymentTermsDays, signed)
        }
    }

    public struct Payment: Sendable, Equatable {
        public var sourceRowID, contractID: String
        public var invoiceDate, paidDate: LocalDate
        public var amountFen: Int64

        public init(sourceRowID: String, contractID: String, invoiceDate: LocalDate, paidDate: LocalDate, amountFen: Int64) {
            (self.sourceRowID, self.contractID, self.invoiceDate, self.paidDate, self.amountFen) = (sourceRowID, contractID, invoiceDate, paidDate, amountFen)
        }
    }

    public enum Kind: String, Sendable, CaseIterable {
        case purchases, trials, academic, contracts, payments

        /// The file's columns; the first is the row's key.
        public var columns: [String] {
            switch self {
            case .purchases: ["source_row_id", "customer_id", "product_line", "amount", "date"]
            case .trials: ["source_row_id", "customer_id", "product_id", "date"]
            case .academic: ["source_row_id", "customer_id", "event_name", "date"]
            case .contracts: ["contract_id", "customer_id", "region", "amount", "payment_terms_days", "signed"]
            case .payments: ["source_row_id", "contract_id", "invoice_date", "paid_date", "amount"]
            }
        }

        /// Every column but an optional region.
        public var required: [String] { columns.filter { $0 != "region" } }
    }

    /// The row's key: its source row id (a contract's number).
    public var key: String {
        switch self {
        case .purchase(let fact): fact.sourceRowID
        case .trial(let fact): fact.sourceRowID
        case .academic(let fact): fact.sourceRowID
        case .contract(let fact): fact.id
        case .payment(let fact): fact.sourceRowID
        }
    }

    /// Parses one row of a file of `kind`; dates after `today` are refused.
    public init(_ kind: Kind, row: CsvRow, today: LocalDate) throws {
        func text(_ column: String, max: Int = 128) throws -> String {
            let value = try row.required(column)
            guard value.count <= max else { throw CsvRowError(line: row.line, column: column, message: "longer than \(max) characters") }
            return value
        }
        func day(_ column: String) throws -> LocalDate {
            let value = try row.required(column)
            guard let parsed = Self.date(value) else {
                throw CsvRowError(line: row.line, column: column, message: "'\(value)' is not a date (YYYY-MM-DD)")
            }
            guard parsed <= today else { throw CsvRowError(line: row.line, column: column, message: "\(parsed) is in the future") }
            return parsed
        }
        func amount(_ column: String) throws -> Int64 {
            let value = try row.required(column)
            guard let fen = Self.fen(value), fen > 0 else {
                throw CsvRowError(line: row.line, column: column, message: "'\(value)' is not a positive amount in CNY")
            }
            return fen
        }
        switch kind {
        case .purchases:
            self = .purchase(Purchase(
                sourceRowID: try text("source_row_id"), customerID: try text("customer_id", max: 64),
                productLine: try text("product_line", max: 64), amountFen: try amount("amount"), day: try day("date")))
        case .trials:
            self = .trial(Trial(
                sourceRowID: try text("source_row_id"), customerID: try text("customer_id", max: 64),
                productID: try text("product_id", max: 64), day: try day("date")))
        case .academic:
            self = .academic(Academic(
                sourceRowID: try text("source_row_id"), customerID: try text("customer_id", max: 64),
                eventName: try text("event_name", max: 200), day: try day("date")))
        case .contracts:
            let terms = try row.required("payment_terms_days")
            guard let days = Int(terms), (0...3650).contains(days) else {
                throw CsvRowError(line: row.line, column: "payment_terms_days", message: "'\(terms)' is not a number of days (0–3650)")
            }
            let region = row.optional("region")
            guard region.count <= 32 else { throw CsvRowError(line: row.line, column: "region", message: "longer than 32 characters") }
            self = .contract(Contract(
                id: try text("contract_id"), customerID: try text("customer_id", max: 64), region: region,
                amountFen: try amount("amount"), paymentTermsDays: days, signed: try day("signed")))
        case .payments:
            let invoiced = try day("invoice_date"), paid = try day("paid_date")
            guard paid >= invoiced else {
                throw CsvRowError(line: row.line, column: "paid_date", message: "\(paid) is before the invoice date \(invoiced)")
            }
            self = .payment(Payment(
                sourceRowID: try text("source_row_id"), contractID: try text("contract_id"), invoiceDate: invoiced, paidDate: paid,
                amountFen: try amount("amount")))
        }
    }

    /// "2026-03-05", "2026/3/5" or "2026.03.05".
    public static func date(_ text: String) -> LocalDate? {
        let parts = text.split(whereSeparator: { $0 == "-" || $0 == "/" || $0 == "." })
        guard parts.count == 3, parts[0].count == 4, parts[1].count <= 2, parts[2].count <= 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]) else { return nil }
        let date = LocalDate(year: year, month: month, day: day)
        return date.isValid ? date : nil
    }

    /// CNY with at most two decimals, thousands separators and a currency sign allowed, as fen.
    public static func fen(_ text: String) -> Int64? {
        var digits = text.trimmingCharacters(in: .whitespaces)
        for sign in ["¥", "￥", "CNY", "RMB"] where digits.hasPrefix(sign) {
            digits = String(digits.dropFirst(sign.count)).trimmingCharacters(in: .whitespaces)
        }
        var halves = digits.split(separator: ".", omittingEmptySubsequences: false)
        if halves.count >= 1, halves[0].contains(",") {
            // Thousands separators only: "68,000", never "1,5".
            let groups = halves[0].split(separator: ",", omittingEmptySubsequences: false)
            guard (1...3).contains(groups[0].count), groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
            halves[0] = Substring(groups.joined())
        }
        guard (1...2).contains(halves.count), !halves[0].isEmpty, halves[0].count <= 13, halves[0].allSatisfy(\.isASCIIDigit),
              let yuan = Int64(halves[0]), yuan >= 0 else { return nil }
        var cents: Int64 = 0
        if halves.count == 2 {
            let fraction = halves[1]
            guard (1...2).contains(fraction.count), fraction.allSatisfy(\.isASCIIDigit), let value = Int64(fraction) else { return nil }
            cents = fraction.count == 1 ? value * 10 : value
        }
        return yuan * 100 + cents
    }
}
