import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// The TLS switch (issue 8): services serve and call each other over mTLS with
/// certificates of the deployment's own CA, made here with openssl; strangers
/// (no certificate, another CA's, plaintext) are turned away.
@Suite(.serialized) struct TransportSecurityTests {
    struct Certificates {
        var directory: URL
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        var ca: String { path("ca.pem") }
        var certificate: String { path("service.pem") }
        var key: String { path("service.key") }
        var rogueCA: String { path("rogue-ca.pem") }
        var rogueCertificate: String { path("rogue.pem") }
        var rogueKey: String { path("rogue.key") }
    }

    /// Two CAs (ours and a stranger's), each with one certificate for 127.0.0.1 usable by servers and clients.
    static func makeCertificates() throws -> Certificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fieldwork-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let extensions = directory.appendingPathComponent("leaf.cnf")
        try """
            subjectAltName = DNS:localhost, IP:127.0.0.1
            extendedKeyUsage = serverAuth, clientAuth
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature, keyEncipherment
            """.write(to: extensions, atomically: true, encoding: .utf8)
        for (ca, leaf) in [("ca", "service"), ("rogue-ca", "rogue")] {
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", "\(ca).key", "-out", "\(ca).pem", "-days", "2", "-subj", "/CN=\(ca) Fieldwork test",
                         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], in: directory)
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", "\(leaf).key", "-out", "\(leaf).csr", "-subj", "/CN=fieldwork-\(leaf)"], in: directory)
            try openssl(["x509", "-req", "-in", "\(leaf).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial",
                         "-out", "\(leaf).pem", "-days", "2", "-extfile", extensions.path], in: directory)
        }
        return Certificates(directory: directory)
    }

    static func openssl(_ arguments: [String], in directory: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw HarnessError("openssl \(arguments.joined(separator: " ")) failed") }
    }

    static func settings(_ certificates: Certificates) -> [String: String] {
        ["TLS_CERT_FILE": certificates.certificate, "TLS_KEY_FILE": certificates.key, "TLS_CA_FILE": certificates.ca]
    }

    static func mTLS(certificate: String, key: String, trusting ca: String) -> HTTP2ClientTransport.Posix.TransportSecurity {
        TransportSecurity(certificateFile: certificate, keyFile: key, caFile: ca, requireClientCertificate: true).client
    }

    static func withClient<Result: Sendable>(
        port: Int, _ security: HTTP2ClientTransport.Posix.TransportSecurity,
        _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        try await withGRPCClient(
            transport: .http2NIOPosix(target: Endpoint(host: "127.0.0.1", port: port).grpcTarget, transportSecurity: security)
        ) { client in try await body(client) }
    }

    /// The health status over `security`, or nil when the call does not get through.
    static func health(port: Int, _ security: HTTP2ClientTransport.Posix.TransportSecurity) async -> Grpc_Health_V1_HealthCheckResponse.ServingStatus? {
        try? await withClient(port: port, security) { client in
            var options = CallOptions.defaults
            options.timeout = .seconds(3)
            return try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init(), options: options).status
        }
    }

    @Test func servicesSpeakMutualTLSAndTurnStrangersAway() async throws {
        let certificates = try Self.makeCertificates()
        defer { try? FileManager.default.removeItem(at: certificates.directory) }
        let ours = Self.mTLS(certificate: certificates.certificate, key: certificates.key, trusting: certificates.ca)
        try await Cluster.with(createDatabases: [.visits, .notifications]) { cluster in
            let healthPort = try Cluster.freePort()
            try cluster.start(.visits, extra: Self.settings(certificates).merging(["HEALTH_PORT": String(healthPort)]) { $1 })
            try cluster.start(.notifications, extra: Self.settings(certificates))
            let visits = cluster.ports[.visits]!, notifications = cluster.ports[.notifications]!
            for port in [visits, notifications] {
                try await cluster.eventually("SERVING over mTLS on \(port)", timeout: .seconds(60)) {
                    await Self.health(port: port, ours) == .serving
                }
            }

            // Turned away: plaintext, TLS without a client certificate, a stranger's certificate,
            // and a client that trusts only the stranger's CA (our server certificate fails its check).
            let strangers: [(String, HTTP2ClientTransport.Posix.TransportSecurity)] = [
                ("plaintext", .plaintext),
                ("no client certificate", .tls { $0.trustRoots = .certificates([.file(path: certificates.ca, format: .pem)]) }),
                ("another CA's certificate", Self.mTLS(certificate: certificates.rogueCertificate, key: certificates.rogueKey, trusting: certificates.ca)),
                ("trusts another CA", Self.mTLS(certificate: certificates.rogueCertificate, key: certificates.rogueKey, trusting: certificates.rogueCA)),
            ]
            for (name, security) in strangers {
                let status = await Self.health(port: visits, security)
                #expect(status == nil, "\(name) got \(String(describing: status))")
            }
            // Probes that cannot speak TLS (kubelet's) get the serving status, and only that, in plaintext on HEALTH_PORT.
            #expect(await Self.health(port: healthPort, .plaintext) == .serving)
            let admin = try await cluster.token("A0001", [.admin])
            let onHealthPort = await rpcCode {
                _ = try await Self.withClient(port: healthPort, .plaintext) { client in
                    try await Fieldwork_V1_VisitsService.Client(wrapping: client).listPeople(.init(), metadata: ["authorization": "Bearer \(admin)"])
                }
            }
            #expect(onHealthPort == .unimplemented)

            // Service to service: the directory imported into visits reaches notifications over mTLS.
            _ = try await Self.withClient(port: visits, ours) { client in
                try await Fieldwork_V1_VisitsService.Client(wrapping: client).importCsv(
                    .with { $0.kind = .people; $0.content = Data(DemoData.people.utf8) },
                    metadata: ["authorization": "Bearer \(admin)"])
            }
            let people = String(DemoData.people.split(separator: "\n").count - 1)
            try await cluster.eventually("notifications has the directory, delivered over mTLS") {
                try cluster.scalar(.notifications, "SELECT count(*) FROM directory_people") == people
            }
        }
    }

    @Test func plaintextIsForLoopbackUnlessAllowed() throws {
        #expect(throws: Never.self) { try TransportSecurity.checkPlaintext(host: "127.0.0.1", allowed: false, prefix: "X_") }
        #expect(throws: Never.self) { try TransportSecurity.checkPlaintext(host: "::1", allowed: false, prefix: "X_") }
        #expect(throws: ConfigurationError.self) { try TransportSecurity.checkPlaintext(host: "0.0.0.0", allowed: false, prefix: "X_") }
        #expect(throws: ConfigurationError.self) { try TransportSecurity.checkPlaintext(host: "10.1.2.3", allowed: false, prefix: "X_") }
        #expect(throws: Never.self) { try TransportSecurity.checkPlaintext(host: "0.0.0.0", allowed: true, prefix: "X_") }

        // Settings: none → plaintext; some but not all TLS files → refused; unreadable file → refused.
        func resolve(_ environment: [String: String]) throws -> TransportSecurity? {
            let configuration = try ServiceConfiguration(
                service: "visits", settings: ServiceConfiguration.commonSettings(defaultPort: 7101, defaultMetricsPort: 9101, database: "x"),
                arguments: [], environment: environment.merging(["FIELDWORK_VISITS_JWT_SECRET": "s", "FIELDWORK_VISITS_JWKS_FILE": "/x"]) { $1 })
            return try TransportSecurity.resolve(configuration)
        }
        #expect(try resolve([:]) == nil)
        #expect(throws: ConfigurationError.self) { try resolve(["FIELDWORK_VISITS_HOST": "0.0.0.0"]) }
        #expect(try resolve(["FIELDWORK_VISITS_HOST": "0.0.0.0", "FIELDWORK_VISITS_ALLOW_PLAINTEXT": "on"]) == nil)
        #expect(throws: ConfigurationError.self) { try resolve(["FIELDWORK_VISITS_TLS_CERT_FILE": "/etc/hostname"]) }
        #expect(throws: ConfigurationError.self) {
            try resolve(["FIELDWORK_VISITS_TLS_CERT_FILE": "/nonexistent", "FIELDWORK_VISITS_TLS_KEY_FILE": "/nonexistent", "FIELDWORK_VISITS_TLS_CA_FILE": "/nonexistent"])
        }
    }
}
