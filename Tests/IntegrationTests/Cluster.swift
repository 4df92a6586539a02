import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The four real executables as separate processes on free loopback ports,
/// each with a fresh database of its own on the test PostgreSQL server.
final class Cluster: @unchecked Sendable {
    enum Service: String, CaseIterable, Sendable { case visits, workflows, scoring, notifications }

    static let jwtSecret = "integration-test-secret-0123456789abcdef"
    static let subscribers: [Service: [Service]] = [
        .visits: [.workflows, .scoring, .notifications],
        .workflows: [.notifications, .scoring],
        .scoring: [.notifications],
        .notifications: [],
    ]

    let name: String
    let ports: [Service: Int]
    let logDirectory: URL
    private let pgPort: Int
    private let processes = Mutex<[Service: Process]>([:])
    /// Second replicas (same database, own port), killed at shutdown.
    private let replicas = Mutex<[Process]>([])
    /// The user-token issuer of this cluster: a key made for it, whose public half is in `jwksFile`.
    let signer: UserTokenSigner
    let jwksFile: URL
    /// The signing key as a PEM file, for the clients the tests run (fieldwork-demo).
    let signingKeyFile: URL

    /// Creates the four databases (each with its own login role); starts nothing yet.
    init(createDatabases: Set<Service> = Set(Service.allCases)) async throws {
        guard let portText = ProcessInfo.processInfo.environment["FIELDWORK_TEST_PG_PORT"], let pgPort = Int(portText) else {
            throw HarnessError("FIELDWORK_TEST_PG_PORT is not set: run the tests with `make test`")
        }
        self.pgPort = pgPort
        name = "fwit_" + UUID().uuidString.prefix(8).lowercased()
        var ports: [Service: Int] = [:]
        for service in Service.allCases { ports[service] = try Self.freePort() }
        self.ports = ports
        logDirectory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("fieldwork-it-\(name)")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        signer = await UserTokenSigner(generatingKeyID: "it-\(name)")
        jwksFile = logDirectory.appendingPathComponent("jwks.json")
        try UserTokenSigner.jwks([signer]).write(to: jwksFile, atomically: true, encoding: .utf8)
        signingKeyFile = logDirectory.appendingPathComponent("signing-key.pem")
        try signer.privateKeyPEM.write(to: signingKeyFile, atomically: true, encoding: .utf8)
        for service in Service.allCases {
            try psql("CREATE ROLE \(database(service)) LOGIN PASSWORD 'pw-\(service.rawValue)'")
            if createDatabases.contains(service) { try createDatabase(service) }
        }
    }

    func database(_ service: Service) -> String { "\(name)_\(service.rawValue)" }

    func createDatabase(_ service: Service) throws {
        try psql("CREATE DATABASE \(database(service)) OWNER \(database(service))")
    }

