import ArgumentParser
import FieldworkClientSupport
import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

private func visits(_ options: ClientOptions, _ body: @Sendable (Fieldwork_V1_VisitsService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Void) async throws {
    try await options.with(.visits) { client, metadata in try await body(Fieldwork_V1_VisitsService.Client(wrapping: client), metadata) }
}

extension Fieldwork_V1_CsvKind: ExpressibleByArgument {
    public static var allValueStrings: [String] {
        ["people", "customers", "products", "purchases", "trials", "academic-participations", "contracts", "payments"]
    }
    public static var defaultCompletionKind: CompletionKind { .list(allValueStrings) }

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
    static let configuration = CommandConfiguration(commandName: "issue-code", abstract: "Issue a signed check-in code for a customer (admin; operations staff for their region).")
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
    @Option(help: "PRICE, DELIVERY or QUALIFICATION", completion: .list(["PRICE", "DELIVERY", "QUALIFICATION"])) var objection: String?
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

// MARK: Directory

func personTable(_ people: [Fieldwork_V1_Person]) -> String {
    table(["id", "name", "department", "region", "supervisor", "roles", "phone", "wecom", "active"], people.map {
        [$0.id, $0.name, $0.department, $0.region, $0.supervisorID, $0.roles.joined(separator: ","), $0.phone, $0.wecomUserID, $0.active ? "yes" : "no"]
    })
}

struct UpsertPerson: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upsert-person", abstract: "Create or change a person (admin); fields not given keep their current values.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "employee number") var id: String
    @Option var name: String?
    @Option(help: "department code", completion: .list(DepartmentCode.allCases.map(\.rawValue))) var department: String?
    @Option var region: String?
    @Option(help: "supervisor's person id") var supervisor: String?
    @Option(parsing: .upToNextOption, help: "roles (replace the current ones)", completion: .list(Role.allCases.map(\.rawValue))) var role: [String] = []
    @Option var phone: String?
    @Option(help: "WeCom user id") var wecomUser: String?
    @Flag(inversion: .prefixedNo, help: "whether the person is active (default: unchanged; new people active)") var active: Bool?
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            var person: Fieldwork_V1_Person
            do {
                person = try await client.getPerson(.with { $0.id = id }, metadata: metadata, options: callOptions())
            } catch let error as RPCError where error.code == .notFound {
                person = .with { $0.id = id; $0.active = true }
            }
            if let name { person.name = name }
            if let department { person.department = department }
            if let region { person.region = region }
            if let supervisor { person.supervisorID = supervisor }
            if !role.isEmpty { person.roles = role }
            if let phone { person.phone = phone }
            if let wecomUser { person.wecomUserID = wecomUser }
            if let active { person.active = active }
            let edited = person
            let saved = try await client.upsertPerson(.with { $0.person = edited; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(saved) { personTable([saved]) }
        }
    }
}

struct GetPerson: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-person", abstract: "One person of the directory.")
    @OptionGroup var options: ClientOptions
    @Argument var id: String

    func run() async throws {
        try await visits(options) { client, metadata in
            let person = try await client.getPerson(.with { $0.id = id }, metadata: metadata, options: callOptions())
            try options.print(person) { personTable([person]) }
        }
    }
}

struct ListDepartments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-departments", abstract: "Departments and their heads.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.listDepartments(.with { $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) { table(["code", "name", "head"], response.departments.map { [$0.code, $0.name, $0.headPersonID] }) }
        }
    }
}

func customerDetail(_ c: Fieldwork_V1_Customer) -> String {
    table(["id", "name", "level", "region", "fence", "owner", "grade"], [[
        c.id, c.name, c.level, c.region, String(format: "%.4f,%.4f r=%dm", c.fenceCenter.latitude, c.fenceCenter.longitude, c.fenceRadiusM), c.ownerRepID, c.grade,
    ]])
        + "\n\nregistry code: \(c.registryCode)\naddress: \(c.address)\ndepartments: \(c.departments.joined(separator: ", "))\n"
        + table(["contact", "title", "department", "phone"], c.contacts.map { [$0.name, $0.title, $0.department, $0.phone] })
}

