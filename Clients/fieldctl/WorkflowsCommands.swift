import ArgumentParser
import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

private func workflows(_ options: ClientOptions, _ body: @Sendable (Fieldwork_V1_WorkflowsService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Void) async throws {
    try await options.with(.workflows) { client, metadata in try await body(Fieldwork_V1_WorkflowsService.Client(wrapping: client), metadata) }
}

func cardTable(_ cards: [Fieldwork_V1_Card]) -> String {
    table(["number", "department", "status", "title", "due", "escalation"], cards.map {
        [$0.number, $0.department, "\($0.status)".uppercased(), $0.title, timestamp($0.dueAt), $0.escalationLevel == 0 ? "" : "level \($0.escalationLevel)"]
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
