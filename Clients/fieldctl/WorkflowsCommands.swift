import FieldworkClientSupport
import ArgumentParser
import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf

private func workflows(_ options: ClientOptions, _ body: @Sendable (Fieldwork_V1_WorkflowsService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Void) async throws {
    try await options.with(.workflows) { client, metadata in try await body(Fieldwork_V1_WorkflowsService.Client(wrapping: client), metadata) }
}

func cardTable(_ cards: [Fieldwork_V1_Card]) -> String {
    table(["number", "department", "status", "title", "due", "escalation"], cards.map {
        [$0.number, $0.department, statusName($0.status), $0.title, timestamp($0.dueAt), $0.escalationLevel == 0 ? "" : "level \($0.escalationLevel)"]
    })
}

struct ListTemplates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-templates", abstract: "Request templates (cards per department).")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.listTemplates(.with { $0.includeInactive = true }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["id", "version", "name", "prefix", "trigger", "cards"], response.templates.map {
                    [$0.id, String($0.version), $0.name, $0.numberPrefix, $0.triggerEventType, $0.cards.map(\.department).joined(separator: ",")]
                })
            }
        }
    }
}

struct ListRequests: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-requests", abstract: "Cross-department requests you may see.")
    @OptionGroup var options: ClientOptions
    @Option var requester = ""

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.listRequests(.with { $0.requesterID = requester; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["request", "template", "requester", "customer", "status", "cards"], response.requests.map {
                    [$0.id, $0.templateID, $0.requesterID, $0.customerID, "\($0.status)".uppercased(), $0.cards.map(\.number).joined(separator: " ")]
                })
            }
        }
    }
}

struct ListCards: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-cards", abstract: "Task cards you may see (your department's, your requests').")
    @OptionGroup var options: ClientOptions
    @Option var department = ""

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.listCards(.with { $0.department = department; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) { cardTable(response.cards) }
        }
    }
}

struct GetCard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-card", abstract: "One card, by id or number.")
    @OptionGroup var options: ClientOptions
    @Argument var card: String

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.getCard(.with { $0.id = card }, metadata: metadata, options: callOptions())
            try options.print(response) { cardTable([response]) + "\n\n" + response.description_p }
        }
    }
}

func statusName(_ status: Fieldwork_V1_CardStatus) -> String {
    switch status {
    case .open: "OPEN"
    case .inProgress: "IN_PROGRESS"
    case .done: "DONE"
    case .cancelled: "CANCELLED"
    default: ""
    }
}

func cardStatus(_ text: String) throws -> Fieldwork_V1_CardStatus {
    switch text.uppercased() {
    case "IN_PROGRESS": .inProgress
    case "DONE": .done
    case "CANCELLED": .cancelled
    case "OPEN": .open
    default: throw ValidationError("status must be IN_PROGRESS, DONE or CANCELLED")
    }
}

struct AcknowledgeCard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ack", abstract: "Acknowledge a card (its department's first response).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "card id or number") var card: String

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.acknowledgeCard(.with { $0.cardID = card }, metadata: metadata, options: callOptions())
            try options.print(response) { cardTable([response]) }
        }
    }
}

struct AddNote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "note", abstract: "Add a progress note to a card.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "card id or number") var card: String
    @Argument var text: String

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.addNote(.with { $0.cardID = card; $0.text = text }, metadata: metadata, options: callOptions())
            try options.print(response) { cardTable([response]) }
        }
    }
}

struct AssignCard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "assign", abstract: "Assign a card to a member of its department (empty: unassign).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "card id or number") var card: String
    @Argument var person: String = ""

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.assignCard(.with { $0.cardID = card; $0.assigneeID = person }, metadata: metadata, options: callOptions())
            try options.print(response) { cardTable([response]) }
        }
    }
}

struct SetCardStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set-status", abstract: "Move a card: IN_PROGRESS, DONE or CANCELLED (with --reason).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "card id or number") var card: String
    @Argument(help: "IN_PROGRESS, DONE or CANCELLED", completion: .list(["IN_PROGRESS", "DONE", "CANCELLED"])) var status: String
    @Option var reason = ""

    func run() async throws {
        let target = try cardStatus(status)
        try await workflows(options) { client, metadata in
            let response = try await client.setCardStatus(.with { $0.cardID = card; $0.status = target; $0.reason = reason }, metadata: metadata, options: callOptions())
            try options.print(response) { cardTable([response]) }
        }
    }
}

