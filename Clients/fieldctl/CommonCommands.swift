import ArgumentParser
import FieldworkClientSupport
import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint a development user token (ES256, signed with the key `fieldctl dev-keys` made) and print it.")

    @Option(help: "person id (subject)") var person: String
    @Option(parsing: .upToNextOption, help: "roles: rep academic kam manager director ops dept_head admin service",
            completion: .list(Role.allCases.map(\.rawValue))) var role: [String]
    @Option(help: "department code", completion: .list(DepartmentCode.allCases.map(\.rawValue))) var department = ""
    @Option(help: "region") var region = ""
    @Option(help: "validity in seconds (services refuse more than 12 h)") var ttl = 8 * 3600
    @OptionGroup var key: SigningKeyOptions

    func run() async throws {
        var roles = Set<Role>()
        for code in role {
            guard let parsed = Role(rawValue: code) else { throw ValidationError("unknown role '\(code)'") }
            roles.insert(parsed)
        }
        let signer = try await key.signer()
        print(try await signer.sign(Principal(personID: person, roles: roles, department: department, region: region), validFor: TimeInterval(ttl)))
    }
}

/// The user-token signing key of a development machine (never committed).
struct SigningKeyOptions: ParsableArguments {
    @Option(help: "PEM file of the ES256 signing key (env FIELDWORK_SIGNING_KEY)") var signingKey: String?
    @Option(help: "its key id, as the services' JWKS names it (env FIELDWORK_SIGNING_KEY_ID)") var keyID: String?
    @Option(help: "issuer") var issuer = "fieldwork"
    @Option(help: "audience") var audience = "fieldwork"

    func signer() async throws -> UserTokenSigner {
        let environment = ProcessInfo.processInfo.environment
        guard let path = signingKey ?? environment["FIELDWORK_SIGNING_KEY"] else {
            throw ValidationError("--signing-key or FIELDWORK_SIGNING_KEY is required (`fieldctl dev-keys` makes one)")
        }
        guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read the signing key '\(path)'") }
        return try await UserTokenSigner(
            privateKeyPEM: pem, keyID: keyID ?? environment["FIELDWORK_SIGNING_KEY_ID"] ?? "dev", issuer: issuer, audience: audience)
    }
}

struct DevKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-keys",
        abstract: "Make a development key pair for user tokens: DIR/signing-key.pem (private, for fieldctl token) and DIR/jwks.json (public, for the services).")

    @Option(help: "directory to write into (created)") var dir: String
    @Option(help: "key id") var keyID = "dev"

    func run() async throws {
        let signer = await UserTokenSigner(generatingKeyID: keyID)
        let folder = URL(fileURLWithPath: dir)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let key = folder.appendingPathComponent("signing-key.pem")
        FileManager.default.createFile(atPath: key.path, contents: Data(signer.privateKeyPEM.utf8), attributes: [.posixPermissions: 0o600])
        try UserTokenSigner.jwks([signer]).write(to: folder.appendingPathComponent("jwks.json"), atomically: true, encoding: .utf8)
        print(folder.appendingPathComponent("jwks.json").path)
    }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "grpc.health.v1 Check of one or all services.")
    @OptionGroup var options: ClientOptions
    @Option(help: "service to check (default: all four)") var service: ClientOptions.ServiceName?
    @Flag(help: "exit 1 unless every checked service is SERVING") var strict = false

    func run() async throws {
        var allServing = true
        for name in service.map({ [$0] }) ?? ClientOptions.ServiceName.allCases {
            let status: String
            do {
                status = try await options.with(name) { client, _ in
                    let response = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init(), options: callOptions())
                    return String(describing: response.status)
                }
            } catch {
                status = "unreachable"
            }
            if status != "serving" { allServing = false }
            print("\(name.rawValue)\t\(try options.endpoint(name))\t\(status)")
        }
        if strict && !allServing { throw ExitCode(1) }
    }
}

