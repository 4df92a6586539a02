import ArgumentParser
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

private func visits(_ options: ClientOptions, _ body: @Sendable (Fieldwork_V1_VisitsService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Void) async throws {
    try await options.with(.visits) { client, metadata in try await body(Fieldwork_V1_VisitsService.Client(wrapping: client), metadata) }
}

extension Fieldwork_V1_CsvKind: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument.lowercased() {
        case "people": self = .people
        case "customers": self = .customers
        case "products": self = .products
        case "purchases": self = .purchases
        case "trials": self = .trials
        case "academic-participations": self = .academicParticipations
        case "contracts": self = .contracts
        case "payments": self = .payments
        default: return nil
        }
    }
}

struct ImportCsv: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-csv",
        abstract: "Import a CSV file: people, customers or products (visits, admin); purchases, trials, academic-participations, contracts or payments (scoring, admin or ops).")
    @OptionGroup var options: ClientOptions
    @Option(help: "people, customers, products, purchases, trials, academic-participations, contracts or payments") var kind: Fieldwork_V1_CsvKind
    @Argument var file: String

    func run() async throws {
        let content = try Data(contentsOf: URL(fileURLWithPath: file))
        let request = Fieldwork_V1_ImportCsvRequest.with { $0.kind = kind; $0.content = content; $0.requestID = "import-\(UUID())" }
        let summary = { @Sendable (response: Fieldwork_V1_ImportCsvResponse) in
            "\(file): \(response.rowsRead) rows — \(response.rowsCreated) created, \(response.rowsUpdated) updated, \(response.rowsUnchanged) unchanged"
        }
        if [.people, .customers, .products].contains(kind) {
            try await visits(options) { client, metadata in
                let response = try await client.importCsv(request, metadata: metadata, options: callOptions())
                try options.print(response) { summary(response) }
            }
        } else {
            try await scoring(options) { client, metadata in
                let response = try await client.importCsv(request, metadata: metadata, options: callOptions())
                try options.print(response) { summary(response) }
            }
        }
    }
}

struct ExportCsv: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export-csv", abstract: "Export people, customers or products as CSV (admin).")
    @OptionGroup var options: ClientOptions
    @Option var kind: Fieldwork_V1_CsvKind

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.exportCsv(.with { $0.kind = kind }, metadata: metadata, options: callOptions())
            FileHandle.standardOutput.write(response.content)
        }
    }
}

struct ListPeople: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-people", abstract: "The directory's people.")
    @OptionGroup var options: ClientOptions
    @Option var department = ""
    @Option var region = ""
    @Option var role = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.listPeople(
                .with { $0.department = department; $0.region = region; $0.role = role; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["id", "name", "department", "region", "supervisor", "roles"], response.people.map {
                    [$0.id, $0.name, $0.department, $0.region, $0.supervisorID, $0.roles.joined(separator: ",")]
                })
            }
        }
    }
}

struct ListCustomers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-customers", abstract: "The directory's customers (hospitals).")
    @OptionGroup var options: ClientOptions
    @Option var region = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.listCustomers(.with { $0.region = region; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["id", "name", "level", "region", "fence", "owner", "grade"], response.customers.map {
                    [$0.id, $0.name, $0.level, $0.region,
                     String(format: "%.4f,%.4f r=%dm", $0.fenceCenter.latitude, $0.fenceCenter.longitude, $0.fenceRadiusM), $0.ownerRepID, $0.grade]
                })
            }
        }
    }
}

struct ListProducts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-products", abstract: "The product catalogue.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.listProducts(.with { $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) { table(["id", "name", "product line"], response.products.map { [$0.id, $0.name, $0.productLine] }) }
        }
    }
}

struct IssueCode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "issue-code", abstract: "Issue a signed check-in code for a customer (admin, manager).")
    @OptionGroup var options: ClientOptions
    @Option var customer: String
    @Option var department = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.issueCheckinCode(.with { $0.customerID = customer; $0.department = department }, metadata: metadata, options: callOptions())
            try options.print(response) { response.token }
        }
    }
}

func visitTable(_ visits: [Fieldwork_V1_Visit]) -> String {
    table(["visit", "rep", "customer", "status", "distance", "checked in", "products", "objection", "support"], visits.map { v in
        [v.id, v.repID, v.customerID, "\(v.status)".uppercased() + (v.outOfRange ? " OUT_OF_RANGE" : "") + (v.voidReason.isEmpty ? "" : " \(v.voidReason)"),
         v.status == .void ? "-" : "\(Int(v.distanceM)) m", timestamp(v.checkedInAt), v.record.productIds.joined(separator: ","),
         v.record.objectionType == .unspecified ? "" : "\(v.record.objectionType)".uppercased(),
         v.record.surgerySupport.needed
            ? String(format: "%04d-%02d-%02d %@", v.record.surgerySupport.surgeryDate.year, v.record.surgerySupport.surgeryDate.month,
                     v.record.surgerySupport.surgeryDate.day, v.record.surgerySupport.department) : ""]
    })
}

