import ArgumentParser
import FieldworkClientSupport
import FieldworkDomain
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

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a message by hand to people, roles, departments or regions (inbox, robots, webhooks).")
    @OptionGroup var options: ClientOptions
    @Option(help: "person id (repeatable)") var person: [String] = []
    @Option(help: "role (repeatable)") var role: [String] = []
    @Option(help: "department (repeatable)") var department: [String] = []
    @Option(help: "region (repeatable)") var region: [String] = []
    @Option(help: "inbox, wecom-robot or webhook (repeatable; default inbox)", completion: .list(["inbox", "wecom-robot", "webhook"])) var channel: [String] = []
    @Option var title: String
    @Option var body: String
    @Option var link = ""
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        let channels = try channel.map { name -> Fieldwork_V1_ChannelKind in
            guard let kind = channelKind(name) else { throw ValidationError("--channel must be inbox, wecom-robot or webhook") }
            return kind
        }
        try await notifications(options) { client, metadata in
            let response = try await client.send(.with {
                $0.requestID = requestID
                $0.recipients = .with { $0.personIds = person; $0.roles = role; $0.departments = department; $0.regions = region }
                $0.title = title
                $0.body = body
                $0.link = link
                $0.channels = channels
            }, metadata: metadata, options: callOptions())
            try options.print(response) { "\(response.deliveries) deliveries" }
        }
    }
}

struct UpsertChannel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Add or change a WeCom robot or webhook (admin).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "channel id, e.g. marketing-robot") var id: String
    @Option(help: "wecom-robot or webhook", completion: .list(["wecom-robot", "webhook"])) var kind: String
    @Option var name: String
    @Option(help: "robot or webhook URL (its host must be allow-listed)") var url: String
    @Option(help: "department whose messages it carries") var department = ""
    @Option(help: "region whose messages it carries") var region = ""
    @Flag(help: "stop posting to it") var disabled = false

    func run() async throws {
        guard let channelKind = channelKind(kind), channelKind != .inbox else { throw ValidationError("--kind must be wecom-robot or webhook") }
        try await notifications(options) { client, metadata in
            let channel = try await client.upsertChannel(.with {
                $0.channel = .with {
                    $0.id = id
                    $0.kind = channelKind
                    $0.name = name
                    $0.url = url
                    $0.department = department
                    $0.region = region
                    $0.enabled = !disabled
                }
            }, metadata: metadata, options: callOptions())
            try options.print(channel) { "saved \(channel.id): \(channel.url)" }
        }
    }
}

struct Channels: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "WeCom robots and webhooks (admin).")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await notifications(options) { client, metadata in
            let response = try await client.listChannels(.with { $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["id", "kind", "name", "department", "region", "enabled", "url"], response.channels.map {
                    [$0.id, channelName($0.kind), $0.name, $0.department, $0.region, $0.enabled ? "yes" : "no", $0.url]
                })
            }
        }
    }
}

struct Deliveries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deliveries to robots and webhooks with their attempts (admin, ops).")
    @OptionGroup var options: ClientOptions
    @Option(help: "pending, delivered or dead", completion: .list(["pending", "delivered", "dead"])) var status = ""
    @Flag(help: "dead letters only") var dead = false
    @Option(help: "only this source event") var event = ""
    @Flag(help: "show every attempt") var attempts = false

    func run() async throws {
        let wanted: Fieldwork_V1_DeliveryStatus
        switch status.lowercased() {
        case "": wanted = .unspecified
        case "pending": wanted = .pending
        case "delivered": wanted = .delivered
        case "dead": wanted = .dead
        default: throw ValidationError("--status must be pending, delivered or dead")
        }
        try await notifications(options) { client, metadata in
            let request = Fieldwork_V1_ListDeliveriesRequest.with { $0.status = wanted; $0.eventID = event; $0.page.pageSize = 500 }
            let response = dead
                ? try await client.listDeadLetters(request, metadata: metadata, options: callOptions())
                : try await client.listDeliveries(request, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["delivery", "channel", "kind", "status", "attempts", "last error"], response.deliveries.map {
                    var last = $0.lastError
                    if attempts {
                        last = $0.history.map { "\(timestamp($0.at)) \($0.outcome) (\($0.latencyMs) ms)" }.joined(separator: "\n")
                    }
                    return [$0.id, $0.recipient, channelName($0.channel), statusName($0.status), String($0.attempts), last]
                })
            }
        }
    }

    private func statusName(_ status: Fieldwork_V1_DeliveryStatus) -> String {
        switch status {
        case .pending: "pending"
        case .delivered: "delivered"
        case .dead: "dead"
        default: "?"
        }
    }
}

struct Redeliver: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Put a dead letter back in line (admin, ops).")
    @OptionGroup var options: ClientOptions
    @Argument var deliveryID: String
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await notifications(options) { client, metadata in
            let delivery = try await client.redeliver(.with { $0.deliveryID = deliveryID; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(delivery) { "\(delivery.id) is pending again" }
        }
    }
}

private func channelKind(_ name: String) -> Fieldwork_V1_ChannelKind? {
    switch name.lowercased() {
    case "inbox": .inbox
    case "wecom-robot", "wecom", "robot": .wecomRobot
    case "webhook": .webhook
    default: nil
    }
}

