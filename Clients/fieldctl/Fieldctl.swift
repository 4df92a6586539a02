import ArgumentParser
import FieldworkClientSupport
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
        subcommands: [Token.self, DevKeys.self, Health.self, Rpcs.self, RunJob.self, Audit.self, Deliver.self],
        groupedSubcommands: [
            CommandGroup(name: "Visits: directory", subcommands: [
                ImportCsv.self, ExportCsv.self, UpsertPerson.self, GetPerson.self, ListPeople.self, UpsertDepartment.self, ListDepartments.self,
                UpsertCustomer.self, GetCustomer.self, ListCustomers.self, UpsertProduct.self, ListProducts.self,
            ]),
            CommandGroup(name: "Visits: check-in and records", subcommands: [
                IssueCode.self, RotateCheckinKey.self, CheckIn.self, CheckOut.self, VerifyWatermark.self, GetVisit.self, ListVisits.self,
                UpdateVisitDraft.self, SubmitVisit.self, AmendVisit.self, VisitSummary.self,
            ]),
            CommandGroup(name: "Visits: plans, grades, objections, funnel", subcommands: [
                SetPlan.self, GetPlan.self, PlanCompletion.self, ProposeGrade.self, DecideGrade.self, ListGradeChanges.self,
                TopObjections.self, SetStage.self, GetFunnel.self, FunnelReport.self,
            ]),
            CommandGroup(name: "Workflows", subcommands: [
                UpsertTemplate.self, ListTemplates.self, CreateRequest.self, GetRequest.self, ListRequests.self,
                ListCards.self, GetCard.self, AcknowledgeCard.self, AddNote.self, AssignCard.self, SetCardStatus.self, CardTimeline.self,
                Upload.self, Download.self, ListAttachments.self, ResponseMetrics.self,
                UpsertApprovalChain.self, ListApprovalChains.self, SubmitApproval.self, Decide.self, GetApproval.self, ListApprovals.self,
            ]),
            CommandGroup(name: "Scoring", subcommands: [
                RecordFact.self, RecordContract.self, ModelConfigCommand.self, UpdateModelConfig.self, Model.self, RunScoring.self,
                GetCustomerHealth.self, CustomerHealth.self, Warnings.self, RecommendationsCommand.self, Effectiveness.self, Indicators.self,
                Rules.self, UpdateRule.self, Firings.self,
            ]),
            CommandGroup(name: "Notifications", subcommands: [
                Inbox.self, UnreadCount.self, MarkRead.self, MarkAllRead.self, Watch.self, Send.self, UpsertChannel.self, Channels.self,
                UpsertRoute.self, ListRoutes.self, UpsertMessageTemplate.self, ListMessageTemplates.self, Deliveries.self, Redeliver.self,
            ]),
        ]
    )

    /// Which command calls each RPC of the four services, in the order of the
    /// .proto files ("Service/Rpc" → command line). The one place to keep it:
    /// `fieldctl rpcs` prints it, README's fieldctl section summarises it, and
    /// FieldctlTests fails when an RPC in Proto/fieldwork/v1 is missing here or a
    /// command named here does not exist.
    static let rpcCoverage: [(rpc: String, command: String)] = [
        ("VisitsService/UpsertPerson", "upsert-person"),
        ("VisitsService/GetPerson", "get-person"),
        ("VisitsService/ListPeople", "list-people"),
        ("VisitsService/UpsertDepartment", "upsert-department"),
        ("VisitsService/ListDepartments", "list-departments"),
        ("VisitsService/UpsertCustomer", "upsert-customer"),
        ("VisitsService/GetCustomer", "get-customer"),
        ("VisitsService/ListCustomers", "list-customers"),
        ("VisitsService/UpsertProduct", "upsert-product"),
        ("VisitsService/ListProducts", "list-products"),
        ("VisitsService/ImportCsv", "import-csv --kind people|customers|products"),
        ("VisitsService/ExportCsv", "export-csv"),
        ("VisitsService/IssueCheckinCode", "issue-code"),
        ("VisitsService/RotateCheckinKey", "rotate-checkin-key"),
        ("VisitsService/CheckIn", "check-in"),
        ("VisitsService/CheckOut", "check-out"),
        ("VisitsService/VerifyWatermark", "verify-watermark"),
        ("VisitsService/GetVisit", "get-visit"),
        ("VisitsService/ListVisits", "list-visits"),
        ("VisitsService/UpdateVisitDraft", "update-visit-draft"),
        ("VisitsService/SubmitVisit", "submit-visit"),
        ("VisitsService/AmendVisit", "amend-visit"),
        ("VisitsService/VisitSummary", "visit-summary"),
        ("VisitsService/SetDailyPlan", "set-plan"),
        ("VisitsService/GetDailyPlan", "get-plan"),
        ("VisitsService/PlanCompletion", "plan-completion"),
        ("VisitsService/ProposeGradeChange", "propose-grade"),
        ("VisitsService/ConfirmGradeChange", "decide-grade <proposal> confirm"),
        ("VisitsService/RejectGradeChange", "decide-grade <proposal> reject"),
        ("VisitsService/ListGradeChanges", "list-grade-changes"),
        ("VisitsService/TopObjections", "top-objections"),
        ("VisitsService/SetStage", "set-stage"),
        ("VisitsService/GetFunnel", "get-funnel"),
        ("VisitsService/FunnelReport", "funnel-report"),
        ("VisitsService/Deliver", "deliver --service visits"),
        ("VisitsService/RunJob", "run-job --service visits"),
        ("VisitsService/ListAudit", "audit --service visits"),

        ("WorkflowsService/UpsertTemplate", "upsert-template"),
        ("WorkflowsService/ListTemplates", "list-templates"),
        ("WorkflowsService/CreateRequest", "create-request"),
        ("WorkflowsService/GetRequest", "get-request"),
        ("WorkflowsService/ListRequests", "list-requests"),
        ("WorkflowsService/GetCard", "get-card"),
        ("WorkflowsService/ListCards", "list-cards"),
        ("WorkflowsService/AcknowledgeCard", "ack"),
        ("WorkflowsService/AddNote", "note"),
        ("WorkflowsService/AssignCard", "assign"),
        ("WorkflowsService/SetCardStatus", "set-status"),
        ("WorkflowsService/CardTimeline", "timeline"),
        ("WorkflowsService/UploadAttachment", "upload"),
        ("WorkflowsService/DownloadAttachment", "download"),
        ("WorkflowsService/ListAttachments", "list-attachments"),
        ("WorkflowsService/ResponseMetrics", "response-metrics"),
        ("WorkflowsService/UpsertApprovalChain", "upsert-approval-chain"),
        ("WorkflowsService/ListApprovalChains", "list-approval-chains"),
        ("WorkflowsService/SubmitForApproval", "submit-approval"),
        ("WorkflowsService/Approve", "decide <approval> approve"),
        ("WorkflowsService/Reject", "decide <approval> reject"),
        ("WorkflowsService/GetApproval", "get-approval"),
        ("WorkflowsService/ListApprovals", "list-approvals"),
        ("WorkflowsService/Deliver", "deliver --service workflows"),
        ("WorkflowsService/RunJob", "run-job --service workflows"),
        ("WorkflowsService/ListAudit", "audit --service workflows"),

        ("ScoringService/RecordPurchase", "record-fact purchase"),
        ("ScoringService/RecordTrial", "record-fact trial"),
        ("ScoringService/RecordAcademicParticipation", "record-fact academic"),
        ("ScoringService/RecordContract", "record-contract contract"),
        ("ScoringService/ReviseContractTerms", "record-contract revise-terms"),
        ("ScoringService/RecordPayment", "record-contract payment"),
        ("ScoringService/ImportCsv", "import-csv --kind purchases|trials|academic-participations|contracts|payments"),
        ("ScoringService/GetModelConfig", "model-config"),
        ("ScoringService/UpdateModelConfig", "update-model-config"),
        ("ScoringService/ListModelVersions", "model"),
        ("ScoringService/RunScoring", "run-scoring"),
        ("ScoringService/GetCustomerHealth", "get-customer-health"),
        ("ScoringService/ListCustomerHealth", "customer-health"),
        ("ScoringService/HealthHistory", "customer-health --customer <id>"),
        ("ScoringService/ListWarnings", "warnings"),
        ("ScoringService/ListRecommendations", "recommendations"),
        ("ScoringService/EffectivenessReport", "effectiveness"),
        ("ScoringService/HardIndicators", "indicators"),
        ("ScoringService/ListRules", "rules"),
        ("ScoringService/UpdateRule", "update-rule"),
        ("ScoringService/ListRuleFirings", "firings"),
        ("ScoringService/ExplainFiring", "firings --id <firing>"),
        ("ScoringService/Deliver", "deliver --service scoring"),
        ("ScoringService/RunJob", "run-job --service scoring"),
        ("ScoringService/ListAudit", "audit --service scoring"),

        ("NotificationsService/ListInbox", "inbox"),
        ("NotificationsService/UnreadCount", "unread"),
        ("NotificationsService/MarkRead", "mark-read"),
        ("NotificationsService/MarkAllRead", "mark-all-read"),
        ("NotificationsService/Subscribe", "watch"),
        ("NotificationsService/Send", "send"),
        ("NotificationsService/UpsertChannel", "upsert-channel"),
        ("NotificationsService/ListChannels", "channels"),
        ("NotificationsService/UpsertRoute", "upsert-route"),
        ("NotificationsService/ListRoutes", "list-routes"),
        ("NotificationsService/UpsertTemplate", "upsert-message-template"),
        ("NotificationsService/ListTemplates", "list-message-templates"),
        ("NotificationsService/ListDeliveries", "deliveries"),
        ("NotificationsService/ListDeadLetters", "deliveries --dead"),
        ("NotificationsService/Redeliver", "redeliver"),
        ("NotificationsService/Deliver", "deliver --service notifications"),
        ("NotificationsService/RunJob", "run-job --service notifications"),
        ("NotificationsService/ListAudit", "audit --service notifications"),
    ]
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
            // The status on stderr and exit status 1, so scripts can tell a refusal from a success.
            FileHandle.standardError.write(Data("error: \(error.code): \(error.message)\n".utf8))
            throw ExitCode(1)
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

/// Today in the business time zone (FIELDWORK_TIME_ZONE, default Asia/Shanghai), YYYY-MM-DD.
func todayText() -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyy-MM-dd"
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: ProcessInfo.processInfo.environment["FIELDWORK_TIME_ZONE"] ?? "Asia/Shanghai")
    return formatter.string(from: Date())
}

func dateText(_ date: Fieldwork_V1_Date) -> String { String(format: "%04d-%02d-%02d", date.year, date.month, date.day) }

/// --from/--to as RFC 3339 times; either may be left out.
func timeRange(from: String?, to: String?) throws -> Fieldwork_V1_TimeRange {
    let formatter = ISO8601DateFormatter()
    var range = Fieldwork_V1_TimeRange()
    if let from {
        guard let date = formatter.date(from: from) else { throw ValidationError("--from is RFC 3339, e.g. 2026-11-01T00:00:00+08:00") }
        range.from = .init(date: date)
    }
    if let to {
        guard let date = formatter.date(from: to) else { throw ValidationError("--to is RFC 3339, e.g. 2026-12-01T00:00:00+08:00") }
        range.to = .init(date: date)
    }
    return range
}
