import Foundation

/// A problem with one CSV cell, reported by 1-based line (header = line 1) and column.
public struct CsvRowError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: String
    public var message: String

    public init(line: Int, column: String, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "line \(line), column \(column): \(message)" }
}

/// One CSV record as header → value, with its line number for error reports.
public struct CsvRow: Sendable {
    public var line: Int
    public var values: [String: String]

    public init(line: Int, values: [String: String]) {
        self.line = line
        self.values = values
    }

    public func optional(_ column: String) -> String {
        (values[column] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func required(_ column: String) throws -> String {
        let value = optional(column)
        guard !value.isEmpty else { throw CsvRowError(line: line, column: column, message: "is required") }
        return value
    }

    /// A `|`-separated list.
    public func list(_ column: String) -> [String] {
        optional(column).split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public func double(_ column: String) throws -> Double {
        guard let value = Double(try required(column)), value.isFinite else {
            throw CsvRowError(line: line, column: column, message: "'\(optional(column))' is not a number")
        }
        return value
    }
}

/// A person as the directory stores it (SPEC §1).
public struct PersonRecord: Equatable, Sendable {
    public static let csvColumns = ["id", "name", "phone", "wecom_user_id", "department", "region", "supervisor_id", "roles"]

    public var id: String
    public var name: String
    public var phone: String
    public var wecomUserID: String
    public var department: String
    public var region: String
    public var supervisorID: String
    public var roles: [Role]

    public init(
        id: String, name: String, phone: String = "", wecomUserID: String = "", department: String,
        region: String = "", supervisorID: String = "", roles: [Role]
    ) {
        self.id = id
        self.name = name
        self.phone = phone
        self.wecomUserID = wecomUserID
        self.department = department
        self.region = region
        self.supervisorID = supervisorID
        self.roles = roles
    }

    /// Field-level validation shared by the RPC and the CSV import.
    /// `report(column, message)` builds the error for the caller's context.
    public func validate(report: (String, String) -> Error) throws {
        guard Self.isValidID(id) else { throw report("id", "must be 1–32 letters, digits, '-' or '_'") }
        guard !name.isEmpty, name.count <= 100 else { throw report("name", "must be 1–100 characters") }
        guard DepartmentCode(rawValue: department) != nil else {
            throw report("department", "'\(department)' is not one of \(DepartmentCode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard !roles.isEmpty else { throw report("roles", "at least one role is required") }
        guard !roles.contains(.service) else { throw report("roles", "'service' is reserved for service-to-service calls") }
        guard supervisorID != id else { throw report("supervisor_id", "a person cannot supervise themselves") }
    }

    public init(row: CsvRow) throws {
        var roles: [Role] = []
        for code in row.list("roles") {
            guard let role = Role(rawValue: code) else {
                throw CsvRowError(line: row.line, column: "roles", message: "'\(code)' is not a role")
            }
            roles.append(role)
        }
        self.init(
            id: try row.required("id"), name: try row.required("name"), phone: row.optional("phone"),
            wecomUserID: row.optional("wecom_user_id"), department: try row.required("department"),
            region: row.optional("region"), supervisorID: row.optional("supervisor_id"), roles: roles
        )
        try validate { CsvRowError(line: row.line, column: $0, message: $1) }
    }

    public var csvValues: [String] {
        [id, name, phone, wecomUserID, department, region, supervisorID, roles.map(\.rawValue).joined(separator: "|")]
    }

    static func isValidID(_ id: String) -> Bool {
        (1...32).contains(id.count) && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}

/// A customer (hospital) as the directory stores it (SPEC §1).
/// A person the reps meet at a customer (SPEC §1): 器械科主任, 骨科主任 …
public struct CustomerContact: Equatable, Sendable, Codable {
    public var name: String
    public var title: String
    public var department: String
    public var phone: String

    public init(name: String, title: String = "", department: String = "", phone: String = "") {
        self.name = name
        self.title = title
        self.department = department
        self.phone = phone
    }

    /// The CSV cell form: `name/title/department/phone`, trailing parts optional.
    public init(csv: String) {
        let parts = csv.split(separator: "/", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        self.init(name: parts[0], title: parts.count > 1 ? parts[1] : "", department: parts.count > 2 ? parts[2] : "",
                  phone: parts.count > 3 ? parts[3...].joined(separator: "/") : "")
    }

    public var csvValue: String {
        var parts = [name, title, department, phone]
        while parts.count > 1, parts.last?.isEmpty == true { parts.removeLast() }
        return parts.joined(separator: "/")
    }

    /// Why the contact is not acceptable (field, message), or nil.
    public var problem: (field: String, message: String)? {
        if name.isEmpty || name.count > 50 { return ("name", "must be 1–50 characters") }
        if title.count > 50 { return ("title", "at most 50 characters") }
        if department.count > 50 { return ("department", "at most 50 characters") }
        for text in [name, title, department] where text.contains("/") || text.contains("|") {
            return ("name", "must not contain '/' or '|' (the CSV separators)")
        }
        if phone.count > 32 || !phone.allSatisfy({ $0.isASCII && ($0.isNumber || "+- ()".contains($0)) }) {
            return ("phone", "must be at most 32 digits, spaces, '+', '-' or parentheses")
        }
        return nil
    }
}

public struct CustomerRecord: Equatable, Sendable {
    public static let csvColumns = [
        "id", "registry_code", "name", "level", "region", "address", "latitude", "longitude", "fence_radius_m",
        "departments", "owner_rep_id", "grade", "contacts",
    ]
    public static let maxContacts = 50
    public static let grades = ["A", "B", "C"]

    public var id: String
    public var registryCode: String
    public var name: String
    public var level: String
    public var region: String
    public var address: String
    public var fence: Geofence
    public var departments: [String]
    public var ownerRepID: String
    public var grade: String
    public var contacts: [CustomerContact]

    public init(
        id: String, registryCode: String = "", name: String, level: String = "", region: String, address: String = "",
        fence: Geofence, departments: [String] = [], ownerRepID: String = "", grade: String = "C", contacts: [CustomerContact] = []
    ) {
        self.id = id
        self.registryCode = registryCode
        self.name = name
        self.level = level
        self.region = region
        self.address = address
        self.fence = fence
        self.departments = departments
        self.ownerRepID = ownerRepID
        self.grade = grade
        self.contacts = contacts
    }

    public func validate(report: (String, String) -> Error) throws {
        guard PersonRecord.isValidID(id) else { throw report("id", "must be 1–32 letters, digits, '-' or '_'") }
        guard !name.isEmpty, name.count <= 200 else { throw report("name", "must be 1–200 characters") }
        guard !region.isEmpty else { throw report("region", "is required") }
        do {
            _ = try fence.center.validated(field: "fence_center")
        } catch DomainError.invalidArgument(let field, let message) {
            throw report(field.hasSuffix("latitude") ? "latitude" : "longitude", message)
        }
        guard (10...50_000).contains(fence.radiusMeters) else { throw report("fence_radius_m", "must be within 10–50000 m") }
        guard Self.grades.contains(grade) else { throw report("grade", "must be A, B or C") }
        guard contacts.count <= Self.maxContacts else { throw report("contacts", "at most \(Self.maxContacts) contacts") }
        for (index, contact) in contacts.enumerated() {
            if let problem = contact.problem { throw report("contacts[\(index)].\(problem.field)", problem.message) }
        }
    }

    public init(row: CsvRow) throws {
        let radiusText = row.optional("fence_radius_m")
        var radius = Geofence.defaultRadiusMeters
        if !radiusText.isEmpty {
            guard let value = Int(radiusText) else {
                throw CsvRowError(line: row.line, column: "fence_radius_m", message: "'\(radiusText)' is not a whole number")
            }
            radius = value
        }
        let grade = row.optional("grade")
        self.init(
            id: try row.required("id"), registryCode: row.optional("registry_code"), name: try row.required("name"),
            level: row.optional("level"), region: try row.required("region"), address: row.optional("address"),
            fence: Geofence(
                center: GeoPosition(latitude: try row.double("latitude"), longitude: try row.double("longitude")),
                radiusMeters: radius
            ),
            departments: row.list("departments"), ownerRepID: row.optional("owner_rep_id"),
            grade: grade.isEmpty ? "C" : grade, contacts: row.list("contacts").map(CustomerContact.init(csv:))
        )
        try validate { CsvRowError(line: row.line, column: $0, message: $1) }
    }

    public var csvValues: [String] {
        [
            id, registryCode, name, level, region, address, String(fence.center.latitude), String(fence.center.longitude),
            String(fence.radiusMeters), departments.joined(separator: "|"), ownerRepID, grade,
            contacts.map(\.csvValue).joined(separator: "|"),
        ]
    }
}

/// A catalogue product.
public struct ProductRecord: Equatable, Sendable {
    public static let csvColumns = ["id", "name", "product_line"]

    public var id: String
    public var name: String
    public var productLine: String

    public init(id: String, name: String, productLine: String) {
        self.id = id
        self.name = name
        self.productLine = productLine
    }

    public func validate(report: (String, String) -> Error) throws {
        guard PersonRecord.isValidID(id) else { throw report("id", "must be 1–32 letters, digits, '-' or '_'") }
        guard !name.isEmpty, name.count <= 200 else { throw report("name", "must be 1–200 characters") }
        guard !productLine.isEmpty else { throw report("product_line", "is required") }
    }

    public init(row: CsvRow) throws {
        self.init(id: try row.required("id"), name: try row.required("name"), productLine: try row.required("product_line"))
        try validate { CsvRowError(line: row.line, column: $0, message: $1) }
    }

    public var csvValues: [String] { [id, name, productLine] }
}
