import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO
import SwiftProtobuf

/// Commercial facts by RPC (SPEC §4.1): purchases, trials and academic-event
/// participations. Each is keyed by its source row id: recording the same row
/// again returns it unchanged; the same id with other values is refused.
extension ScoringService {
    func recordPurchase(_ request: Fieldwork_V1_RecordPurchaseRequest) async throws -> Fieldwork_V1_Purchase {
        var fact = request.purchase
        fact.sourceRowID = try Input.text(fact.sourceRowID, field: "purchase.source_row_id", max: 128, required: true)
        fact.customerID = try Input.text(fact.customerID, field: "purchase.customer_id", max: 64, required: true)
        fact.productLine = try Input.text(fact.productLine, field: "purchase.product_line", max: 64, required: true)
        guard fact.amount.fen > 0 else { throw DomainError.invalidArgument(field: "purchase.amount.fen", message: "must be positive") }
        let day = try pastDay(fact.date, field: "purchase.date")
        let final = fact
        return try await record("RecordPurchase", requestID: request.requestID, table: "purchases", sourceRowID: fact.sourceRowID,
                                customerID: fact.customerID, customerField: "purchase.customer_id") { connection, now in
            var inserted = false
            for try await _ in try await connection.query(
                """
                INSERT INTO purchases (source_row_id, customer_id, product_line, amount_fen, day, recorded_at)
                VALUES (\(final.sourceRowID), \(final.customerID), \(final.productLine), \(final.amount.fen), \(day.description)::date, \(now))
                ON CONFLICT (source_row_id) DO NOTHING RETURNING 1
                """, logger: environment.logger) { inserted = true }
            for try await (customer, line, amount, stored) in try await connection.query(
                "SELECT customer_id, product_line, amount_fen, day::text FROM purchases WHERE source_row_id = \(final.sourceRowID)",
                logger: environment.logger
            ).decode((String, String, Int64, String).self) {
                return (inserted, customer == final.customerID && line == final.productLine && amount == final.amount.fen && stored == day.description, final)
            }
            throw DomainError.notFound(entity: "purchase", id: final.sourceRowID)
        }
    }

    func recordTrial(_ request: Fieldwork_V1_RecordTrialRequest) async throws -> Fieldwork_V1_Trial {
        var fact = request.trial
        fact.sourceRowID = try Input.text(fact.sourceRowID, field: "trial.source_row_id", max: 128, required: true)
        fact.customerID = try Input.text(fact.customerID, field: "trial.customer_id", max: 64, required: true)
        fact.productID = try Input.text(fact.productID, field: "trial.product_id", max: 64, required: true)
        let day = try pastDay(fact.date, field: "trial.date")
        let final = fact
        return try await record("RecordTrial", requestID: request.requestID, table: "trials", sourceRowID: fact.sourceRowID,
                                customerID: fact.customerID, customerField: "trial.customer_id") { connection, now in
            var inserted = false
            for try await _ in try await connection.query(
                """
                INSERT INTO trials (source_row_id, customer_id, product_id, day, recorded_at)
                VALUES (\(final.sourceRowID), \(final.customerID), \(final.productID), \(day.description)::date, \(now))
                ON CONFLICT (source_row_id) DO NOTHING RETURNING 1
                """, logger: environment.logger) { inserted = true }
            for try await (customer, product, stored) in try await connection.query(
                "SELECT customer_id, product_id, day::text FROM trials WHERE source_row_id = \(final.sourceRowID)", logger: environment.logger
            ).decode((String, String, String).self) {
                return (inserted, customer == final.customerID && product == final.productID && stored == day.description, final)
            }
            throw DomainError.notFound(entity: "trial", id: final.sourceRowID)
        }
    }

    func recordAcademicParticipation(_ request: Fieldwork_V1_RecordAcademicParticipationRequest) async throws -> Fieldwork_V1_AcademicParticipation {
        var fact = request.participation
        fact.sourceRowID = try Input.text(fact.sourceRowID, field: "participation.source_row_id", max: 128, required: true)
        fact.customerID = try Input.text(fact.customerID, field: "participation.customer_id", max: 64, required: true)
        fact.eventName = try Input.text(fact.eventName, field: "participation.event_name", max: 200, required: true)
        let day = try pastDay(fact.date, field: "participation.date")
        let final = fact
        return try await record("RecordAcademicParticipation", requestID: request.requestID, table: "academic_participations",
                                sourceRowID: fact.sourceRowID, customerID: fact.customerID, customerField: "participation.customer_id") { connection, now in
            var inserted = false
            for try await _ in try await connection.query(
                """
                INSERT INTO academic_participations (source_row_id, customer_id, event_name, day, recorded_at)
                VALUES (\(final.sourceRowID), \(final.customerID), \(final.eventName), \(day.description)::date, \(now))
                ON CONFLICT (source_row_id) DO NOTHING RETURNING 1
                """, logger: environment.logger) { inserted = true }
            for try await (customer, event, stored) in try await connection.query(
                "SELECT customer_id, event_name, day::text FROM academic_participations WHERE source_row_id = \(final.sourceRowID)",
                logger: environment.logger
            ).decode((String, String, String).self) {
                return (inserted, customer == final.customerID && event == final.eventName && stored == day.description, final)
            }
            throw DomainError.notFound(entity: "participation", id: final.sourceRowID)
        }
    }

    /// The frame the three share: the customer must be in the directory copy; the
    /// write reports whether the stored row equals the request (a replay) or not.
    private func record<Fact: SwiftProtobuf.Message & Sendable>(
        _ method: String, requestID: String, table: String, sourceRowID: String, customerID: String, customerField: String,
        _ write: (PostgresConnection, Date) async throws -> (inserted: Bool, matches: Bool, fact: Fact)
    ) async throws -> Fact {
        try await environment.command(method, requestID: requestID) { connection, principal, now in
            var known = false
            for try await _ in try await connection.query(
                "SELECT 1 FROM directory_customers WHERE id = \(customerID)", logger: environment.logger) { known = true }
            guard known else { throw DomainError.invalidArgument(field: customerField, message: "'\(customerID)' is not a customer in the directory") }
            let (inserted, matches, fact) = try await write(connection, now)
            guard matches else {
                throw DomainError.alreadyExists(entity: "\(table) row with other values", id: sourceRowID)
            }
            guard inserted else { return fact }   // a replay: nothing changes
            try await environment.audit(
                AuditRecord(entityType: table, entityID: sourceRowID, action: "record", changes: [.init("customer_id", "", customerID)]),
                by: principal, at: now, requestID: requestID, on: connection)
            return fact
        }
    }

    /// A fact's day: a real date, not in the future.
    func pastDay(_ date: Fieldwork_V1_Date, field: String) throws -> LocalDate {
        let day = try date.localDate(field: field)
        guard day <= environment.calendar.day(of: environment.clock.now()) else {
            throw DomainError.invalidArgument(field: field, message: "\(day) is in the future")
        }
        return day
    }
}