struct UpsertCustomer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upsert-customer",
        abstract: "Create or change a customer (admin); fields not given keep their current values. The grade changes only by propose-grade.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "customer id, e.g. H-ZJ-001") var id: String
    @Option var name: String?
    @Option var registryCode: String?
    @Option(help: "e.g. 三级甲等") var level: String?
    @Option var region: String?
    @Option var address: String?
    @Option(help: "fence centre latitude") var lat: Double?
    @Option(help: "fence centre longitude") var lon: Double?
    @Option(help: "fence radius in metres") var radius: Int32?
    @Option(help: "a hospital department, e.g. 骨科 (repeatable; replaces the list)") var department: [String] = []
    @Option(help: "a contact name/title/department/phone (repeatable; replaces the list)") var contact: [String] = []
    @Option(help: "owner rep id") var owner: String?
    @Option(help: "initial grade of a new customer: A, B or C") var grade: String?
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            var customer: Fieldwork_V1_Customer
            do {
                customer = try await client.getCustomer(.with { $0.id = id }, metadata: metadata, options: callOptions())
            } catch let error as RPCError where error.code == .notFound {
                customer = .with { $0.id = id }
            }
            if let name { customer.name = name }
            if let registryCode { customer.registryCode = registryCode }
            if let level { customer.level = level }
            if let region { customer.region = region }
            if let address { customer.address = address }
            if let lat { customer.fenceCenter.latitude = lat }
            if let lon { customer.fenceCenter.longitude = lon }
            if let radius { customer.fenceRadiusM = radius }
            if !department.isEmpty { customer.departments = department }
            if !contact.isEmpty {
                customer.contacts = contact.map { text in
                    let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
                    return .with {
                        $0.name = parts[0]
                        if parts.count > 1 { $0.title = parts[1] }
                        if parts.count > 2 { $0.department = parts[2] }
                        if parts.count > 3 { $0.phone = parts[3] }
                    }
                }
            }
            if let owner { customer.ownerRepID = owner }
            if let grade { customer.grade = grade }
            let edited = customer
            let saved = try await client.upsertCustomer(.with { $0.customer = edited; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(saved) { customerDetail(saved) }
        }
    }
}

struct GetCustomer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-customer", abstract: "One customer with its address, departments and contacts.")
    @OptionGroup var options: ClientOptions
    @Argument var id: String

    func run() async throws {
        try await visits(options) { client, metadata in
            let customer = try await client.getCustomer(.with { $0.id = id }, metadata: metadata, options: callOptions())
            try options.print(customer) { customerDetail(customer) }
        }
    }
}

struct UpsertProduct: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "upsert-product", abstract: "Add or change a catalogue product (admin).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "SKU") var id: String
    @Option var name: String
    @Option(help: "e.g. spine, trauma") var productLine: String
    @Flag(help: "withdraw it from the catalogue") var inactive = false
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let product = try await client.upsertProduct(.with {
                $0.requestID = requestID
                $0.product = .with { $0.id = id; $0.name = name; $0.productLine = productLine; $0.active = !inactive }
            }, metadata: metadata, options: callOptions())
            try options.print(product) {
                table(["id", "name", "product line", "active"], [[product.id, product.name, product.productLine, product.active ? "yes" : "no"]])
            }
        }
    }
}

// MARK: Check-in keys and check-out

struct RotateCheckinKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-checkin-key", abstract: "Start signing check-in codes with the next key; optionally stop accepting old ones (admin).")
    @OptionGroup var options: ClientOptions
    @Option(help: "a key id no longer accepted from now on (repeatable)") var retire: [String] = []
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.rotateCheckinKey(.with { $0.retireKeyIds = retire; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(response) { "active key: \(response.activeKeyID)\naccepted: \(response.acceptedKeyIds.joined(separator: ", "))" }
        }
    }
}

