import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// Facts by CSV bulk import (SPEC §4.1): old Excel exports as UTF-8 CSV with a
/// header. A file is all or nothing: every bad row is reported by line and
/// column and nothing is applied. Rows are keyed by their source row id (a
/// contract by its number), so importing a file again changes nothing; a known
/// id with other values is an error on that line.
extension ScoringService {
    func importCsv(_ request: Fieldwork_V1_ImportCsvRequest) async throws -> Fieldwork_V1_ImportCsvResponse {
        let kind: FactRecord.Kind
        switch request.kind {
        case .purchases: kind = .purchases
        case .trials: kind = .trials
        case .academicParticipations: kind = .academic
        case .contracts: kind = .contracts
        case .payments: kind = .payments
        default:
            throw DomainError.invalidArgument(
                field: "kind", message: "the scoring service imports PURCHASES, TRIALS, ACADEMIC_PARTICIPATIONS, CONTRACTS or PAYMENTS")
        }
        let today = environment.calendar.day(of: environment.clock.now())
        let rows = try CsvFile.read([UInt8](request.content), columns: kind.columns, required: kind.required)
        let parsed = try CsvFile.records(rows, key: \.key, keyColumn: kind.columns[0]) { try FactRecord(kind, row: $0, today: today) }
        return try await environment.command("ImportCsv", requestID: request.requestID) { connection, principal, now in
            var records = parsed
            try await checkReferences(kind, &records, on: connection)
            let created = try await insert(kind, records.map(\.record), at: now, on: connection)
            let stored = try await storedFacts(kind, keys: records.map(\.record.key), on: connection)
            var errors: [CsvRowError] = []
            for (line, record) in records where stored[record.key] != record {
                errors.append(CsvRowError(line: line, column: kind.columns[0], message: "'\(record.key)' is already recorded with other values"))
            }
            guard errors.isEmpty else { throw CsvImportRefused(errors: errors) }
            try await environment.audit(
                AuditRecord(entityType: "import", entityID: kind.rawValue, action: "import_csv", changes: [
                    .init("rows_read", "", String(records.count)), .init("rows_created", "", String(created)),
                ]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            return .with {
                $0.rowsRead = Int32(records.count)
                $0.rowsCreated = Int32(created)
                $0.rowsUnchanged = Int32(records.count - created)
            }
        }
    }

    /// Every customer (or, for payments, contract) a row names must exist; a
    /// contract without a region takes its customer's.
    private func checkReferences(_ kind: FactRecord.Kind, _ records: inout [(line: Int, record: FactRecord)], on connection: PostgresConnection) async throws {
        let column = kind == .payments ? "contract_id" : "customer_id"
        let referenced = Set(records.map { _, record in
            switch record {
            case .purchase(let fact): fact.customerID
            case .trial(let fact): fact.customerID
            case .academic(let fact): fact.customerID
            case .contract(let fact): fact.customerID
            case .payment(let fact): fact.contractID
            }
        })
        var known: [String: String] = [:]   // id → region (customers)
        let query: PostgresQuery = kind == .payments
            ? "SELECT id, '' FROM contracts WHERE id = ANY (\(Array(referenced)))"
            : "SELECT id, region FROM directory_customers WHERE id = ANY (\(Array(referenced)))"
        for try await (id, region) in try await connection.query(query, logger: environment.logger).decode((String, String).self) {
            known[id] = region
        }
        var errors: [CsvRowError] = []
        for index in records.indices {
            let (line, record) = records[index]
            let reference: String
            switch record {
            case .purchase(let fact): reference = fact.customerID
            case .trial(let fact): reference = fact.customerID
            case .academic(let fact): reference = fact.customerID
            case .payment(let fact): reference = fact.contractID
            case .contract(var fact):
                reference = fact.customerID
                if fact.region.isEmpty, let region = known[fact.customerID] {
                    fact.region = region
                    records[index].record = .contract(fact)
                }
            }
            if known[reference] == nil {
                let what = kind == .payments ? "a recorded contract (import contracts first)" : "a customer in the directory"
                errors.append(CsvRowError(line: line, column: column, message: "'\(reference)' is not \(what)"))
            }
        }
        guard errors.isEmpty else { throw CsvImportRefused(errors: errors) }
    }

    /// Inserts the rows not recorded before; returns how many were new.
    private func insert(_ kind: FactRecord.Kind, _ records: [FactRecord], at now: Date, on connection: PostgresConnection) async throws -> Int {
        var keys: [String] = [], customers: [String] = [], texts: [String] = [], fens: [Int64] = [], days: [String] = []
        var regions: [String] = [], terms: [Int] = [], paidDays: [String] = []
        for record in records {
            keys.append(record.key)
            switch record {
            case .purchase(let fact):
                customers.append(fact.customerID); texts.append(fact.productLine); fens.append(fact.amountFen); days.append(fact.day.description)
            case .trial(let fact):
                customers.append(fact.customerID); texts.append(fact.productID); days.append(fact.day.description)
            case .academic(let fact):
                customers.append(fact.customerID); texts.append(fact.eventName); days.append(fact.day.description)
            case .contract(let fact):
                customers.append(fact.customerID); regions.append(fact.region); fens.append(fact.amountFen)
                terms.append(fact.paymentTermsDays); days.append(fact.signed.description)
            case .payment(let fact):
                customers.append(fact.contractID); fens.append(fact.amountFen); days.append(fact.invoiceDate.description)
                paidDays.append(fact.paidDate.description)
            }
        }
        let query: PostgresQuery
        switch kind {
        case .purchases:
            query = """
                INSERT INTO purchases (source_row_id, customer_id, product_line, amount_fen, day, recorded_at)
                SELECT k, c, t, f, d::date, \(now) FROM unnest(\(keys)::text[], \(customers)::text[], \(texts)::text[], \(fens)::int8[], \(days)::text[]) AS x (k, c, t, f, d)
                ON CONFLICT (source_row_id) DO NOTHING RETURNING 1
                """
        case .trials:
            query = """
                INSERT INTO trials (source_row_id, customer_id, product_id, day, recorded_at)
                SELECT k, c, t, d::date, \(now) FROM unnest(\(keys)::text[], \(customers)::text[], \(texts)::text[], \(days)::text[]) AS x (k, c, t, d)
                ON CONFLICT (source_row_id) DO NOTHING RETURNING 1
                """
        case .academic:
            query = """
                INSERT INTO academic_participations (source_row_id, customer_id, event_name, day, recorded_at)
                SELECT k, c, t, d::date, \(now) FROM unnest(\(keys)::text[], \(customers)::text[], \(texts)::text[], \(days)::text[]) AS x (k, c, t, d)
                ON CONFLICT (source_row_id) DO NOTHING RETURNING 1
                """
        case .contracts:
            query = """
                INSERT INTO contracts (id, customer_id, region, amount_fen, payment_terms_days, signed, recorded_at)
                SELECT k, c, r, f, t, d::date, \(now)
                FROM unnest(\(keys)::text[], \(customers)::text[], \(regions)::text[], \(fens)::int8[], \(terms)::int4[], \(days)::text[]) AS x (k, c, r, f, t, d)
                ON CONFLICT (id) DO NOTHING RETURNING 1
                """
        case .payments:
            query = """
                INSERT INTO payments (source_row_id, contract_id, invoice_date, paid_date, amount_fen, recorded_at)
                SELECT k, c, i::date, p::date, f, \(now)
                FROM unnest(\(keys)::text[], \(customers)::text[], \(days)::text[], \(paidDays)::text[], \(fens)::int8[]) AS x (k, c, i, p, f)
                ON CONFLICT (source_row_id) DO NOTHING RETURNING 1
                """
        }
        var created = 0
        for try await _ in try await connection.query(query, logger: environment.logger) { created += 1 }
        return created
    }

    /// The stored facts with these keys, as records (a contract with its original terms).
    private func storedFacts(_ kind: FactRecord.Kind, keys: [String], on connection: PostgresConnection) async throws -> [String: FactRecord] {
        let query: PostgresQuery
        switch kind {
        case .purchases:
            query = "SELECT source_row_id, customer_id, product_line, '', amount_fen, 0, day::text, '' FROM purchases WHERE source_row_id = ANY (\(keys))"
        case .trials:
            query = "SELECT source_row_id, customer_id, product_id, '', 0::int8, 0, day::text, '' FROM trials WHERE source_row_id = ANY (\(keys))"
        case .academic:
            query = "SELECT source_row_id, customer_id, event_name, '', 0::int8, 0, day::text, '' FROM academic_participations WHERE source_row_id = ANY (\(keys))"
        case .contracts:
            query = """
                SELECT c.id, c.customer_id, '', c.region, c.amount_fen,
                       coalesce((SELECT from_days FROM contract_term_revisions r WHERE r.contract_id = c.id ORDER BY seq LIMIT 1), c.payment_terms_days),
                       c.signed::text, ''
                FROM contracts c WHERE c.id = ANY (\(keys))
                """
        case .payments:
            query = "SELECT source_row_id, contract_id, '', '', amount_fen, 0, invoice_date::text, paid_date::text FROM payments WHERE source_row_id = ANY (\(keys))"
        }
        var stored: [String: FactRecord] = [:]
        for try await (key, reference, text, region, fen, terms, dayText, secondDay) in try await connection.query(query, logger: environment.logger)
            .decode((String, String, String, String, Int64, Int32, String, String).self)
        {
            guard let day = LocalDate(iso: dayText) else { continue }
            switch kind {
            case .purchases: stored[key] = .purchase(.init(sourceRowID: key, customerID: reference, productLine: text, amountFen: fen, day: day))
            case .trials: stored[key] = .trial(.init(sourceRowID: key, customerID: reference, productID: text, day: day))
            case .academic: stored[key] = .academic(.init(sourceRowID: key, customerID: reference, eventName: text, day: day))
            case .contracts:
                stored[key] = .contract(.init(id: key, customerID: reference, region: region, amountFen: fen, paymentTermsDays: Int(terms), signed: day))
            case .payments:
                guard let paid = LocalDate(iso: secondDay) else { continue }
                stored[key] = .payment(.init(sourceRowID: key, contractID: reference, invoiceDate: day, paidDate: paid, amountFen: fen))
            }
        }
        return stored
    }
}
