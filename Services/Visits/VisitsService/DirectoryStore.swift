import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import PostgresNIO

/// SQL for the directory the visits service owns: people, departments,
/// customers and products. Writes happen only when something changed, so
/// re-importing a file is a no-op; each real change is audited and published.
struct DirectoryStore: Sendable {
    let environment: ServiceEnvironment
    var logger: Logger { environment.logger }

    enum Outcome: Equatable { case created, updated, unchanged }

    // MARK: People

    func person(_ id: String, on connection: PostgresConnection) async throws -> (PersonRecord, active: Bool, updatedAt: Date)? {
        let rows = try await connection.query(
            """
            SELECT id, name, phone, wecom_user_id, department, region, supervisor_id, roles, active, updated_at
            FROM people WHERE id = \(id)
            """, logger: logger)
        for try await (id, name, phone, wecom, department, region, supervisor, roles, active, updatedAt) in rows.decode(
            (String, String, String, String, String, String, String, [String], Bool, Date).self)
        {
            return (PersonRecord(id: id, name: name, phone: phone, wecomUserID: wecom, department: department, region: region,
                                 supervisorID: supervisor, roles: roles.compactMap(Role.init(rawValue:))), active, updatedAt)
        }
        return nil
    }

    func upsertPerson(
        _ person: PersonRecord, by principal: Principal, at now: Date, requestID: String, on connection: PostgresConnection
    ) async throws -> Outcome {
        let before = try await self.person(person.id, on: connection)
        if let before, before.0 == person, before.active { return .unchanged }
        let roles = person.roles.map(\.rawValue)
        try await connection.query(
            """
            INSERT INTO people (id, name, phone, wecom_user_id, department, region, supervisor_id, roles, active, updated_at)
            VALUES (\(person.id), \(person.name), \(person.phone), \(person.wecomUserID), \(person.department), \(person.region),
                    \(person.supervisorID), \(roles), true, \(now))
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone, wecom_user_id = excluded.wecom_user_id,
                department = excluded.department, region = excluded.region, supervisor_id = excluded.supervisor_id,
                roles = excluded.roles, active = true, updated_at = excluded.updated_at
            """, logger: logger)
        try await environment.audit(
            AuditRecord(entityType: "person", entityID: person.id, action: before == nil ? "create" : "update",
                        changes: AuditRecord.diff(before.map { Self.fields($0.0) }, Self.fields(person))),
            by: principal, at: now, requestID: requestID, on: connection)
        try await environment.publish(.personChanged(.with { $0.person = Self.proto(person, active: true, updatedAt: now) }),
                                      aggregateID: "person:\(person.id)", at: now, on: connection)
        return before == nil ? .created : .updated
    }

    static func fields(_ p: PersonRecord) -> [String: String] {
        ["name": p.name, "phone": p.phone, "wecom_user_id": p.wecomUserID, "department": p.department, "region": p.region,
         "supervisor_id": p.supervisorID, "roles": p.roles.map(\.rawValue).joined(separator: "|")]
    }

    static func proto(_ p: PersonRecord, active: Bool, updatedAt: Date) -> Fieldwork_V1_Person {
        .with {
            $0.id = p.id
            $0.name = p.name
            $0.phone = p.phone
            $0.wecomUserID = p.wecomUserID
            $0.department = p.department
            $0.region = p.region
            $0.supervisorID = p.supervisorID
            $0.roles = p.roles.map(\.rawValue)
            $0.active = active
            $0.updatedAt = .init(updatedAt)
        }
    }

    func listPeople(department: String, region: String, role: String, page: Page) async throws -> [Fieldwork_V1_Person] {
        let rows = try await environment.postgres.query(
            """
            SELECT id, name, phone, wecom_user_id, department, region, supervisor_id, roles, active, updated_at FROM people
            WHERE id > \(page.after) AND (\(department) = '' OR department = \(department))
              AND (\(region) = '' OR region = \(region)) AND (\(role) = '' OR \(role) = ANY (roles))
            ORDER BY id LIMIT \(page.limit)
            """, logger: logger)
        var people: [Fieldwork_V1_Person] = []
        for try await (id, name, phone, wecom, department, region, supervisor, roles, active, updatedAt) in rows.decode(
            (String, String, String, String, String, String, String, [String], Bool, Date).self)
        {
            people.append(Self.proto(
                PersonRecord(id: id, name: name, phone: phone, wecomUserID: wecom, department: department, region: region,
                             supervisorID: supervisor, roles: roles.compactMap(Role.init(rawValue:))),
                active: active, updatedAt: updatedAt))
        }
        return people
    }

    // MARK: Departments