enum ObjectionArgument: String, ExpressibleByArgument, CaseIterable {
    case none, price, delivery, qualification
    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    var proto: Fieldwork_V1_ObjectionType {
        switch self {
        case .none: .unspecified
        case .price: .price
        case .delivery: .delivery
        case .qualification: .qualification
        }
    }
}

enum IntentArgument: String, ExpressibleByArgument, CaseIterable {
    case none, low, medium, high, trial
    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    var proto: Fieldwork_V1_IntentLevel {
        switch self {
        case .none: .none
        case .low: .low
        case .medium: .medium
        case .high: .high
        case .trial: .trial
        }
    }
}

enum StageArgument: String, ExpressibleByArgument, CaseIterable {
    case lead, visited, needsConfirmed = "needs-confirmed", quoted, trial, won, lost
    init?(argument: String) { self.init(rawValue: argument.lowercased().replacingOccurrences(of: "_", with: "-")) }
    var proto: Fieldwork_V1_FunnelStage {
        switch self {
        case .lead: .lead
        case .visited: .visited
        case .needsConfirmed: .needsConfirmed
        case .quoted: .quoted
        case .trial: .trial
        case .won: .won
        case .lost: .lost
        }
    }
}

func stageName(_ stage: Fieldwork_V1_FunnelStage) -> String {
    StageArgument.allCases.first { $0.proto == stage }.map { $0.rawValue.uppercased().replacingOccurrences(of: "-", with: "_") } ?? ""
}

/// The parts of a visit record to change; what is not given stays as it is.
struct VisitRecordOptions: ParsableArguments {
    @Option(parsing: .upToNextOption, help: "products discussed (catalogue ids; replaces the list)") var product: [String] = []
    @Option(help: "the objection heard") var objection: ObjectionArgument?
    @Option(help: "objection note") var note: String?
    @Option(help: "hospital department visited, e.g. 骨科") var department: String?
    @Option(help: "a contact met (repeatable; replaces the list)") var contact: [String] = []
    @Option(help: "a topic discussed (repeatable; replaces the list)") var topic: [String] = []
    @Option(help: "a commitment made (repeatable; replaces the list)") var commitment: [String] = []
    @Option var intent: IntentArgument?
    @Option(help: "funnel stage reached") var stage: StageArgument?
    @Option(help: "next step") var next: String?
    @Option(help: "surgery date YYYY-MM-DD: switches surgery support on") var supportDate: String?
    @Option(help: "surgery department, e.g. 骨科") var supportDepartment: String?

    var isEmpty: Bool {
        product.isEmpty && objection == nil && note == nil && department == nil && contact.isEmpty && topic.isEmpty && commitment.isEmpty
            && intent == nil && stage == nil && next == nil && supportDate == nil && supportDepartment == nil
    }

    func apply(to record: inout Fieldwork_V1_VisitRecord) throws {
        if !product.isEmpty { record.productIds = product }
        if let objection { record.objectionType = objection.proto }
        if let note { record.objectionNote = note }
        if let department { record.department = department }
        if !contact.isEmpty { record.contactsMet = contact }
        if !topic.isEmpty { record.topics = topic }
        if !commitment.isEmpty { record.commitments = commitment }
        if let intent { record.intent = intent.proto }
        if let stage { record.stageReached = stage.proto }
        if let next { record.nextStep = next }
        if let supportDate {
            record.surgerySupport.needed = true
            record.surgerySupport.surgeryDate = try protoDate(supportDate)
            if record.surgerySupport.productIds.isEmpty { record.surgerySupport.productIds = record.productIds }
        }
        if let supportDepartment { record.surgerySupport.department = supportDepartment }
    }
}