    func psql(_ sql: String, database: String = "postgres") throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "postgres", "-d", database, "-c", sql]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HarnessError("psql failed: \(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        }
    }

    /// One statement against the service's own database as the test superuser, its one value returned: for checks, and for a state no RPC reaches in a test's time (e.g. a day's 9 999th card).
    func scalar(_ service: Service, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "postgres", "-d", database(service), "-c", sql]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static var binDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["FIELDWORK_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        // Tests/IntegrationTests/Cluster.swift → repository root → .build/debug
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug")
    }

    func environment(for service: Service, extra: [String: String]) -> [String: String] {
        let prefix = "FIELDWORK_\(service.rawValue.uppercased())_"
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FIELDWORK_") }
        let settings: [String: String] = [
            "PORT": String(ports[service]!),
            "METRICS_PORT": "-1",
            "DATABASE_URL": "postgres://\(database(service)):pw-\(service.rawValue)@127.0.0.1:\(pgPort)/\(database(service))",
            "DATABASE_POOL_SIZE": "5",
            "JWT_SECRET": Self.jwtSecret,
            "JWKS_FILE": jwksFile.path,
            "SUBSCRIBERS": Self.subscribers[service]!.map { "\($0.rawValue)=127.0.0.1:\(ports[$0]!)" }.joined(separator: ","),
            "RELAY_INTERVAL_MS": "100",
            "RELAY_BACKOFF_BASE_MS": "100",
            "RELAY_BACKOFF_CAP_MS": "800",
            "CHECKIN_KEYS": "it1=integration-checkin-key-0123456789",
            "WATERMARK_KEY": "integration-watermark-key-0123456789",
            "LOG_LEVEL": "debug",
            // On the real clock a 09:30 cut-off would fail today's plans after breakfast;
            // PlanCutoffTests moves a simulated clock across it instead.
            "PLAN_CUTOFF": "24:00",
            // Every day a working day, so a test closes the same "no plan" days whatever the weekday.
            "PLAN_WORKDAYS": "1,2,3,4,5,6,7",
        ]
        for (key, value) in settings.merging(extra, uniquingKeysWith: { $1 }) where key != "FIELDWORK_ENV" { env[prefix + key] = value }
        // The secrets above are published in this repository: a service accepts them only on a development machine.
        env["FIELDWORK_ENV"] = extra["FIELDWORK_ENV"] ?? "dev"
        return env
    }

    /// Starts a service process (its output goes to a log file in `logDirectory`).
    func start(_ service: Service, extra: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = Self.binDirectory.appendingPathComponent("fieldwork-\(service.rawValue)")
        process.environment = environment(for: service, extra: extra)
        let log = logDirectory.appendingPathComponent("\(service.rawValue).log")
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes.withLock { $0[service] = process }
    }

    /// Starts another replica of a running service on its own port, sharing its
    /// database (as a second Kubernetes pod would); returns the replica's port.
    func startReplica(_ service: Service, extra: [String: String] = [:]) async throws -> Int {
        let port = try Self.freePort()
        let process = Process()
        process.executableURL = Self.binDirectory.appendingPathComponent("fieldwork-\(service.rawValue)")
        process.environment = environment(for: service, extra: extra.merging(["PORT": String(port)]) { $1 })
        let log = logDirectory.appendingPathComponent("\(service.rawValue)-replica-\(port).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        replicas.withLock { $0.append(process) }
        try await eventually("\(service.rawValue) replica on \(port) SERVING", timeout: .seconds(60)) {
            await self.health(port: port) == .serving
        }
        return port
    }

    /// - Parameter extra: settings for some of the services (e.g. a simulated clock for one).
    func startAll(extra: [Service: [String: String]] = [:]) async throws {
        for service in Service.allCases { try start(service, extra: extra[service] ?? [:]) }
        for service in Service.allCases { try await waitUntilServing(service) }
    }

    /// Sends `signal` and waits for the process to end; returns its exit status.
    @discardableResult
    func stop(_ service: Service, signal: Int32 = SIGTERM) async -> Int32 {
        guard let process = processes.withLock({ $0.removeValue(forKey: service) }) else { return -1 }
        kill(process.processIdentifier, signal)
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        return process.terminationStatus
    }

    func process(_ service: Service) -> Process? { processes.withLock { $0[service] } }

    func shutdown() async {
        for replica in replicas.withLock({ $0 }) where replica.isRunning {
            kill(replica.processIdentifier, SIGKILL)
            replica.waitUntilExit()
        }
        for service in Service.allCases { await stop(service, signal: SIGKILL) }
        for service in Service.allCases {
            try? psql("DROP DATABASE IF EXISTS \(database(service)) WITH (FORCE)")
            try? psql("DROP ROLE IF EXISTS \(database(service))")
        }
    }

    // MARK: Calls

    func token(_ person: String, _ roles: Set<Role>, department: String = "", region: String = "", validFor: TimeInterval = 3600) async throws -> String {
        try await signer.sign(Principal(personID: person, roles: roles, department: department, region: region), validFor: validFor)
    }

    /// A service token as the relays sign them (HS256, the services' secret), addressed to `target`.
    func serviceToken(to target: Service, from source: String = "visits") async throws -> String {
        try await TokenAuthority(jwks: UserTokenSigner.jwks([signer]), serviceSecret: Self.jwtSecret, service: source)
            .serviceToken(to: target.rawValue)
    }

    func metadata(_ token: String?) -> Metadata {
        var metadata: Metadata = [:]
        if let token { metadata.addString("Bearer \(token)", forKey: "authorization") }
        return metadata
    }

    func withClient<Result: Sendable>(
        _ service: Service, _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        try await withClient(port: ports[service]!, body)
    }

    func withClient<Result: Sendable>(
        port: Int, _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        try await withGRPCClient(
            transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        ) { client in try await body(client) }
    }

    func visits<Result: Sendable>(
        _ token: String?, _ body: @Sendable (Fieldwork_V1_VisitsService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Result
    ) async throws -> Result {
        let metadata = self.metadata(token)
        return try await withClient(.visits) { try await body(.init(wrapping: $0), metadata) }
    }

    func workflows<Result: Sendable>(
        _ token: String?, _ body: @Sendable (Fieldwork_V1_WorkflowsService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Result
    ) async throws -> Result {
        let metadata = self.metadata(token)
        return try await withClient(.workflows) { try await body(.init(wrapping: $0), metadata) }
    }

    func scoring<Result: Sendable>(
        _ token: String?, _ body: @Sendable (Fieldwork_V1_ScoringService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Result
    ) async throws -> Result {
        let metadata = self.metadata(token)
        return try await withClient(.scoring) { try await body(.init(wrapping: $0), metadata) }
    }

    func notifications<Result: Sendable>(
        _ token: String?, _ body: @Sendable (Fieldwork_V1_NotificationsService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Result
    ) async throws -> Result {
        let metadata = self.metadata(token)
        return try await withClient(.notifications) { try await body(.init(wrapping: $0), metadata) }
    }

    /// The settings of a service whose business clock only `setTime` moves, with
    /// the scheduled jobs off so that a jump in time fires nothing by itself.
    static let simulatedClock = ["SIMULATED_CLOCK": "on", "JOBS": "off"]

    /// Moves the business clock of a service started with SIMULATED_CLOCK=on (or of
    /// its replica on `port`): the only way a job may run as of a later time (SPEC §8.3).
    func setTime(_ service: Service, _ date: Date, port: Int? = nil) async throws {
        let admin = try await token("A0001", [.admin])
        _ = try await withClient(port: port ?? ports[service]!) { client in
            try await Fieldwork_V1_SimulationClock.Client(wrapping: client).setTime(.with { $0.now = .init(date: date) }, metadata: self.metadata(admin))
        }
    }

    func health(_ service: Service) async -> Grpc_Health_V1_HealthCheckResponse.ServingStatus? {
        await health(port: ports[service]!)
    }

    func health(port: Int) async -> Grpc_Health_V1_HealthCheckResponse.ServingStatus? {
        try? await withClient(port: port) { client in
            var options = CallOptions.defaults
            options.timeout = .seconds(2)
            return try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init(), options: options).status
        }
    }

    func waitUntilServing(_ service: Service, timeout: Duration = .seconds(60)) async throws {
        try await eventually("\(service.rawValue) SERVING", timeout: timeout) { await self.health(service) == .serving }
    }

    /// Polls `condition` until it holds or `timeout` passes.
    func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: @Sendable () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("timed out waiting for: \(what) (logs in \(logDirectory.path))")
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw HarnessError("bind() failed") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Cluster {
    /// A cluster for one test, always shut down (processes killed, databases
    /// dropped) whether the test passes or throws.
    static func with(createDatabases: Set<Service> = Set(Service.allCases), _ body: (Cluster) async throws -> Void) async throws {
        let cluster = try await Cluster(createDatabases: createDatabases)
        do {
            try await body(cluster)
        } catch {
            await cluster.shutdown()
            throw error
        }
        await cluster.shutdown()
    }
}
