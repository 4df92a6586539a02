import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// Contracts with their payment terms, the history of term revisions, and
/// payments (SPEC §4.1): what *payment-cycle drift* reads. A contract and a
/// payment are keyed by their source ids like every fact: recording one again
/// returns it unchanged; the same id with other values is refused.
extension ScoringService {
    func recordContract(_ request: Fieldwork_V1_RecordContractRequest) async throws -> Fieldwork_V1_Contract {
        var contract = request.contract
        contract.id = try Input.text(contract.id, field: "contract.id", max: 128, required: true)
        contract.customerID = try Input.text(contract.customerID, field: "contract.customer_id", max: 64, required: true)
        contract.region = try Input.text(contract.region, field: "contract.region", max: 32)
        guard contract.amount.fen > 0 else { throw DomainError.invalidArgument(field: "contract.amount.fen", message: "must be positive") }
        guard (0...3650).contains(contract.paymentTermsDays) else {
            throw DomainError.invalidArgument(field: "contract.payment_terms_days", message: "must be 0–3650 days")
        }
        guard contract.revisions.isEmpty else {
            throw DomainError.invalidArgument(field: "contract.revisions", message: "are made one at a time with ReviseContractTerms")
        }
        let signed = try pastDay(contract.signed, field: "contract.signed")
        return try await environment.command("RecordContract", requestID: request.requestID) { connection, principal, now in
            guard let customerRegion = try await customerRegion(contract.customerID, on: connection) else {
                throw DomainError.invalidArgument(field: "contract.customer_id", message: "'\(contract.customerID)' is not a customer in the directory")
            }
            if contract.region.isEmpty { contract.region = customerRegion }
            var inserted = false
            for try await _ in try await connection.query(
                """
                INSERT INTO contracts (id, customer_id, region, amount_fen, payment_terms_days, signed, recorded_at)
                VALUES (\(contract.id), \(contract.customerID), \(contract.region), \(contract.amount.fen), \(Int(contract.paymentTermsDays)),
                        \(signed.description)::date, \(now))
                ON CONFLICT (id) DO NOTHING RETURNING 1
                """, logger: environment.logger) { inserted = true }
            if !inserted, let existing = try await self.contract(contract.id, on: connection) {
                // Recorded before (or by a concurrent call): a replay if the original terms match.
                var asRecorded = existing
                asRecorded.revisions = []
                asRecorded.paymentTermsDays = existing.revisions.first.map { $0.fromDays } ?? existing.paymentTermsDays
                guard asRecorded == contract else { throw DomainError.alreadyExists(entity: "contract with other values", id: contract.id) }
                return existing
            }
            try await environment.audit(
                AuditRecord(entityType: "contract", entityID: contract.id, action: "record", changes: [
                    .init("customer_id", "", contract.customerID), .init("region", "", contract.region),
                    .init("payment_terms_days", "", String(contract.paymentTermsDays)),
                ]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            return contract
        }
    }

    func reviseContractTerms(_ request: Fieldwork_V1_ReviseContractTermsRequest) async throws -> Fieldwork_V1_Contract {
        let id = try Input.text(request.contractID, field: "contract_id", max: 128, required: true)
        let reason = try Input.text(request.reason, field: "reason", max: 1000, required: true)
        guard (0...3650).contains(request.paymentTermsDays) else {
            throw DomainError.invalidArgument(field: "payment_terms_days", message: "must be 0–3650 days")
        }
        let effective = try request.effective.localDate(field: "effective")
        return try await environment.command("ReviseContractTerms", requestID: request.requestID) { connection, principal, now in
            var current: Int32?
            for try await days in try await connection.query(
                "SELECT payment_terms_days FROM contracts WHERE id = \(id) FOR UPDATE", logger: environment.logger
            ).decode(Int32.self) { current = days }
            guard let current else { throw DomainError.notFound(entity: "contract", id: id) }
            guard current != request.paymentTermsDays else {
                throw DomainError.failedPrecondition("contract \(id) already has payment terms of \(current) days")
            }
            try await connection.query(
                """
                INSERT INTO contract_term_revisions (contract_id, seq, from_days, to_days, effective, reason, revised_by, revised_at)
                SELECT \(id), coalesce(max(seq), 0) + 1, \(Int(current)), \(Int(request.paymentTermsDays)), \(effective.description)::date,
                       \(reason), \(principal.personID), \(now)
                FROM contract_term_revisions WHERE contract_id = \(id)
                """, logger: environment.logger)
            try await connection.query(
                "UPDATE contracts SET payment_terms_days = \(Int(request.paymentTermsDays)) WHERE id = \(id)", logger: environment.logger)
            try await environment.audit(
                AuditRecord(entityType: "contract", entityID: id, action: "revise_terms",
                            changes: [.init("payment_terms_days", String(current), String(request.paymentTermsDays))], reason: reason),
                by: principal, at: now, requestID: request.requestID, on: connection)
            guard let revised = try await contract(id, on: connection) else { throw DomainError.notFound(entity: "contract", id: id) }
            return revised
        }
    }

    func recordPayment(_ request: Fieldwork_V1_RecordPaymentRequest) async throws -> Fieldwork_V1_Payment {
        var payment = request.payment
        payment.sourceRowID = try Input.text(payment.sourceRowID, field: "payment.source_row_id", max: 128, required: true)
        payment.contractID = try Input.text(payment.contractID, field: "payment.contract_id", max: 128, required: true)
        guard payment.amount.fen > 0 else { throw DomainError.invalidArgument(field: "payment.amount.fen", message: "must be positive") }
        let invoiced = try pastDay(payment.invoiceDate, field: "payment.invoice_date")
        let paid = try pastDay(payment.paidDate, field: "payment.paid_date")
        guard paid >= invoiced else { throw DomainError.invalidArgument(field: "payment.paid_date", message: "is before the invoice date \(invoiced)") }
        let final = payment
        return try await environment.command("RecordPayment", requestID: request.requestID) { connection, principal, now in
            var known = false
            for try await _ in try await connection.query("SELECT 1 FROM contracts WHERE id = \(final.contractID)", logger: environment.logger) {
                known = true
            }
            guard known else { throw DomainError.invalidArgument(field: "payment.contract_id", message: "'\(final.contractID)' is not a recorded contract") }
            var inserted = false
            for try await _ in try await connection.query(
                """
                INSERT INTO payments (source_row_id, contract_id, invoice_date, paid_date, amount_fen, recorded_at)
                VALUES (\(final.sourceRowID), \(final.contractID), \(invoiced.description)::date, \(paid.description)::date, \(final.amount.fen), \(now))
                ON CONFLICT (source_row_id) DO NOTHING RETURNING 1
                """, logger: environment.logger) { inserted = true }
            for try await (contract, invoice, paidOn, fen) in try await connection.query(
                "SELECT contract_id, invoice_date::text, paid_date::text, amount_fen FROM payments WHERE source_row_id = \(final.sourceRowID)",
                logger: environment.logger
            ).decode((String, String, String, Int64).self) {
                guard contract == final.contractID, invoice == invoiced.description, paidOn == paid.description, fen == final.amount.fen else {
                    throw DomainError.alreadyExists(entity: "payments row with other values", id: final.sourceRowID)
                }
            }
            if inserted {
                try await environment.audit(
                    AuditRecord(entityType: "payments", entityID: final.sourceRowID, action: "record", changes: [
                        .init("contract_id", "", final.contractID), .init("paid_date", "", paid.description),
                    ]),
                    by: principal, at: now, requestID: request.requestID, on: connection)
            }
            return final
        }
    }

    /// A contract as stored, with its term revisions in order.
    func contract(_ id: String, on connection: PostgresConnection) async throws -> Fieldwork_V1_Contract? {
        var found: Fieldwork_V1_Contract?
        for try await (customer, region, fen, days, signed) in try await connection.query(
            "SELECT customer_id, region, amount_fen, payment_terms_days, signed::text FROM contracts WHERE id = \(id)", logger: environment.logger
        ).decode((String, String, Int64, Int32, String).self) {
            found = .with {
                $0.id = id
                $0.customerID = customer
                $0.region = region
                $0.amount.fen = fen
                $0.paymentTermsDays = days
                if let day = LocalDate(iso: signed) { $0.signed = .init(day) }
            }
        }
        guard var contract = found else { return nil }
        for try await (from, to, effective, reason, by) in try await connection.query(
            """
            SELECT from_days, to_days, effective::text, reason, revised_by FROM contract_term_revisions
            WHERE contract_id = \(id) ORDER BY seq
            """, logger: environment.logger
        ).decode((Int32, Int32, String, String, String).self) {
            contract.revisions.append(.with {
                $0.fromDays = from
                $0.toDays = to
                if let day = LocalDate(iso: effective) { $0.effective = .init(day) }
                $0.reason = reason
                $0.revisedBy = by
            })
        }
        return contract
    }

    private func customerRegion(_ id: String, on connection: PostgresConnection) async throws -> String? {
        for try await region in try await connection.query(
            "SELECT region FROM directory_customers WHERE id = \(id)", logger: environment.logger
        ).decode(String.self) { return region }
        return nil
    }
}