struct CardTimeline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "timeline", abstract: "Everything that happened to a card.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "card id or number") var card: String

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.cardTimeline(.with { $0.cardID = card; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["at", "actor", "kind", "text", "changes"], response.entries.map { entry in
                    [timestamp(entry.at), entry.actorID, entry.kind, entry.text,
                     entry.changes.map { "\($0.field): \($0.before) → \($0.after)" }.joined(separator: "; ")]
                })
            }
        }
    }
}

struct CreateRequest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create-request", abstract: "Open a request from a template (e.g. sample-device).")
    @OptionGroup var options: ClientOptions
    @Option var template: String
    @Option var customer: String
    @Option(help: "template variables name=value, e.g. products=新型脊柱融合器") var variable: [String] = []

    func run() async throws {
        var variables: [String: String] = [:]
        for pair in variable {
            guard let equals = pair.firstIndex(of: "=") else { throw ValidationError("--variable must be name=value") }
            variables[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        let finalVariables = variables
        try await workflows(options) { client, metadata in
            let response = try await client.createRequest(.with {
                $0.templateID = template
                $0.customerID = customer
                $0.variables = finalVariables
            }, metadata: metadata, options: callOptions())
            try options.print(response) { "request \(response.id)\n" + cardTable(response.cards) }
        }
    }
}

struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Attach a file to a card (streamed in 64 KiB chunks).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "card id or number") var card: String
    @Argument var file: String
    @Option(help: "content type, e.g. image/jpeg (default from the extension)") var type: String?

    func run() async throws {
        let url = URL(fileURLWithPath: file)
        let content = try Data(contentsOf: url)
        let types = ["jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "pdf": "application/pdf", "gif": "image/gif",
                     "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                     "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
        guard let contentType = type ?? types[url.pathExtension.lowercased()] else { throw ValidationError("say the content type with --type") }
        let name = url.lastPathComponent
        try await workflows(options) { client, metadata in
            let response = try await client.uploadAttachment(metadata: metadata, options: callOptions()) { writer in
                try await writer.write(.with { $0.header = .with { $0.cardID = card; $0.fileName = name; $0.contentType = contentType } })
                for start in stride(from: 0, to: content.count, by: 64 * 1024) {
                    try await writer.write(.with { $0.data = content.subdata(in: start..<min(start + 64 * 1024, content.count)) })
                }
            }
            try options.print(response) { "attachment \(response.id): \(response.fileName), \(response.sizeBytes) bytes, sha256 \(response.sha256)" }
        }
    }
}

struct Download: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Download an attachment to a file.")
    @OptionGroup var options: ClientOptions
    @Argument var attachment: String
    @Option(help: "where to write it (default: its file name)") var output: String?

    func run() async throws {
        let output = self.output
        try await workflows(options) { client, metadata in
            let (header, content) = try await client.downloadAttachment(.with { $0.id = attachment }, metadata: metadata, options: callOptions()) { response in
                var header = Fieldwork_V1_Attachment()
                var content = Data()
                for try await chunk in response.messages {
                    if chunk.hasAttachment { header = chunk.attachment }
                    content.append(chunk.data)
                }
                return (header, content)
            }
            let path = output ?? header.fileName
            try content.write(to: URL(fileURLWithPath: path))
            Swift.print("wrote \(content.count) bytes to \(path) (sha256 \(header.sha256))")
        }
    }
}

struct ResponseMetrics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "response-metrics", abstract: "First-response times per department.")
    @OptionGroup var options: ClientOptions
    @Option var department = ""

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.responseMetrics(.with { $0.department = department }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["department", "cards", "answered", "mean min", "median min", "p90 min", "within 2 h"], response.departments.map {
                    [$0.department, String($0.cards), String($0.responded), String(format: "%.1f", $0.meanMinutes),
                     String(format: "%.1f", $0.medianMinutes), String(format: "%.1f", $0.p90Minutes), String(format: "%.0f%%", $0.shareWithinTarget * 100)]
                }) + String(format: "\n\nrequests completed: %d, mean %.1f h", response.completedRequests, response.meanRequestCompletionHours)
            }
        }
    }
}