    func upsertDepartment(
        _ department: Fieldwork_V1_Department, by principal: Principal, at now: Date, requestID: String, on connection: PostgresConnection
    ) async throws -> Outcome {
        var before: [String: String]?
        for try await (name, head) in try await connection.query(
            "SELECT name, head_person_id FROM departments WHERE code = \(department.code)", logger: logger
        ).decode((String, String).self) { before = ["name": name, "head_person_id": head] }
        let after = ["name": department.name, "head_person_id": department.headPersonID]
        if before == after { return .unchanged }
        try await connection.query(
            """
            INSERT INTO departments (code, name, head_person_id, updated_at)
            VALUES (\(department.code), \(department.name), \(department.headPersonID), \(now))
            ON CONFLICT (code) DO UPDATE SET name = excluded.name, head_person_id = excluded.head_person_id, updated_at = excluded.updated_at
            """, logger: logger)
        try await environment.audit(
            AuditRecord(entityType: "department", entityID: department.code, action: before == nil ? "create" : "update",
                        changes: AuditRecord.diff(before, after)),
            by: principal, at: now, requestID: requestID, on: connection)
        try await environment.publish(.departmentChanged(.with { $0.department = department }),
                                      aggregateID: "department:\(department.code)", at: now, on: connection)
        return before == nil ? .created : .updated
    }

    func listDepartments(page: Page) async throws -> [Fieldwork_V1_Department] {
        var departments: [Fieldwork_V1_Department] = []
        let rows = try await environment.postgres.query(
            "SELECT code, name, head_person_id FROM departments WHERE code > \(page.after) ORDER BY code LIMIT \(page.limit)",
            logger: logger)
        for try await (code, name, head) in rows.decode((String, String, String).self) {
            departments.append(.with { $0.code = code; $0.name = name; $0.headPersonID = head })
        }
        return departments
    }

    // MARK: Customers

    private static let customerColumns = """
        id, registry_code, name, level, region, address, latitude, longitude, fence_radius_m, departments, owner_rep_id, grade, updated_at,
        contacts
        """
    /// What `decodeCustomer` reads: the columns, with the contacts as JSON text.
    static let customerSelect = """
        id, registry_code, name, level, region, address, latitude, longitude, fence_radius_m, departments, owner_rep_id, grade, updated_at,
        contacts::text
        """

    func customer(_ id: String, on connection: PostgresConnection, forUpdate: Bool = false) async throws -> (CustomerRecord, updatedAt: Date)? {
        let rows = try await connection.query(
            forUpdate ? "SELECT \(unescaped: Self.customerSelect) FROM customers WHERE id = \(id) FOR UPDATE"
                      : "SELECT \(unescaped: Self.customerSelect) FROM customers WHERE id = \(id)",
            logger: logger)
        for try await row in rows { return try Self.decodeCustomer(row) }
        return nil
    }

    static func decodeCustomer(_ row: PostgresRow) throws -> (CustomerRecord, updatedAt: Date) {
        let (id, registry, name, level, region, address, latitude, longitude, radius, departments, owner, grade, updatedAt, contacts) =
            try row.decode((String, String, String, String, String, String, Double, Double, Int, [String], String, String, Date, String).self)
        return (CustomerRecord(
            id: id, registryCode: registry, name: name, level: level, region: region, address: address,
            fence: Geofence(center: GeoPosition(latitude: latitude, longitude: longitude), radiusMeters: radius),
            departments: departments, ownerRepID: owner, grade: grade,
            contacts: try JSONDecoder().decode([CustomerContact].self, from: Data(contacts.utf8))), updatedAt)
    }

    /// Creates or updates a customer. The grade is set on creation only; later
    /// it changes solely through a confirmed grade-change proposal (SPEC §2.6).
    func upsertCustomer(
        _ customer: CustomerRecord, by principal: Principal, at now: Date, requestID: String, on connection: PostgresConnection,
        gradeField: String = "customer.grade"
    ) async throws -> Outcome {
        let before = try await self.customer(customer.id, on: connection, forUpdate: true)?.0
        if let before, before.grade != customer.grade {
            throw DomainError.failedPrecondition(
                "\(gradeField): grade of '\(customer.id)' is \(before.grade); grade changes go through ProposeGradeChange")
        }
        if before == customer { return .unchanged }
        try await connection.query(
            """
            INSERT INTO customers (\(unescaped: Self.customerColumns))
            VALUES (\(customer.id), \(customer.registryCode), \(customer.name), \(customer.level), \(customer.region),
                    \(customer.address), \(customer.fence.center.latitude), \(customer.fence.center.longitude),
                    \(customer.fence.radiusMeters), \(customer.departments), \(customer.ownerRepID), \(customer.grade), \(now),
                    \(String(decoding: try JSONEncoder().encode(customer.contacts), as: UTF8.self))::jsonb)
            ON CONFLICT (id) DO UPDATE SET registry_code = excluded.registry_code, name = excluded.name, level = excluded.level,
                region = excluded.region, address = excluded.address, latitude = excluded.latitude, longitude = excluded.longitude,
                fence_radius_m = excluded.fence_radius_m, departments = excluded.departments, owner_rep_id = excluded.owner_rep_id,
                updated_at = excluded.updated_at, contacts = excluded.contacts
            """, logger: logger)
        try await environment.audit(
            AuditRecord(entityType: "customer", entityID: customer.id, action: before == nil ? "create" : "update",
                        changes: AuditRecord.diff(before.map(Self.fields), Self.fields(customer))),
            by: principal, at: now, requestID: requestID, on: connection)
        try await environment.publish(.customerChanged(.with { $0.customer = Self.proto(customer, updatedAt: now) }),
                                      aggregateID: "customer:\(customer.id)", at: now, on: connection)
        return before == nil ? .created : .updated
    }

