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

    private static let columns = """
        id, rep_id, customer_id, status, void_reason, out_of_range, distance_m, checkin_latitude, checkin_longitude,
        checkin_accuracy_m, checked_in_at, device_time, checkin_department, watermark, checkout_latitude, checkout_longitude,
        checkout_accuracy_m, checked_out_at, record::text, amendments
        """

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

    /// The rep's open visit at this customer started within the repeat window, if any.
    func recentOpenVisit(rep: String, customer: String, since: Date, on connection: PostgresConnection) async throws -> Fieldwork_V1_Visit? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: Self.columns) FROM visits
            WHERE rep_id = \(rep) AND customer_id = \(customer) AND status = 'OPEN' AND checked_in_at >= \(since)
            ORDER BY checked_in_at DESC LIMIT 1
            """, logger: logger)
        for try await row in rows { return try Self.decode(row) }
        return nil
    }

    func insert(_ visit: Fieldwork_V1_Visit, on connection: PostgresConnection) async throws {
        let id = UUID(uuidString: visit.id)!
        let location = visit.hasCheckInLocation ? visit.checkInLocation : nil
        try await connection.query(
            """
            INSERT INTO visits (id, rep_id, customer_id, status, void_reason, out_of_range, distance_m, checkin_latitude,
                checkin_longitude, checkin_accuracy_m, checked_in_at, device_time, checkin_department, watermark)
            VALUES (\(id), \(visit.repID), \(visit.customerID), \(visit.status.name), \(visit.voidReason), \(visit.outOfRange),
                \(visit.distanceM), \(location?.latitude), \(location?.longitude), \(location?.accuracyM), \(visit.checkedInAt.date),
                \(visit.hasDeviceTime ? visit.deviceTime.date : nil), \(visit.checkinDepartment), \(visit.watermark))
            """, logger: logger)
    }

    func saveDraft(_ id: UUID, record: Fieldwork_V1_VisitRecord, on connection: PostgresConnection) async throws {
        try await connection.query(
            "UPDATE visits SET record = \(try record.jsonString())::jsonb WHERE id = \(id)", logger: logger)
    }

    func submit(
        _ id: UUID, record: Fieldwork_V1_VisitRecord, checkout: GeoPosition?, at: Date, on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            """
            UPDATE visits SET status = 'SUBMITTED', record = \(try record.jsonString())::jsonb,
                objection_type = \(record.objectionType == .unspecified ? "" : record.objectionType.name),
                product_ids = \(record.productIds), checkout_latitude = \(checkout?.latitude),
                checkout_longitude = \(checkout?.longitude), checkout_accuracy_m = \(checkout?.accuracyMeters), checked_out_at = \(at)
            WHERE id = \(id)
            """, logger: logger)
    }

    /// Visits the principal may see (SPEC §2.9): own; a manager's team; a director's region; admin all.
    func list(
        visibleTo principal: Principal, rep: String, customer: String, status: String, window: TimeWindow, page: Page
    ) async throws -> [Fieldwork_V1_Visit] {
        let afterID = page.after.isEmpty ? nil : UUID(uuidString: page.after)
        if !page.after.isEmpty && afterID == nil {
            throw DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")
        }
        let rows = try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.columns.split(separator: ",").map { "v." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", "))
            FROM visits v JOIN people p ON p.id = v.rep_id
            WHERE (\(afterID)::uuid IS NULL OR v.id > \(afterID))
              AND v.checked_in_at >= \(window.from) AND v.checked_in_at < \(window.to)
              AND (\(rep) = '' OR v.rep_id = \(rep)) AND (\(customer) = '' OR v.customer_id = \(customer))
              AND (\(status) = '' OR v.status = \(status))
              AND (\(principal.has(.admin)) OR v.rep_id = \(principal.personID)
                   OR (\(principal.has(.manager)) AND p.supervisor_id = \(principal.personID))
                   OR (\(principal.has(.director)) AND p.region = \(principal.region)))
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