struct CheckOut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-out", abstract: "Check out of an open visit with a second GPS point, submitting its record (rep).")
    @OptionGroup var options: ClientOptions
    @Argument var visit: String
    @Option var lat: Double?
    @Option var lon: Double?
    @Option(help: "GPS accuracy in metres") var accuracy: Double = 10
    @OptionGroup(title: "Record changes (default: submit the draft as it is)") var record: VisitRecordOptions
    @Option(help: "client request id, for safe retries") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            var request = Fieldwork_V1_CheckOutRequest.with { $0.visitID = visit; $0.requestID = requestID }
            if let lat, let lon { request.location = .with { $0.latitude = lat; $0.longitude = lon; $0.accuracyM = accuracy } }
            if !record.isEmpty {
                var draft = try await client.getVisit(.with { $0.id = visit }, metadata: metadata, options: callOptions()).record
                try record.apply(to: &draft)
                request.record = draft
            }
            let finalRequest = request
            let response = try await client.checkOut(finalRequest, metadata: metadata, options: callOptions())
            try options.print(response) { visitTable([response]) }
        }
    }
}

struct UpdateVisitDraft: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update-visit-draft", abstract: "Save changes to an open visit's record without submitting it (rep).")
    @OptionGroup var options: ClientOptions
    @Argument var visit: String
    @OptionGroup(title: "Record changes") var record: VisitRecordOptions
    @Option(help: "client request id, for safe retries") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            var draft = try await client.getVisit(.with { $0.id = visit }, metadata: metadata, options: callOptions()).record
            try record.apply(to: &draft)
            let edited = draft
            let response = try await client.updateVisitDraft(
                .with { $0.visitID = visit; $0.record = edited; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(response) { visitTable([response]) }
        }
    }
}

struct AmendVisit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amend-visit", abstract: "Change a submitted visit's record, with a reason (rep; surgery support cannot be amended).")
    @OptionGroup var options: ClientOptions
    @Argument var visit: String
    @OptionGroup(title: "Record changes") var record: VisitRecordOptions
    @Option var reason: String
    @Option(help: "client request id, for safe retries") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            var amended = try await client.getVisit(.with { $0.id = visit }, metadata: metadata, options: callOptions()).record
            try record.apply(to: &amended)
            let edited = amended
            let response = try await client.amendVisit(
                .with { $0.visitID = visit; $0.record = edited; $0.reason = reason; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(response) { visitTable([response]) + "\namendments: \(response.amendments)" }
        }
    }
}

