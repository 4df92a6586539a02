import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// The statements of a check-in and a submission, prepared once per connection
/// (`PreparedSQL`): they run for every visit, and parsing and planning them
/// took about as long as running them. `VisitStore` runs them.
enum VisitStatements {
    /// A customer's fence and whether the code's key is still active.
    struct CheckInSite: PreparedSQL {
        static let name = "visits.check-in-site"
        static let sql = Self(customer: "", keyID: "").query.sql
        var customer: String
        var keyID: String

        var query: PostgresQuery {
            """
            SELECT id, latitude, longitude, fence_radius_m,
                   EXISTS (SELECT FROM checkin_keys WHERE id = \(keyID) AND retired_at IS NULL)
            FROM customers WHERE id = \(customer)
            """
        }
    }

    /// Inserts a visit and its audit entry unless the rep has an open visit at
    /// the customer since `since`, which it returns instead; under the rep's
    /// check-in lock at the customer (migration 106), so it needs no transaction.
    struct InsertUnlessOpen: PreparedSQL {
        static let name = "visits.insert-unless-open"
        static let sql = Self(visit: .init(), id: UUID(), since: Date(), audit: .example).query.sql
        var visit: Fieldwork_V1_Visit
        var id: UUID
        var since: Date
        var audit: AuditEntry

        var query: PostgresQuery {
            let location = visit.hasCheckInLocation ? visit.checkInLocation : nil
            return """
            WITH open AS (
                SELECT \(unescaped: VisitStore.columns) FROM open_visit_after_check_in_lock(\(visit.repID), \(visit.customerID), \(since))
            ), inserted AS (
                INSERT INTO visits (id, rep_id, customer_id, status, void_reason, out_of_range, distance_m, checkin_latitude,
                    checkin_longitude, checkin_accuracy_m, checked_in_at, device_time, checkin_department, watermark)
                SELECT \(id), \(visit.repID), \(visit.customerID), \(visit.status.name), \(visit.voidReason), \(visit.outOfRange),
                    \(visit.distanceM), \(location?.latitude)::float8, \(location?.longitude)::float8, \(location?.accuracyM)::float8,
                    \(visit.checkedInAt.date), \(visit.hasDeviceTime ? visit.deviceTime.date : nil)::timestamptz,
                    \(visit.checkinDepartment), \(visit.watermark)
                WHERE NOT EXISTS (SELECT FROM open)
                RETURNING id
            ), audited AS (
                INSERT INTO audit_log (\(unescaped: AuditLog.columns))
                SELECT \(audit.id), \(visit.checkedInAt.date), \(audit.actorID), \(audit.actorRole), \(audit.record.entityType),
                       id::text, \(audit.record.action), \(audit.changesJSON)::jsonb, \(audit.record.reason), \(audit.requestID)
                FROM inserted
            )
            SELECT * FROM open
            """
        }
    }

    /// A visit with its row version (`xmin`, which every update changes), its
    /// customer's and rep's names and the active catalogue entries of `products`.
    struct ReadForSubmission: PreparedSQL {
        static let name = "visits.read-for-submission"
        static let sql = Self(id: UUID(), products: []).query.sql
        var id: UUID
        var products: [String]

        var query: PostgresQuery {
            """
            SELECT \(unescaped: VisitStore.qualifiedColumns), coalesce(c.name, ''), coalesce(c.region, ''), coalesce(r.name, ''),
                   p.ids, p.names, p.lines, v.xmin::text
            FROM visits v
            LEFT JOIN customers c ON c.id = v.customer_id
            LEFT JOIN people r ON r.id = v.rep_id
            CROSS JOIN LATERAL (
                SELECT coalesce(array_agg(id), '{}'), coalesce(array_agg(name), '{}'), coalesce(array_agg(product_line), '{}')
                FROM products WHERE id = ANY (\(products)) AND active
            ) p (ids, names, lines)
            WHERE v.id = \(id)
            """
        }
    }

    /// Stores a submitted record with the check-out point, its audit entry and
    /// its events, if the visit is still at `version`; returns a row if it was.
    struct Submit: PreparedSQL {
        static let name = "visits.submit"
        static let sql = Self(id: UUID(), version: "", record: .init(), recordJSON: "", checkout: nil, at: Date(),
                              audit: .example, events: .init(), subscribers: []).query.sql
        var id: UUID
        var version: String
        var record: Fieldwork_V1_VisitRecord
        var recordJSON: String
        var checkout: GeoPosition?
        var at: Date
        var audit: AuditEntry
        var events: Outbox.Batch
        var subscribers: [String]

        var query: PostgresQuery {
            """
            WITH submitted AS (
                UPDATE visits SET status = 'SUBMITTED', record = \(recordJSON)::jsonb,
                    objection_type = \(record.objectionType == .unspecified ? "" : record.objectionType.name),
                    product_ids = \(record.productIds), checkout_latitude = \(checkout?.latitude)::float8,
                    checkout_longitude = \(checkout?.longitude)::float8, checkout_accuracy_m = \(checkout?.accuracyMeters)::float8,
                    checked_out_at = \(at)
                WHERE id = \(id) AND xmin::text = \(version)
                RETURNING id
            ), audited AS (
                INSERT INTO audit_log (\(unescaped: AuditLog.columns))
                SELECT \(audit.id), \(at), \(audit.actorID), \(audit.actorRole), \(audit.record.entityType),
                       id::text, \(audit.record.action), \(audit.changesJSON)::jsonb, \(audit.record.reason), \(audit.requestID)
                FROM submitted
            ), published AS (
                INSERT INTO outbox (\(unescaped: Outbox.columns))
                SELECT o.* FROM submitted,
                     outbox_rows(\(events.eventIDs)::uuid[], \(events.aggregateIDs)::text[], \(events.types)::text[],
                                 \(events.payloads)::bytea[], \(subscribers)::text[], \(at)) o
            )
            SELECT FROM submitted
            """
        }
    }
}
