import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import PostgresNIO
import SwiftProtobuf

/// SQL for visit records. The structured record is kept as protobuf JSON
/// (`record`), with the fields reports filter on copied into columns.
struct VisitStore: Sendable {
    let environment: ServiceEnvironment
    let directory: DirectoryStore
    let watermark: Watermark
    var logger: Logger { environment.logger }

    static let columns = """
        id, rep_id, customer_id, status, void_reason, out_of_range, distance_m, checkin_latitude, checkin_longitude,
        checkin_accuracy_m, checked_in_at, device_time, checkin_department, watermark, checkout_latitude, checkout_longitude,
        checkout_accuracy_m, checked_out_at, record::text, amendments
        """

    private static let columnCount = columns.split(separator: ",").count
    /// `columns` for a query that names the visits table `v`.
    static let qualifiedColumns = columns.split(separator: ",")
        .map { "v." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")

    func visit(_ id: UUID, on connection: PostgresConnection, forUpdate: Bool = false) async throws -> Fieldwork_V1_Visit? {
        let rows = try await connection.query(
            forUpdate ? "SELECT \(unescaped: Self.columns) FROM visits WHERE id = \(id) FOR UPDATE"
                      : "SELECT \(unescaped: Self.columns) FROM visits WHERE id = \(id)", logger: logger)
        for try await row in rows { return try Self.decode(row) }
        return nil
    }

    static func decode(_ row: PostgresRow) throws -> Fieldwork_V1_Visit {
        let cells = try row.decode((
            UUID, String, String, String, String, Bool, Double, Double?, Double?, Double?, Date, Date?, String, String,
            Double?, Double?, Double?, Date?, String, Int
        ).self)
        var visit = Fieldwork_V1_Visit()
        visit.id = cells.0.uuidString.lowercased()
        visit.repID = cells.1
        visit.customerID = cells.2
        visit.status = Fieldwork_V1_VisitStatus(name: cells.3)
        visit.voidReason = cells.4
        visit.outOfRange = cells.5
        visit.distanceM = cells.6
        if let lat = cells.7, let lon = cells.8 {
            visit.checkInLocation = .with { $0.latitude = lat; $0.longitude = lon; $0.accuracyM = cells.9 ?? 0 }
        }
        visit.checkedInAt = .init(cells.10)
        if let device = cells.11 { visit.deviceTime = .init(device) }
        visit.checkinDepartment = cells.12
        visit.watermark = cells.13
        if let lat = cells.14, let lon = cells.15 {
            visit.checkOutLocation = .with { $0.latitude = lat; $0.longitude = lon; $0.accuracyM = cells.16 ?? 0 }
        }
        if let out = cells.17 { visit.checkedOutAt = .init(out) }
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        visit.record = try Fieldwork_V1_VisitRecord(jsonString: cells.18, options: options)
        visit.amendments = Int32(cells.19)
        return visit
    }

    /// What a check-in reads before it writes.
    struct CheckInSite {
        var customerID: String
        var fence: Geofence
        /// The code's key is still active (a retired key is refused at once, everywhere).
        var keyInForce: Bool
    }

    /// The customer's geofence and whether the code's key is still active, in
    /// one round trip. Nil: no such customer.
    func checkInSite(customer: String, keyID: String, on connection: PostgresConnection) async throws -> CheckInSite? {
        let rows = try await connection.execute(VisitStatements.CheckInSite(customer: customer, keyID: keyID), logger: logger)
        for try await row in rows {
            let (id, latitude, longitude, radius, keyInForce) = try row.decode((String, Double, Double, Int, Bool).self)
            return CheckInSite(
                customerID: id, fence: Geofence(center: GeoPosition(latitude: latitude, longitude: longitude), radiusMeters: radius),
                keyInForce: keyInForce)
        }
        return nil
    }

    /// Inserts a checked-in visit and its audit entry, unless the rep has an open
    /// visit at the customer that started at or after `since`: that visit is
    /// returned instead and nothing is written. One statement, which takes the
    /// rep's check-in lock at the customer first, so concurrent calls (a double
    /// tap) open one visit, in a transaction or not.
    func insertUnlessOpen(
        _ visit: Fieldwork_V1_Visit, since: Date, audit: AuditRecord, by principal: Principal, requestID: String,
        on connection: PostgresConnection
    ) async throws -> Fieldwork_V1_Visit? {
        let rows = try await connection.execute(
            VisitStatements.InsertUnlessOpen(
                visit: visit, id: UUID(uuidString: visit.id)!, since: since, audit: try AuditEntry(audit, by: principal, requestID: requestID)),
            logger: logger)
        for try await row in rows { return try Self.decode(row) }
        return nil
    }

    func saveDraft(_ id: UUID, record: Fieldwork_V1_VisitRecord, on connection: PostgresConnection) async throws {
        try await connection.query(
            "UPDATE visits SET record = \(try record.jsonString())::jsonb WHERE id = \(id)", logger: logger)
    }

    /// A visit read for submission, with what submitting it needs from the directory.
    struct Submission {
        var visit: Fieldwork_V1_Visit
        /// The row version read; `submit` stores the record only if it is unchanged.
        var version: String
        var customerName: String
        var customerRegion: String
        var repName: String
        /// Active products among those asked for: id → (name, product line).
        var catalogue: [String: (name: String, line: String)]
    }

    /// A visit (unlocked) with its row version and, in the same round trip, its
    /// customer's and rep's names and the active catalogue entries of `products`.
    func submission(_ id: UUID, products: [String], on connection: PostgresConnection) async throws -> Submission? {
        let rows = try await connection.execute(VisitStatements.ReadForSubmission(id: id, products: products), logger: logger)
        for try await row in rows {
            let cells = row.makeRandomAccess()
            let first = Self.columnCount   // the directory's columns follow the visit's
            let (ids, names, lines) = (
                try cells[first + 3].decode([String].self), try cells[first + 4].decode([String].self), try cells[first + 5].decode([String].self))
            return Submission(
                visit: try Self.decode(row), version: try cells[first + 6].decode(String.self),
                customerName: try cells[first].decode(String.self),
                customerRegion: try cells[first + 1].decode(String.self), repName: try cells[first + 2].decode(String.self),
                catalogue: Dictionary(zip(ids, zip(names, lines).map { (name: $0, line: $1) }), uniquingKeysWith: { first, _ in first }))
        }
        return nil
    }

    /// Stores the record read-only with the check-out point, its audit entry and
    /// its events, in one statement, if the visit is still at `version`.
    /// False: it changed since it was read, and nothing was written.
    func submit(
        _ id: UUID, version: String, record: Fieldwork_V1_VisitRecord, checkout: GeoPosition?, at: Date, audit: AuditRecord,
        events: Outbox.Batch, by principal: Principal, requestID: String, on connection: PostgresConnection
    ) async throws -> Bool {
        let rows = try await connection.execute(
            VisitStatements.Submit(
                id: id, version: version, record: record, recordJSON: try record.jsonString(), checkout: checkout, at: at,
                audit: try AuditEntry(audit, by: principal, requestID: requestID), events: events,
                subscribers: environment.outbox.subscribers),
            logger: logger)
        var stored = false
        for try await _ in rows { stored = true }
        return stored
    }

    /// Visits of the people in `scope` (SPEC §8.2).
    func list(
        visibleTo scope: Scope, rep: String, customer: String, status: String, window: TimeWindow, page: Page
    ) async throws -> [Fieldwork_V1_Visit] {
        let afterID = try page.idKey()
        let rows = try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.qualifiedColumns)
            FROM visits v
            WHERE (\(afterID)::uuid IS NULL OR v.id > \(afterID))
              AND v.checked_in_at >= \(window.from) AND v.checked_in_at < \(window.to)
              AND (\(rep) = '' OR v.rep_id = \(rep)) AND (\(customer) = '' OR v.customer_id = \(customer))
              AND (\(status) = '' OR v.status = \(status))
              AND (\(scope.everyone) OR v.rep_id = ANY (\(scope.people)))
            ORDER BY v.id LIMIT \(page.limit)
            """, logger: logger)
        var visits: [Fieldwork_V1_Visit] = []
        for try await row in rows { visits.append(try Self.decode(row)) }
        return visits
    }
}

extension Fieldwork_V1_VisitStatus {
    /// "OPEN", "SUBMITTED", "VOID": the stored form.
    var name: String {
        switch self {
        case .open: "OPEN"
        case .submitted: "SUBMITTED"
        case .void: "VOID"
        default: "UNSPECIFIED"
        }
    }

    init(name: String) {
        switch name {
        case "OPEN": self = .open
        case "SUBMITTED": self = .submitted
        case "VOID": self = .void
        default: self = .unspecified
        }
    }
}

extension Fieldwork_V1_ObjectionType {
    var name: String {
        switch self {
        case .price: "PRICE"
        case .delivery: "DELIVERY"
        case .qualification: "QUALIFICATION"
        default: ""
        }
    }

    var domain: ObjectionType? { ObjectionType(rawValue: name) }
}