struct VisitSummary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visit-summary", abstract: "Visits per rep and customer with products, objections and intents (default: this ISO week).")
    @OptionGroup var options: ClientOptions
    @Option var rep = ""
    @Option(help: "period start, RFC 3339") var from: String?
    @Option(help: "period end, RFC 3339") var to: String?

    func run() async throws {
        let range = try timeRange(from: from, to: to)
        try await visits(options) { client, metadata in
            let response = try await client.visitSummary(.with { $0.repID = rep; $0.range = range; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            func counts(_ map: [String: Int32]) -> String { map.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
            try options.print(response) {
                table(["rep", "customer", "visits", "products", "objections", "intents"], response.rows.map {
                    [$0.repID, $0.customerID, String($0.visits), counts($0.productMentions), counts($0.objections), counts($0.intents)]
                })
            }
        }
    }
}

// MARK: Daily plans

func planTable(_ plan: Fieldwork_V1_DailyPlan) -> String {
    "\(plan.repID) \(dateText(plan.day))\(plan.closed ? " (closed)" : "")\n"
        + table(["#", "customer", "slot"], plan.visits.enumerated().map { [String($0 + 1), $1.customerID, $1.slot] })
}

struct SetPlan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-plan", abstract: "Set a day's visit plan (rep: own; manager: their team); fixed after PLAN_CUTOFF (09:30) that day.")
    @OptionGroup var options: ClientOptions
    @Option(help: "YYYY-MM-DD (default: today)") var day: String?
    @Option(help: "whose plan (default: yours)") var rep = ""
    @Option(help: "a planned customer, optionally with a slot: H-ZJ-001=09:00-10:00 (repeatable, in order)") var customer: [String] = []
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        let date = try protoDate(day ?? todayText())
        let planned = customer.map { text -> Fieldwork_V1_PlannedVisit in
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            return .with { $0.customerID = parts.first ?? ""; $0.slot = parts.count > 1 ? parts[1] : "" }
        }
        try await visits(options) { client, metadata in
            let plan = try await client.setDailyPlan(
                .with { $0.day = date; $0.repID = rep; $0.visits = planned; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(plan) { planTable(plan) }
        }
    }
}

struct GetPlan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-plan", abstract: "A rep's visit plan for a day.")
    @OptionGroup var options: ClientOptions
    @Option(help: "YYYY-MM-DD (default: today)") var day: String?
    @Option(help: "whose plan (default: yours)") var rep = ""

    func run() async throws {
        let date = try protoDate(day ?? todayText())
        try await visits(options) { client, metadata in
            let plan = try await client.getDailyPlan(.with { $0.day = date; $0.repID = rep }, metadata: metadata, options: callOptions())
            try options.print(plan) { planTable(plan) }
        }
    }
}

enum PlanScopeArgument: String, ExpressibleByArgument, CaseIterable {
    case rep, team, region
    var proto: Fieldwork_V1_PlanScope {
        switch self {
        case .rep: .rep
        case .team: .team
        case .region: .region
        }
    }
}

struct PlanCompletion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan-completion", abstract: "Planned customers with a valid visit ÷ planned, for a rep, a team or a region.")
    @OptionGroup var options: ClientOptions
    @Option(help: "rep (default), team (subject: supervisor id) or region") var scope: PlanScopeArgument = .rep
    @Option(help: "rep id, supervisor id or region (default: you)") var subject = ""
    @Option(help: "YYYY-MM-DD (default: today)") var day: String?

    func run() async throws {
        let date = try protoDate(day ?? todayText())
        try await visits(options) { client, metadata in
            let response = try await client.planCompletion(
                .with { $0.scope = scope.proto; $0.subject = subject; $0.day = date }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["rep", "planned", "valid", "rate"], response.reps.map {
                    [$0.repID, String($0.planned), String($0.valid), String(format: "%.1f%%", $0.rate * 100)]
                }) + String(format: "\n\ntotal: %d of %d planned, %.1f%%", response.valid, response.planned, response.rate * 100)
            }
        }
    }
}

// MARK: Grades

enum GradeChangeStatusArgument: String, ExpressibleByArgument, CaseIterable {
    case proposed, confirmed, rejected
    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    var proto: Fieldwork_V1_GradeChangeStatus {
        switch self {
        case .proposed: .proposed
        case .confirmed: .confirmed
        case .rejected: .rejected
        }
    }
}

func gradeChangeTable(_ changes: [Fieldwork_V1_GradeChange]) -> String {
    table(["proposal", "customer", "change", "status", "proposed", "by", "reason", "decided by", "decision reason"], changes.map { change in
        [change.id, change.customerID, "\(change.fromGrade)→\(change.toGrade)",
         GradeChangeStatusArgument.allCases.first { $0.proto == change.status }?.rawValue.uppercased() ?? "",
         timestamp(change.proposedAt), change.proposedBy, change.reason, change.decidedBy, change.decisionReason]
    })
}

struct ProposeGrade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "propose-grade", abstract: "Propose a customer's new grade; it changes when the owner's supervisor confirms.")
    @OptionGroup var options: ClientOptions
    @Option var customer: String
    @Option(help: "A, B or C", completion: .list(["A", "B", "C"])) var grade: String
    @Option var reason = ""
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let change = try await client.proposeGradeChange(
                .with { $0.customerID = customer; $0.toGrade = grade; $0.reason = reason; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(change) { gradeChangeTable([change]) }
        }
    }
}

enum GradeDecision: String, ExpressibleByArgument, CaseIterable { case confirm, reject }

struct DecideGrade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decide-grade", abstract: "Confirm or reject a grade change proposal (the owner's supervisor; a rejection needs --reason).")
    @OptionGroup var options: ClientOptions
    @Argument var proposal: String
    @Argument(help: "confirm or reject") var decision: GradeDecision
    @Option var reason = ""
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let request = Fieldwork_V1_DecideGradeChangeRequest.with { $0.proposalID = proposal; $0.reason = reason; $0.requestID = requestID }
            let change = decision == .confirm
                ? try await client.confirmGradeChange(request, metadata: metadata, options: callOptions())
                : try await client.rejectGradeChange(request, metadata: metadata, options: callOptions())
            try options.print(change) { gradeChangeTable([change]) }
        }
    }
}

