import ArgumentParser
import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

private func notifications(_ options: ClientOptions, _ body: @Sendable (Fieldwork_V1_NotificationsService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Void) async throws {
    try await options.with(.notifications) { client, metadata in try await body(Fieldwork_V1_NotificationsService.Client(wrapping: client), metadata) }
}

struct Inbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Your in-app inbox (admin: --person for someone else's).")
    @OptionGroup var options: ClientOptions
    @Option var person = ""
    @Flag var unread = false
    @Flag(help: "show message bodies") var bodies = false

    func run() async throws {
        try await notifications(options) { client, metadata in
            let response = try await client.listInbox(.with { $0.personID = person; $0.unreadOnly = unread; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["#", "received", "title", "link", "read"], response.items.map {
                    [String($0.cursor), timestamp($0.createdAt), $0.title + (bodies ? "\n" + $0.body : ""), $0.link, $0.hasReadAt ? "yes" : ""]
                }) + "\n\(response.unread) unread"
            }
        }
    }
}

struct UnreadCount: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unread", abstract: "Your unread count.")
    @OptionGroup var options: ClientOptions
    @Option var person = ""

    func run() async throws {
        try await notifications(options) { client, metadata in
            let response = try await client.unreadCount(.with { $0.personID = person }, metadata: metadata, options: callOptions())
            try options.print(response) { "\(response.unread)" }
        }
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print your new inbox items as they arrive (Subscribe); Ctrl-C stops.")
    @OptionGroup var options: ClientOptions
    @Option(help: "resume after this cursor (0: only new items)") var after: Int64 = 0

    func run() async throws {
        var cursor = after
        // A stream ends when the service drains; resume after the last cursor seen.
        while true {
            let start = cursor
            let last = try await options.with(.notifications) { client, metadata in
                try await Fieldwork_V1_NotificationsService.Client(wrapping: client).subscribe(
                    .with { $0.afterCursor = start }, metadata: metadata
                ) { response in
                    var last = start
                    for try await item in response.messages {
                        if options.json {
                            Swift.print(try item.jsonString())
                        } else {
                            Swift.print("[\(item.cursor)] \(timestamp(item.createdAt)) \(item.title)  \(item.link)")
                        }
                        last = item.cursor
                    }
                    return last
                }
            }
            cursor = last
            try await Task.sleep(for: .seconds(1))
        }
    }
}