func approvalTable(_ approvals: [Fieldwork_V1_Approval]) -> String {
    table(["approval", "subject", "amount", "status", "steps"], approvals.map { approval in
        [approval.id, approval.subject, String(format: "%.2f", Double(approval.amount.fen) / 100), "\(approval.status)".uppercased(),
         approval.steps.map { "\($0.index + 1).\($0.role)=\($0.approverID):\("\($0.status)".uppercased())" }.joined(separator: " ")]
    })
}

struct SubmitApproval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit-approval", abstract: "Submit e.g. a contract for approval.")
    @OptionGroup var options: ClientOptions
    @Option var chain = "contract"
    @Option var subject: String
    @Option(help: "amount in CNY") var amount: Double
    @Option var productLine = ""
    @Option var customer = ""

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.submitForApproval(.with {
                $0.chainID = chain
                $0.subject = subject
                $0.amount.fen = Int64((amount * 100).rounded())
                $0.productLine = productLine
                $0.customerID = customer
            }, metadata: metadata, options: callOptions())
            try options.print(response) { approvalTable([response]) }
        }
    }
}

struct Decide: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Approve or reject the step you are named for.")
    @OptionGroup var options: ClientOptions
    @Argument var approval: String
    @Argument(help: "approve or reject", completion: .list(["approve", "reject"])) var decision: String
    @Option var comment = ""

    func run() async throws {
        guard ["approve", "reject"].contains(decision) else { throw ValidationError("decision must be approve or reject") }
        try await workflows(options) { client, metadata in
            let request = Fieldwork_V1_DecideApprovalRequest.with { $0.approvalID = approval; $0.comment = comment }
            let response = decision == "approve"
                ? try await client.approve(request, metadata: metadata, options: callOptions())
                : try await client.reject(request, metadata: metadata, options: callOptions())
            try options.print(response) { approvalTable([response]) }
        }
    }
}

struct ListApprovals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-approvals", abstract: "Approvals you submitted or are named in.")
    @OptionGroup var options: ClientOptions
    @Option(help: "only those waiting for this approver") var approver = ""

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.listApprovals(.with {
                $0.approverID = approver
                if !approver.isEmpty { $0.status = .pending }
                $0.page.pageSize = 500
            }, metadata: metadata, options: callOptions())
            try options.print(response) { approvalTable(response.approvals) }
        }
    }
}

func templateTable(_ templates: [Fieldwork_V1_RequestTemplate]) -> String {
    table(["id", "version", "name", "prefix", "trigger", "cards", "active"], templates.map {
        [$0.id, String($0.version), $0.name, $0.numberPrefix, $0.triggerEventType, $0.cards.map { "\($0.department)(\($0.slaHours)h)" }.joined(separator: ","),
         $0.active ? "yes" : "no"]
    })
}

/// Reads protobuf JSON of `M` from a file ("-": standard input).
func readJSON<M: SwiftProtobuf.Message>(_ type: M.Type, from path: String) throws -> M {
    let data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
    do {
        return try M(jsonUTF8Data: data)
    } catch {
        throw ValidationError("\(path) is not protobuf JSON of \(M.protoMessageName): \(error)")
    }
}

struct UpsertTemplate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upsert-template",
        abstract: "Create or change a request template from protobuf JSON of fieldwork.v1.RequestTemplate (admin; a new version).",
        discussion: """
            Example template.json:
              {"id": "sample-device", "name": "样品申请", "number_prefix": "YP", "active": true,
               "cards": [{"department": "logistics", "title": "备货 {products}", "description": "{customer_name}", "sla_hours": 24}]}
            """)
    @OptionGroup var options: ClientOptions
    @Argument(help: "the template as protobuf JSON ('-': standard input)", completion: .file(extensions: ["json"])) var file: String
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        let template = try readJSON(Fieldwork_V1_RequestTemplate.self, from: file)
        try await workflows(options) { client, metadata in
            let saved = try await client.upsertTemplate(.with { $0.template = template; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(saved) { templateTable([saved]) }
        }
    }
}