struct ListGradeChanges: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-grade-changes", abstract: "Grade change proposals and decisions.")
    @OptionGroup var options: ClientOptions
    @Option var customer = ""
    @Option var status: GradeChangeStatusArgument?
    @Option(help: "proposed from, RFC 3339") var from: String?
    @Option(help: "proposed before, RFC 3339") var to: String?

    func run() async throws {
        let range = try timeRange(from: from, to: to)
        try await visits(options) { client, metadata in
            let response = try await client.listGradeChanges(.with {
                $0.customerID = customer
                if let status { $0.status = status.proto }
                $0.range = range
                $0.page.pageSize = 500
            }, metadata: metadata, options: callOptions())
            try options.print(response) { gradeChangeTable(response.changes) }
        }
    }
}

// MARK: Objections and the funnel

struct TopObjections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "top-objections", abstract: "The most frequent objections with example notes (default: the last 7 days).")
    @OptionGroup var options: ClientOptions
    @Option var region = ""
    @Option(help: "product id") var product = ""
    @Option(help: "hospital department, e.g. 骨科") var department = ""
    @Option(help: "period start, RFC 3339") var from: String?
    @Option(help: "period end, RFC 3339") var to: String?

    func run() async throws {
        let range = try timeRange(from: from, to: to)
        try await visits(options) { client, metadata in
            let response = try await client.topObjections(.with {
                $0.region = region; $0.productID = product; $0.department = department; $0.range = range
            }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["objection", "count", "examples"], response.top.map { [$0.objectionType, String($0.count), $0.exampleNotes.joined(separator: " / ")] })
            }
        }
    }
}

func funnelTable(_ entries: [Fieldwork_V1_FunnelEntry]) -> String {
    table(["customer", "product line", "stage", "changed", "by"], entries.map {
        [$0.customerID, $0.productLine, stageName($0.stage), timestamp($0.changedAt), $0.changedBy]
    })
}

struct SetStage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-stage", abstract: "Move a customer's funnel stage for a product line (the owner's managers, the region's director or admin).")
    @OptionGroup var options: ClientOptions
    @Option var customer: String
    @Option var productLine: String
    @Option var stage: StageArgument
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let entry = try await client.setStage(.with {
                $0.customerID = customer; $0.productLine = productLine; $0.stage = stage.proto; $0.requestID = requestID
            }, metadata: metadata, options: callOptions())
            try options.print(entry) { funnelTable([entry]) }
        }
    }
}

struct GetFunnel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-funnel", abstract: "A customer's funnel stage per product line.")
    @OptionGroup var options: ClientOptions
    @Option var customer: String
    @Option var productLine = ""

    func run() async throws {
        try await visits(options) { client, metadata in
            let response = try await client.getFunnel(
                .with { $0.customerID = customer; $0.productLine = productLine; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) { funnelTable(response.entries) }
        }
    }
}

struct FunnelReport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funnel-report", abstract: "Customer × product lines reaching each stage in a period, and the share reaching the next.")
    @OptionGroup var options: ClientOptions
    @Option var region = ""
    @Option var productLine = ""
    @Option(help: "period start, RFC 3339") var from: String?
    @Option(help: "period end, RFC 3339") var to: String?

    func run() async throws {
        let range = try timeRange(from: from, to: to)
        try await visits(options) { client, metadata in
            let response = try await client.funnelReport(
                .with { $0.region = region; $0.productLine = productLine; $0.range = range }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["stage", "count", "to next"], response.stages.map {
                    [stageName($0.stage), String($0.count), $0.stage == .won || $0.stage == .lost ? "" : String(format: "%.1f%%", $0.conversionToNext * 100)]
                })
            }
        }
    }
}