struct RunJob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run-job", abstract: "Run a service's job now (admin).")
    @OptionGroup var options: ClientOptions
    @Option var service: ClientOptions.ServiceName
    @Option var name: String
    @Option(help: "ISO 8601 time the job runs as of (default now)") var asOf: String?

    func run() async throws {
        var request = Fieldwork_V1_RunJobRequest.with { $0.name = name }
        if let asOf {
            guard let date = ISO8601DateFormatter().date(from: asOf) else { throw ValidationError("--as-of must be ISO 8601, e.g. 2026-03-05T18:00:00+08:00") }
            request.asOf = .init(date)
        }
        let finalRequest = request
        let response = try await options.with(service) { client, metadata -> Fieldwork_V1_RunJobResponse in
            switch service {
            case .visits: try await Fieldwork_V1_VisitsService.Client(wrapping: client).runJob(finalRequest, metadata: metadata, options: callOptions())
            case .workflows: try await Fieldwork_V1_WorkflowsService.Client(wrapping: client).runJob(finalRequest, metadata: metadata, options: callOptions())
            case .scoring: try await Fieldwork_V1_ScoringService.Client(wrapping: client).runJob(finalRequest, metadata: metadata, options: callOptions())
            case .notifications: try await Fieldwork_V1_NotificationsService.Client(wrapping: client).runJob(finalRequest, metadata: metadata, options: callOptions())
            }
        }
        try options.print(response) { "\(response.name): \(response.summary)" }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A service's audit trail of an entity or a person.")
    @OptionGroup var options: ClientOptions
    @Option var service: ClientOptions.ServiceName
    @Option var entityType = ""
    @Option var entityID = ""
    @Option var person = ""

    func run() async throws {
        let request = Fieldwork_V1_ListAuditRequest.with {
            $0.entityType = entityType
            $0.entityID = entityID
            $0.actorPersonID = person
            $0.page.pageSize = 500
        }
        let response = try await options.with(service) { client, metadata -> Fieldwork_V1_ListAuditResponse in
            switch service {
            case .visits: try await Fieldwork_V1_VisitsService.Client(wrapping: client).listAudit(request, metadata: metadata, options: callOptions())
            case .workflows: try await Fieldwork_V1_WorkflowsService.Client(wrapping: client).listAudit(request, metadata: metadata, options: callOptions())
            case .scoring: try await Fieldwork_V1_ScoringService.Client(wrapping: client).listAudit(request, metadata: metadata, options: callOptions())
            case .notifications: try await Fieldwork_V1_NotificationsService.Client(wrapping: client).listAudit(request, metadata: metadata, options: callOptions())
            }
        }
        try options.print(response) {
            table(["at", "actor", "role", "entity", "action", "changes"], response.entries.map { entry in
                [timestamp(entry.at), entry.actorPersonID, entry.actorRole, "\(entry.entityType)/\(entry.entityID.prefix(8))", entry.action,
                 entry.changes.map { "\($0.field): \($0.before.isEmpty ? "" : $0.before + " → ")\($0.after)" }.joined(separator: "; ")]
            })
        }
    }
}

struct Deliver: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hand one event to a service's Deliver RPC, as the outbox relay does (token role 'service'; a repeat is a no-op).",
        discussion: "For replaying or injecting an event by hand; the services deliver events to each other themselves.")
    @OptionGroup var options: ClientOptions
    @Option var service: ClientOptions.ServiceName
    @Option(help: "protobuf JSON of fieldwork.v1.Event ('-': standard input)", completion: .file(extensions: ["json"])) var eventFile: String

    func run() async throws {
        let event = try readJSON(Fieldwork_V1_Event.self, from: eventFile)
        let request = Fieldwork_V1_DeliverRequest.with { $0.event = event }
        let response = try await options.with(service) { client, metadata -> Fieldwork_V1_DeliverResponse in
            switch service {
            case .visits: try await Fieldwork_V1_VisitsService.Client(wrapping: client).deliver(request, metadata: metadata, options: callOptions())
            case .workflows: try await Fieldwork_V1_WorkflowsService.Client(wrapping: client).deliver(request, metadata: metadata, options: callOptions())
            case .scoring: try await Fieldwork_V1_ScoringService.Client(wrapping: client).deliver(request, metadata: metadata, options: callOptions())
            case .notifications: try await Fieldwork_V1_NotificationsService.Client(wrapping: client).deliver(request, metadata: metadata, options: callOptions())
            }
        }
        try options.print(response) {
            "\(request.event.type) \(request.event.id) → \(service.rawValue): \(response.duplicate ? "duplicate, nothing changed" : "delivered")"
        }
    }
}

struct Rpcs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every RPC of the four services and the fieldctl command that calls it.")
    @Option(help: "only this service") var service: ClientOptions.ServiceName?
    @Flag(help: "print JSON: {\"VisitsService/ListPeople\": \"list-people\", …}") var json = false

    func run() async throws {
        let prefix = service.map { $0.rawValue.prefix(1).uppercased() + $0.rawValue.dropFirst() + "Service/" } ?? ""
        let rows = Fieldctl.rpcCoverage.filter { $0.rpc.hasPrefix(prefix) }
        if json {
            let object = Dictionary(uniqueKeysWithValues: rows.map { ($0.rpc, $0.command) })
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(table(["rpc", "command"], rows.map { [$0.rpc, "fieldctl " + $0.command] }))
        }
    }
}