private func channelName(_ kind: Fieldwork_V1_ChannelKind) -> String {
    switch kind {
    case .inbox: "inbox"
    case .wecomRobot: "wecom-robot"
    case .webhook: "webhook"
    default: "?"
    }
}

struct MarkRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mark-read", abstract: "Mark inbox items read: by item id or by the # column of 'inbox'.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "item ids or inbox # (cursor) numbers") var items: [String]
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await notifications(options) { client, metadata in
            var ids = items.filter { Int64($0) == nil }
            let cursors = Set(items.compactMap { Int64($0) })
            if !cursors.isEmpty {
                let inbox = try await client.listInbox(.with { $0.unreadOnly = true; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
                ids += inbox.items.filter { cursors.contains($0.cursor) }.map(\.id)
            }
            let finalIDs = ids
            let response = try await client.markRead(.with { $0.itemIds = finalIDs; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(response) { "\(response.marked) marked read" }
        }
    }
}

struct MarkAllRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mark-all-read", abstract: "Mark your whole inbox read.")
    @OptionGroup var options: ClientOptions
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await notifications(options) { client, metadata in
            let response = try await client.markAllRead(.with { $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(response) { "\(response.marked) marked read" }
        }
    }
}

enum ChannelArgument: String, ExpressibleByArgument, CaseIterable {
    case inbox, wecomRobot = "wecom-robot", webhook
    var proto: Fieldwork_V1_ChannelKind {
        switch self {
        case .inbox: .inbox
        case .wecomRobot: .wecomRobot
        case .webhook: .webhook
        }
    }
}

func recipientsText(_ r: Fieldwork_V1_Recipients) -> String {
    (r.personIds.map { "person:\($0)" } + r.roles.map { "role:\($0)" } + r.departments.map { "department:\($0)" } + r.regions.map { "region:\($0)" })
        .joined(separator: " ")
}

func routeTable(_ routes: [Fieldwork_V1_Route]) -> String {
    table(["route", "event type", "recipients", "channels", "version"], routes.map {
        [$0.id, $0.eventType, recipientsText($0.recipients), $0.channels.map(channelName).joined(separator: ","), "v\($0.version)"]
    })
}

struct UpsertRoute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upsert-route",
        abstract: "Route an event type to people, roles, departments or regions on channels (admin; a new version).",
        discussion: "Recipients may name the event's variables in braces, e.g. --person '{rep_id}' (the service lists those it knows).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "route id, e.g. card-created-directors") var id: String
    @Option(help: "e.g. workflows.CardCreated") var eventType: String
    @Option(help: "person id (repeatable)") var person: [String] = []
    @Option(help: "role (repeatable)", completion: .list(Role.allCases.map(\.rawValue))) var role: [String] = []
    @Option(help: "department (repeatable)", completion: .list(DepartmentCode.allCases.map(\.rawValue))) var department: [String] = []
    @Option(help: "region (repeatable)") var region: [String] = []
    @Option(help: "channel (repeatable; default inbox)") var channel: [ChannelArgument] = []
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await notifications(options) { client, metadata in
            let route = try await client.upsertRoute(.with {
                $0.requestID = requestID
                $0.route = .with {
                    $0.id = id
                    $0.eventType = eventType
                    $0.recipients = .with { $0.personIds = person; $0.roles = role; $0.departments = department; $0.regions = region }
                    $0.channels = channel.map(\.proto)
                }
            }, metadata: metadata, options: callOptions())
            try options.print(route) { routeTable([route]) }
        }
    }
}

struct ListRoutes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-routes", abstract: "Event routes: who hears of which event type, on which channels.")
    @OptionGroup var options: ClientOptions
    @Option var eventType = ""

    func run() async throws {
        try await notifications(options) { client, metadata in
            let response = try await client.listRoutes(.with { $0.eventType = eventType; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) { routeTable(response.routes) }
        }
    }
}

func messageTemplateTable(_ templates: [Fieldwork_V1_MessageTemplate]) -> String {
    table(["event type", "locale", "version", "title", "body", "link"], templates.map {
        [$0.eventType, $0.locale, "v\($0.version)", $0.title, $0.body, $0.linkTemplate]
    })
}

struct UpsertMessageTemplate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upsert-message-template", abstract: "Set the message an event type produces (admin; a new version). Variables in braces.")
    @OptionGroup var options: ClientOptions
    @Option(help: "e.g. workflows.CardCreated") var eventType: String
    @Option(help: "e.g. {number} {title}") var title: String
    @Option(help: "markdown") var body: String
    @Option(help: "e.g. fieldwork://cards/{card_id}") var link = ""
    @Option var locale = "zh-CN"
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await notifications(options) { client, metadata in
            let template = try await client.upsertTemplate(.with {
                $0.requestID = requestID
                $0.template = .with { $0.eventType = eventType; $0.locale = locale; $0.title = title; $0.body = body; $0.linkTemplate = link }
            }, metadata: metadata, options: callOptions())
            try options.print(template) { messageTemplateTable([template]) }
        }
    }
}

struct ListMessageTemplates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-message-templates", abstract: "The messages event types produce (notifications).")
    @OptionGroup var options: ClientOptions
    @Option var eventType = ""

    func run() async throws {
        try await notifications(options) { client, metadata in
            let response = try await client.listTemplates(.with { $0.eventType = eventType; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) { messageTemplateTable(response.templates) }
        }
    }
}
