import ArgumentParser
import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf

/// The command-line client for Fieldwork's RPCs.
@main
struct Fieldctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldctl",
        abstract: "Command-line client for the Fieldwork services.",
        discussion: """
            Addresses come from --visits/--workflows/--scoring/--notifications or FIELDWORK_<SERVICE>_ADDR
            (defaults 127.0.0.1:7101…7104); the token from --token or FIELDWORK_TOKEN.
            """,
        subcommands: [
            Token.self, Health.self,
            ImportCsv.self, ExportCsv.self, UpsertDepartment.self, ListPeople.self, ListCustomers.self, ListProducts.self,
            IssueCode.self, CheckIn.self, SubmitVisit.self, GetVisit.self, ListVisits.self, VerifyWatermark.self,
            ListTemplates.self, CreateRequest.self, ListRequests.self, ListCards.self, GetCard.self,
            AcknowledgeCard.self, AddNote.self, AssignCard.self, SetCardStatus.self, CardTimeline.self, Upload.self, Download.self,
            ResponseMetrics.self, SubmitApproval.self, Decide.self, ListApprovals.self,
            RecordFact.self, RecordContract.self, RunScoring.self, CustomerHealth.self, Model.self, Warnings.self,
            Rules.self, UpdateRule.self, Firings.self, RecommendationsCommand.self, Effectiveness.self, Indicators.self,
            Inbox.self, UnreadCount.self, Watch.self, Send.self, UpsertChannel.self, Channels.self, Deliveries.self, Redeliver.self,
            RunJob.self, Audit.self,
        ]
    )
}

/// Where the services are, who is calling, and how to print.
struct ClientOptions: ParsableArguments {
    @Option(help: "visits service address (env FIELDWORK_VISITS_ADDR)") var visits: String?
    @Option(help: "workflows service address (env FIELDWORK_WORKFLOWS_ADDR)") var workflows: String?
    @Option(help: "scoring service address (env FIELDWORK_SCORING_ADDR)") var scoring: String?
    @Option(help: "notifications service address (env FIELDWORK_NOTIFICATIONS_ADDR)") var notifications: String?
    @Option(help: "bearer token (env FIELDWORK_TOKEN); mint one with 'fieldctl token'") var token: String?
    @Flag(help: "print protobuf JSON instead of a table") var json = false
    @Option(help: "PEM CA that signed the services' certificates: use TLS (env FIELDWORK_TLS_CA)") var tlsCA: String?
    @Option(help: "PEM client certificate for mTLS (env FIELDWORK_TLS_CERT)") var tlsCert: String?
    @Option(help: "PEM key of --tls-cert (env FIELDWORK_TLS_KEY)") var tlsKey: String?

    enum ServiceName: String, ExpressibleByArgument, CaseIterable { case visits, workflows, scoring, notifications }

    func endpoint(_ service: ServiceName) throws -> FieldworkRuntime.Endpoint {
        let flag: String? = switch service {
        case .visits: visits
        case .workflows: workflows
        case .scoring: scoring
        case .notifications: notifications
        }
        let defaults: [ServiceName: String] = [.visits: "127.0.0.1:7101", .workflows: "127.0.0.1:7102", .scoring: "127.0.0.1:7103", .notifications: "127.0.0.1:7104"]
        let text = flag ?? ProcessInfo.processInfo.environment["FIELDWORK_\(service.rawValue.uppercased())_ADDR"] ?? defaults[service]!
        guard let endpoint = FieldworkRuntime.Endpoint(text) else { throw ValidationError("\(service.rawValue) address '\(text)' is not host:port") }
        return endpoint
    }

    var metadata: Metadata {
        var metadata: Metadata = [:]
        if let token = token ?? ProcessInfo.processInfo.environment["FIELDWORK_TOKEN"], !token.isEmpty {
            metadata.addString("Bearer \(token)", forKey: "authorization")
        }
        return metadata
    }

    /// Plaintext unless a CA is given; with a certificate and key as well, mTLS.
    func transportSecurity() throws -> HTTP2ClientTransport.Posix.TransportSecurity {
        let environment = ProcessInfo.processInfo.environment
        guard let ca = tlsCA ?? environment["FIELDWORK_TLS_CA"], !ca.isEmpty else { return .plaintext }
        let certificate = tlsCert ?? environment["FIELDWORK_TLS_CERT"] ?? ""
        let key = tlsKey ?? environment["FIELDWORK_TLS_KEY"] ?? ""
        if certificate.isEmpty != key.isEmpty { throw ValidationError("--tls-cert and --tls-key go together") }
        if certificate.isEmpty {
            return .tls { $0.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
        }
        return TransportSecurity(certificateFile: certificate, keyFile: key, caFile: ca, requireClientCertificate: true).client
    }

    /// Runs `body` with a connected client to `service`.
    func with<Result: Sendable>(
        _ service: ServiceName, _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Metadata) async throws -> Result
    ) async throws -> Result {
        let endpoint = try endpoint(service)
        let metadata = self.metadata
        do {
            return try await withGRPCClient(
                transport: .http2NIOPosix(target: endpoint.grpcTarget, transportSecurity: try transportSecurity())
            ) { client in try await body(client, metadata) }
        } catch let error as RPCError {
            throw CleanExit.message("error: \(error.code): \(error.message)")
        }
    }

    func print<M: SwiftProtobuf.Message>(_ message: M, table: () -> String) throws {
        if json {
            var options = JSONEncodingOptions()
            options.preserveProtoFieldNames = true
            Swift.print(try message.jsonString(options: options))
        } else {
            Swift.print(table())
        }
    }
}

/// Left-aligned columns, widths by display width (CJK characters count double).
func table(_ header: [String], _ rows: [[String]]) -> String {
    func width(_ s: String) -> Int { s.unicodeScalars.reduce(0) { $0 + ($1.value >= 0x1100 && $1.properties.isIdeographic || ($1.value >= 0xFF00 && $1.value <= 0xFFEF) || ($1.value >= 0x3000 && $1.value <= 0x303F) ? 2 : 1) } }
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { width($0[column]) }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { $1 + String(repeating: " ", count: widths[$0] - width($1)) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces)
    }
    var lines = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
    lines += rows.map(line)
    if rows.isEmpty { lines.append("(none)") }
    return lines.joined(separator: "\n")
}

func timestamp(_ t: Google_Protobuf_Timestamp, present: Bool = true) -> String {
    guard present else { return "" }
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyy-MM-dd HH:mm"
    formatter.timeZone = TimeZone(identifier: ProcessInfo.processInfo.environment["FIELDWORK_TIME_ZONE"] ?? "Asia/Shanghai")
    return formatter.string(from: t.date)
}

func callOptions() -> CallOptions {
    var options = CallOptions.defaults
    options.timeout = .seconds(30)
    return options
}