struct CheckIn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-in", abstract: "Check in at a customer with a scanned code and GPS (rep).")
    @OptionGroup var options: ClientOptions
    @Option(help: "the scanned check-in code") var code: String
    @Option var lat: Double?
    @Option var lon: Double?
    @Option(help: "GPS accuracy in metres") var accuracy: Double = 10
    @Option(help: "client request id, for safe retries") var requestID = ""

    func run() async throws {
        var request = Fieldwork_V1_CheckInRequest.with { $0.code = code; $0.requestID = requestID; $0.deviceTime = .init(Date()) }
        if let lat, let lon { request.location = .with { $0.latitude = lat; $0.longitude = lon; $0.accuracyM = accuracy } }
        let finalRequest = request
        try await visits(options) { client, metadata in
            let visit = try await client.checkIn(finalRequest, metadata: metadata, options: callOptions())
            try options.print(visit) { visitTable([visit]) }
        }
    }
}

struct SubmitVisit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit-visit", abstract: "Fill in and submit a visit record, optionally with surgery support (rep).")
    @OptionGroup var options: ClientOptions
    @Option var visit: String
    @Option(parsing: .upToNextOption, help: "products discussed (catalogue ids)") var product: [String]
    @Option(help: "PRICE, DELIVERY or QUALIFICATION") var objection: String?
    @Option var note = ""
    @Option var department = ""
    @Option(help: "next step") var next = ""
    @Option(help: "surgery date YYYY-MM-DD: switches surgery support on") var supportDate: String?
    @Option(help: "surgery department, e.g. 骨科") var supportDepartment = ""
    @Option(help: "GPS of the check-out point: lat,lon") var checkout: String?
    @Option var requestID = ""

    func run() async throws {
        var record = Fieldwork_V1_VisitRecord.with {
            $0.productIds = product
            $0.objectionNote = note
            $0.department = department
            $0.nextStep = next
            $0.intent = .medium
            $0.stageReached = .visited
        }
        if let objection {
            switch objection.uppercased() {
            case "PRICE": record.objectionType = .price
            case "DELIVERY": record.objectionType = .delivery
            case "QUALIFICATION": record.objectionType = .qualification
            default: throw ValidationError("--objection must be PRICE, DELIVERY or QUALIFICATION")
            }
        }
        if let supportDate {
            let parts = supportDate.split(separator: "-").compactMap { Int32($0) }
            guard parts.count == 3 else { throw ValidationError("--support-date must be YYYY-MM-DD") }
            record.surgerySupport = .with {
                $0.needed = true
                $0.surgeryDate = .with { $0.year = parts[0]; $0.month = parts[1]; $0.day = parts[2] }
                $0.department = supportDepartment
                $0.productIds = product
            }
        }
        var request = Fieldwork_V1_SubmitVisitRequest.with { $0.visitID = visit; $0.record = record; $0.requestID = requestID }
        if let checkout {
            let parts = checkout.split(separator: ",").compactMap { Double($0) }
            guard parts.count == 2 else { throw ValidationError("--checkout must be lat,lon") }
            request.location = .with { $0.latitude = parts[0]; $0.longitude = parts[1]; $0.accuracyM = 10 }
        }
        let finalRequest = request
        try await visits(options) { client, metadata in
            let visit = try await client.submitVisit(finalRequest, metadata: metadata, options: callOptions())
            try options.print(visit) { visitTable([visit]) }
        }
    }
}

struct GetVisit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-visit", abstract: "One visit record.")
    @OptionGroup var options: ClientOptions
    @Argument var id: String

    func run() async throws {
        try await visits(options) { client, metadata in
            let visit = try await client.getVisit(.with { $0.id = id }, metadata: metadata, options: callOptions())
            try options.print(visit) { visitTable([visit]) }
        }
    }
}

struct ListVisits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-visits", abstract: "Visits you may see (own, team, region or all).")
    @OptionGroup var options: ClientOptions
    @Option var rep = ""
    @Option var customer = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.listVisits(.with { $0.repID = rep; $0.customerID = customer; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) { visitTable(response.visits) }
        }
    }
}

struct VerifyWatermark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify-watermark", abstract: "Check a visit's GPS watermark.")
    @OptionGroup var options: ClientOptions
    @Argument var visit: String

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.verifyWatermark(.with { $0.visitID = visit }, metadata: metadata, options: callOptions())
            try options.print(response) { "\(response.visitID): watermark \(response.valid ? "valid" : "INVALID")" }
        }
    }
}

struct UpsertDepartment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "upsert-department", abstract: "Create or change a department and its head (admin).")
    @OptionGroup var options: ClientOptions
    @Argument var code: String
    @Argument var name: String
    @Option var head = ""

    func run() async throws {
        try await options.with(.visits) { client, metadata in
            let response = try await Fieldwork_V1_VisitsService.Client(wrapping: client).upsertDepartment(.with {
                $0.department = .with { $0.code = code; $0.name = name; $0.headPersonID = head }
            }, metadata: metadata, options: callOptions())
            try options.print(response) { table(["code", "name", "head"], [[response.code, response.name, response.headPersonID]]) }
        }
    }
}
