import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import PostgresNIO

/// Directory RPCs (SPEC §1): proto ↔ domain, validation, then the store.
extension VisitsService {
    func upsertPerson(_ request: Fieldwork_V1_UpsertPersonRequest) async throws -> Fieldwork_V1_Person {
        let p = request.person
        var roles: [Role] = []
        for code in p.roles {
            guard let role = Role(rawValue: code) else { throw DomainError.invalidArgument(field: "person.roles", message: "'\(code)' is not a role") }
            roles.append(role)
        }
        let record = PersonRecord(
            id: try Input.text(p.id, field: "person.id"), name: try Input.text(p.name, field: "person.name"),
            phone: try Input.text(p.phone, field: "person.phone", max: 32), wecomUserID: try Input.text(p.wecomUserID, field: "person.wecom_user_id", max: 64),
            department: try Input.text(p.department, field: "person.department"), region: try Input.text(p.region, field: "person.region", max: 32),
            supervisorID: try Input.text(p.supervisorID, field: "person.supervisor_id"), roles: roles)
        try record.validate { DomainError.invalidArgument(field: "person.\($0)", message: $1) }
        return try await environment.command("UpsertPerson", requestID: request.requestID) { connection, principal, now in
            _ = try await directory.upsertPerson(record, by: principal, at: now, requestID: request.requestID, on: connection)
            guard let stored = try await directory.person(record.id, on: connection) else { throw DomainError.notFound(entity: "person", id: record.id) }
            return DirectoryStore.proto(stored.0, active: stored.active, updatedAt: stored.updatedAt)
        }
    }

    func getPerson(_ request: Fieldwork_V1_GetPersonRequest) async throws -> Fieldwork_V1_Person {
        let id = try Input.text(request.id, field: "id", required: true)
        let view = try await DirectoryView(try Principal.required(), in: self)
        return try await environment.postgres.withConnection { connection in
            guard let stored = try await directory.person(id, on: connection) else { throw DomainError.notFound(entity: "person", id: id) }
            return view.person(DirectoryStore.proto(stored.0, active: stored.active, updatedAt: stored.updatedAt))
        }
    }

    func listPeople(_ request: Fieldwork_V1_ListPeopleRequest) async throws -> Fieldwork_V1_ListPeopleResponse {
        let page = try Page(request.page)
        let people = try await directory.listPeople(
            department: try Input.text(request.department, field: "department"), region: try Input.text(request.region, field: "region"),
            role: try Input.text(request.role, field: "role"), page: page)
        let view = try await DirectoryView(try Principal.required(), in: self)
        let finished = page.finish(people) { $0.id }
        return .with { $0.people = finished.rows.map(view.person); $0.page = finished.page }
    }