    static func fields(_ c: CustomerRecord) -> [String: String] {
        Dictionary(uniqueKeysWithValues: zip(CustomerRecord.csvColumns.filter { $0 != "id" }, c.csvValues.dropFirst()))
    }

    static func proto(_ c: CustomerRecord, updatedAt: Date) -> Fieldwork_V1_Customer {
        .with {
            $0.id = c.id
            $0.registryCode = c.registryCode
            $0.name = c.name
            $0.level = c.level
            $0.region = c.region
            $0.address = c.address
            $0.fenceCenter = .init(c.fence.center)
            $0.fenceRadiusM = Int32(c.fence.radiusMeters)
            $0.departments = c.departments
            $0.ownerRepID = c.ownerRepID
            $0.grade = c.grade
            $0.contacts = c.contacts.map { contact in
                .with { $0.name = contact.name; $0.title = contact.title; $0.department = contact.department; $0.phone = contact.phone }
            }
            $0.updatedAt = .init(updatedAt)
        }
    }

    /// The customers a caller may list (`DirectoryView`): all, or those of a
    /// region (none when the region is empty) and those the listed people own.
    struct CustomerFilter {
        var everyone: Bool
        var region: String
        var owners: [String]
    }

    func listCustomers(region: String, owner: String, grade: String, visible: CustomerFilter, page: Page) async throws -> [Fieldwork_V1_Customer] {
        let rows = try await environment.postgres.query(
            """
            SELECT \(unescaped: Self.customerSelect) FROM customers
            WHERE id > \(page.after) AND (\(region) = '' OR region = \(region))
              AND (\(owner) = '' OR owner_rep_id = \(owner)) AND (\(grade) = '' OR grade = \(grade))
              AND (\(visible.everyone) OR (\(visible.region) <> '' AND region = \(visible.region)) OR owner_rep_id = ANY (\(visible.owners)))
            ORDER BY id LIMIT \(page.limit)
            """, logger: logger)
        var customers: [Fieldwork_V1_Customer] = []
        for try await row in rows {
            let (record, updatedAt) = try Self.decodeCustomer(row)
            customers.append(Self.proto(record, updatedAt: updatedAt))
        }
        return customers
    }

    // MARK: Products

    func upsertProduct(
        _ product: ProductRecord, by principal: Principal, at now: Date, requestID: String, on connection: PostgresConnection
    ) async throws -> Outcome {
        var before: ProductRecord?
        for try await (id, name, line) in try await connection.query(
            "SELECT id, name, product_line FROM products WHERE id = \(product.id)", logger: logger
        ).decode((String, String, String).self) { before = ProductRecord(id: id, name: name, productLine: line) }
        if before == product { return .unchanged }
        try await connection.query(
            """
            INSERT INTO products (id, name, product_line, active, updated_at)
            VALUES (\(product.id), \(product.name), \(product.productLine), true, \(now))
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, product_line = excluded.product_line, updated_at = excluded.updated_at
            """, logger: logger)
        let fields: (ProductRecord) -> [String: String] = { ["name": $0.name, "product_line": $0.productLine] }
        try await environment.audit(
            AuditRecord(entityType: "product", entityID: product.id, action: before == nil ? "create" : "update",
                        changes: AuditRecord.diff(before.map(fields), fields(product))),
            by: principal, at: now, requestID: requestID, on: connection)
        try await environment.publish(.productChanged(.with { $0.product = Self.proto(product) }),
                                      aggregateID: "product:\(product.id)", at: now, on: connection)
        return before == nil ? .created : .updated
    }

    static func proto(_ p: ProductRecord) -> Fieldwork_V1_Product {
        .with { $0.id = p.id; $0.name = p.name; $0.productLine = p.productLine; $0.active = true }
    }

    func listProducts(productLine: String, page: Page) async throws -> [ProductRecord] {
        let rows = try await environment.postgres.query(
            """
            SELECT id, name, product_line FROM products
            WHERE id > \(page.after) AND (\(productLine) = '' OR product_line = \(productLine)) AND active
            ORDER BY id LIMIT \(page.limit)
            """, logger: logger)
        var products: [ProductRecord] = []
        for try await (id, name, line) in rows.decode((String, String, String).self) {
            products.append(ProductRecord(id: id, name: name, productLine: line))
        }
        return products
    }

    /// The distinct product lines of the given products.
    /// The active products among `ids`: id → (name, product line); unknown or inactive ids are missing.
    func catalogue(_ ids: [String], on connection: PostgresConnection) async throws -> [String: (name: String, line: String)] {
        var catalogue: [String: (name: String, line: String)] = [:]
        for try await (id, name, line) in try await connection.query(
            "SELECT id, name, product_line FROM products WHERE id = ANY (\(ids)) AND active", logger: logger
        ).decode((String, String, String).self) { catalogue[id] = (name, line) }
        return catalogue
    }
}