struct GetRequest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-request", abstract: "One cross-department request with its cards.")
    @OptionGroup var options: ClientOptions
    @Argument var id: String

    func run() async throws {
        try await workflows(options) { client, metadata in
            let request = try await client.getRequest(.with { $0.id = id }, metadata: metadata, options: callOptions())
            try options.print(request) {
                table(["request", "template", "requester", "customer", "origin", "status", "created", "completed"], [[
                    request.id, "\(request.templateID) v\(request.templateVersion)", request.requesterID, request.customerID, request.origin,
                    "\(request.status)".uppercased(), timestamp(request.createdAt), timestamp(request.completedAt, present: request.hasCompletedAt),
                ]]) + "\n\n" + cardTable(request.cards)
            }
        }
    }
}

struct ListAttachments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-attachments", abstract: "A card's attachments (download one with 'download').")
    @OptionGroup var options: ClientOptions
    @Argument(help: "card id or number") var card: String

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.listAttachments(.with { $0.cardID = card; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["attachment", "file", "type", "bytes", "sha256", "by", "uploaded"], response.attachments.map {
                    [$0.id, $0.fileName, $0.contentType, String($0.sizeBytes), String($0.sha256.prefix(12)), $0.uploadedBy, timestamp($0.uploadedAt)]
                })
            }
        }
    }
}

func chainTable(_ chains: [Fieldwork_V1_ApprovalChain]) -> String {
    table(["chain", "version", "name", "steps"], chains.map { chain in
        [chain.id, "v\(chain.version)", chain.name, chain.steps.enumerated().map { index, step in
            "\(index + 1).\(step.role)" + (step.minAmountFen > 0 ? String(format: "≥%.0f", Double(step.minAmountFen) / 100) : "")
                + (step.productLines.isEmpty ? "" : "[\(step.productLines.joined(separator: ","))]")
        }.joined(separator: " ")]
    })
}

struct UpsertApprovalChain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upsert-approval-chain", abstract: "Create or change an approval chain (admin; a new version).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "chain id, e.g. contract") var id: String
    @Option var name: String
    @Option(help: "a step, in order: role[:minimum CNY[:product line,…]], e.g. director:500000 or finance:0:spine,trauma (repeatable)")
    var step: [String] = []
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        let steps = try step.map { text -> Fieldwork_V1_ApprovalStepRule in
            let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            var rule = Fieldwork_V1_ApprovalStepRule.with { $0.role = parts[0] }
            if parts.count > 1, !parts[1].isEmpty {
                guard let amount = Double(parts[1]) else { throw ValidationError("--step's minimum is an amount in CNY, got '\(parts[1])'") }
                rule.minAmountFen = Int64((amount * 100).rounded())
            }
            if parts.count > 2 { rule.productLines = parts[2].split(separator: ",").map(String.init) }
            return rule
        }
        try await workflows(options) { client, metadata in
            let chain = try await client.upsertApprovalChain(.with {
                $0.chain = .with { $0.id = id; $0.name = name; $0.steps = steps }
                $0.requestID = requestID
            }, metadata: metadata, options: callOptions())
            try options.print(chain) { chainTable([chain]) }
        }
    }
}

struct ListApprovalChains: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-approval-chains", abstract: "Approval chains and their steps.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.listApprovalChains(.with { $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) { chainTable(response.chains) }
        }
    }
}

struct GetApproval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-approval", abstract: "One approval with its steps and comments.")
    @OptionGroup var options: ClientOptions
    @Argument var approval: String

    func run() async throws {
        try await workflows(options) { client, metadata in
            let response = try await client.getApproval(.with { $0.id = approval }, metadata: metadata, options: callOptions())
            try options.print(response) {
                approvalTable([response]) + "\n\n" + table(["step", "role", "approver", "status", "decided", "comment"], response.steps.map {
                    [String($0.index + 1), $0.role, $0.approverID, "\($0.status)".uppercased(), timestamp($0.decidedAt, present: $0.hasDecidedAt), $0.comment]
                })
            }
        }
    }
}