    func upsertDepartment(_ request: Fieldwork_V1_UpsertDepartmentRequest) async throws -> Fieldwork_V1_Department {
        var department = request.department
        department.code = try Input.text(department.code, field: "department.code", required: true)
        guard DepartmentCode(rawValue: department.code) != nil else {
            throw DomainError.invalidArgument(
                field: "department.code", message: "'\(department.code)' is not one of \(DepartmentCode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        department.name = try Input.text(department.name, field: "department.name", required: true)
        department.headPersonID = try Input.text(department.headPersonID, field: "department.head_person_id")
        return try await environment.command("UpsertDepartment", requestID: request.requestID) { connection, principal, now in
            if !department.headPersonID.isEmpty, try await directory.person(department.headPersonID, on: connection) == nil {
                throw DomainError.invalidArgument(field: "department.head_person_id", message: "'\(department.headPersonID)' is not in the directory")
            }
            _ = try await directory.upsertDepartment(department, by: principal, at: now, requestID: request.requestID, on: connection)
            return department
        }
    }

    func listDepartments(_ request: Fieldwork_V1_ListDepartmentsRequest) async throws -> Fieldwork_V1_ListDepartmentsResponse {
        let page = try Page(request.page)
        let finished = page.finish(try await directory.listDepartments(page: page)) { $0.code }
        return .with { $0.departments = finished.rows; $0.page = finished.page }
    }

    func upsertCustomer(_ request: Fieldwork_V1_UpsertCustomerRequest) async throws -> Fieldwork_V1_Customer {
        let c = request.customer
        let record = CustomerRecord(
            id: try Input.text(c.id, field: "customer.id"), registryCode: try Input.text(c.registryCode, field: "customer.registry_code", max: 64),
            name: try Input.text(c.name, field: "customer.name"), level: try Input.text(c.level, field: "customer.level", max: 32),
            region: try Input.text(c.region, field: "customer.region", max: 32), address: try Input.text(c.address, field: "customer.address", max: 300),
            fence: Geofence(center: c.fenceCenter.position, radiusMeters: c.fenceRadiusM == 0 ? Geofence.defaultRadiusMeters : Int(c.fenceRadiusM)),
            departments: try c.departments.map { try Input.text($0, field: "customer.departments", max: 32) },
            ownerRepID: try Input.text(c.ownerRepID, field: "customer.owner_rep_id"), grade: c.grade.isEmpty ? "C" : c.grade,
            contacts: c.contacts.map { CustomerContact(name: $0.name, title: $0.title, department: $0.department, phone: $0.phone) })
        try record.validate { field, message in
            DomainError.invalidArgument(field: field == "latitude" || field == "longitude" ? "customer.fence_center.\(field)" : "customer.\(field)", message: message)
        }
        return try await environment.command("UpsertCustomer", requestID: request.requestID) { connection, principal, now in
            if !record.ownerRepID.isEmpty, try await directory.person(record.ownerRepID, on: connection) == nil {
                throw DomainError.invalidArgument(field: "customer.owner_rep_id", message: "'\(record.ownerRepID)' is not in the directory")
            }
            _ = try await directory.upsertCustomer(record, by: principal, at: now, requestID: request.requestID, on: connection)
            guard let stored = try await directory.customer(record.id, on: connection) else { throw DomainError.notFound(entity: "customer", id: record.id) }
            return DirectoryStore.proto(stored.0, updatedAt: stored.updatedAt)
        }
    }

    func getCustomer(_ request: Fieldwork_V1_GetCustomerRequest) async throws -> Fieldwork_V1_Customer {
        let id = try Input.text(request.id, field: "id", required: true)
        let view = try await DirectoryView(try Principal.required(), in: self)
        return try await environment.postgres.withConnection { connection in
            guard let stored = try await directory.customer(id, on: connection) else { throw DomainError.notFound(entity: "customer", id: id) }
            guard view.sees(stored.0) else { throw DomainError.permissionDenied("customer \(id) is outside your region") }
            return view.customer(DirectoryStore.proto(stored.0, updatedAt: stored.updatedAt))
        }
    }

    func listCustomers(_ request: Fieldwork_V1_ListCustomersRequest) async throws -> Fieldwork_V1_ListCustomersResponse {
        let page = try Page(request.page)
        let view = try await DirectoryView(try Principal.required(), in: self)
        let customers = try await directory.listCustomers(
            region: try Input.text(request.region, field: "region"), owner: try Input.text(request.ownerRepID, field: "owner_rep_id"),
            grade: try Input.text(request.grade, field: "grade"), visible: view.customerFilter, page: page)
        let finished = page.finish(customers) { $0.id }
        return .with { $0.customers = finished.rows.map(view.customer); $0.page = finished.page }
    }

    func upsertProduct(_ request: Fieldwork_V1_UpsertProductRequest) async throws -> Fieldwork_V1_Product {
        let p = request.product
        let record = ProductRecord(
            id: try Input.text(p.id, field: "product.id"), name: try Input.text(p.name, field: "product.name"),
            productLine: try Input.text(p.productLine, field: "product.product_line", max: 64))
        try record.validate { DomainError.invalidArgument(field: "product.\($0)", message: $1) }
        return try await environment.command("UpsertProduct", requestID: request.requestID) { connection, principal, now in
            _ = try await directory.upsertProduct(record, by: principal, at: now, requestID: request.requestID, on: connection)
            return DirectoryStore.proto(record)
        }
    }

    func listProducts(_ request: Fieldwork_V1_ListProductsRequest) async throws -> Fieldwork_V1_ListProductsResponse {
        let page = try Page(request.page)
        let products = try await directory.listProducts(productLine: try Input.text(request.productLine, field: "product_line"), page: page)
        let finished = page.finish(products) { $0.id }
        return .with { $0.products = finished.rows.map(DirectoryStore.proto); $0.page = finished.page }
    }

    /// All-or-nothing: every row is validated first (all errors reported by line
    /// and column), then the whole file is applied in one transaction.
    func importCsv(_ request: Fieldwork_V1_ImportCsvRequest) async throws -> Fieldwork_V1_ImportCsvResponse {
        let content = [UInt8](request.content)
        switch request.kind {
        case .people:
            let rows = try CsvFile.read(content, columns: PersonRecord.csvColumns, required: ["id", "name", "department", "roles"])
            let records = try CsvFile.records(rows, key: \.id, parse: PersonRecord.init(row:))
            return try await applyImport("people", requestID: request.requestID, records) { record, principal, now, connection in
                try await directory.upsertPerson(record, by: principal, at: now, requestID: request.requestID, on: connection)
            }
        case .customers:
            let rows = try CsvFile.read(content, columns: CustomerRecord.csvColumns, required: ["id", "name", "region", "latitude", "longitude"])
            let records = try CsvFile.records(rows, key: \.id, parse: CustomerRecord.init(row:))
            return try await applyImport("customers", requestID: request.requestID, records) { record, principal, now, connection in
                try await directory.upsertCustomer(record, by: principal, at: now, requestID: request.requestID, on: connection)
            }
        case .products:
            let rows = try CsvFile.read(content, columns: ProductRecord.csvColumns, required: ProductRecord.csvColumns)
            let records = try CsvFile.records(rows, key: \.id, parse: ProductRecord.init(row:))
            return try await applyImport("products", requestID: request.requestID, records) { record, principal, now, connection in
                try await directory.upsertProduct(record, by: principal, at: now, requestID: request.requestID, on: connection)
            }
        default:
            throw DomainError.invalidArgument(field: "kind", message: "the visits service imports PEOPLE, CUSTOMERS or PRODUCTS")
        }
    }

    private func applyImport<Record: Sendable>(
        _ kind: String, requestID: String, _ records: [(line: Int, record: Record)],
        _ upsert: (Record, Principal, Date, PostgresConnection) async throws -> DirectoryStore.Outcome
    ) async throws -> Fieldwork_V1_ImportCsvResponse {
        try await environment.command("ImportCsv", requestID: requestID) { connection, principal, now in
            var response = Fieldwork_V1_ImportCsvResponse()
            response.rowsRead = Int32(records.count)
            for (line, record) in records {
                let outcome: DirectoryStore.Outcome
                do {
                    outcome = try await upsert(record, principal, now, connection)
                } catch let error as DomainError {
                    // A rule that needs the database (e.g. a grade change): still reported by line.
                    throw CsvImportRefused(errors: [CsvRowError(line: line, column: "grade", message: error.description)])
                }
                switch outcome {
                case .created: response.rowsCreated += 1
                case .updated: response.rowsUpdated += 1
                case .unchanged: response.rowsUnchanged += 1
                }
            }
            environment.logger.info("csv imported", metadata: ["kind": "\(kind)", "rows": "\(records.count)"])
            return response
        }
    }

    func exportCsv(_ request: Fieldwork_V1_ExportCsvRequest) async throws -> Fieldwork_V1_ExportCsvResponse {
        let header: [String]
        var rows: [[String]] = []
        switch request.kind {
        case .people:
            header = PersonRecord.csvColumns
            for try await row in try await environment.postgres.query(
                "SELECT id, name, phone, wecom_user_id, department, region, supervisor_id, array_to_string(roles, '|') FROM people ORDER BY id",
                logger: environment.logger
            ).decode((String, String, String, String, String, String, String, String).self) {
                rows.append([row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7])
            }
        case .customers:
            header = CustomerRecord.csvColumns
            let result = try await environment.postgres.query(
                "SELECT \(unescaped: DirectoryStore.customerSelect) FROM customers ORDER BY id",
                logger: environment.logger)
            for try await row in result { rows.append(try DirectoryStore.decodeCustomer(row).0.csvValues) }
        case .products:
            header = ProductRecord.csvColumns
            for try await (id, name, line) in try await environment.postgres.query(
                "SELECT id, name, product_line FROM products WHERE active ORDER BY id", logger: environment.logger
            ).decode((String, String, String).self) { rows.append([id, name, line]) }
        default:
            throw DomainError.invalidArgument(field: "kind", message: "the visits service exports PEOPLE, CUSTOMERS or PRODUCTS")
        }
        let bytes = try CsvFile.write(header: header, rows: rows)
        return .with { $0.content = Data(bytes) }
    }
}
