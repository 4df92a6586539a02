import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// WeCom robots and webhooks as configuration (SPEC §5.1): admin RPCs, each
/// save a new version, audited. A robot URL carries its key, which is a secret:
/// it is never echoed back or written to the audit log in full.
extension NotificationsService {
    func upsertChannel(_ request: Fieldwork_V1_UpsertChannelRequest) async throws -> Fieldwork_V1_Channel {
        var channel = request.channel
        channel.id = try Input.slug(channel.id, field: "channel.id")
        guard channel.kind == .wecomRobot || channel.kind == .webhook else {
            throw DomainError.invalidArgument(field: "channel.kind", message: "must be WECOM_ROBOT or WEBHOOK (the inbox needs no channel)")
        }
        channel.name = try Input.text(channel.name, field: "channel.name", max: 100, required: true)
        channel.url = try Input.text(channel.url, field: "channel.url", max: 1000, required: true)
        channel.department = try Input.text(channel.department, field: "channel.department", max: 64)
        channel.region = try Input.text(channel.region, field: "channel.region", max: 64)
        try checkTarget(channel)
        let saved = channel
        return try await environment.command("UpsertChannel", requestID: request.requestID) { connection, principal, now in
            var previous: (version: Int32, url: String, enabled: Bool)?
            for try await row in try await connection.query(
                "SELECT version, url, enabled FROM channels WHERE id = \(saved.id) FOR UPDATE", logger: environment.logger
            ).decode((Int32, String, Bool).self) { previous = row }
            let version = (previous?.version ?? 0) + 1
            try await connection.query(
                """
                INSERT INTO channels (id, kind, name, url, department, region, enabled, version, updated_at)
                VALUES (\(saved.id), \(saved.kind.storedName), \(saved.name), \(saved.url), \(saved.department), \(saved.region),
                        \(saved.enabled), \(Int(version)), \(now))
                ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, url = excluded.url,
                    department = excluded.department, region = excluded.region, enabled = excluded.enabled,
                    version = excluded.version, updated_at = excluded.updated_at
                """, logger: environment.logger)
            try await environment.audit(
                AuditRecord(entityType: "channel", entityID: saved.id, action: previous == nil ? "create" : "revise", changes: [
                    .init("version", previous.map { String($0.version) } ?? "", String(version)),
                    .init("url", previous.map { Self.redacted($0.url) } ?? "", Self.redacted(saved.url)),
                    .init("enabled", previous.map { String($0.enabled) } ?? "", String(saved.enabled)),
                ]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            var shown = saved
            shown.url = Self.redacted(saved.url)
            return shown
        }
    }

    /// The URL must pass the outbound policy now; a robot URL must be a WeCom send
    /// address with its key. Addresses a host name resolves to are checked again at every post.
    private func checkTarget(_ channel: Fieldwork_V1_Channel) throws {
        do throws(OutboundRefusal) {
            let target = try outboundPolicy.check(url: channel.url)
            if let literal = IPAddress(target.host) { try outboundPolicy.check(addresses: [literal], of: target) }
        } catch {
            throw DomainError.invalidArgument(field: "channel.url", message: error.description)
        }
        if channel.kind == .wecomRobot {
            let components = URLComponents(string: channel.url)
            guard components?.path.hasSuffix("/cgi-bin/webhook/send") == true,
                  components?.queryItems?.contains(where: { $0.name == "key" && !($0.value ?? "").isEmpty }) == true
            else {
                throw DomainError.invalidArgument(
                    field: "channel.url", message: "a WeCom robot URL looks like https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…")
            }
        }
    }

    func listChannels(_ request: Fieldwork_V1_ListChannelsRequest) async throws -> Fieldwork_V1_ListChannelsResponse {
        let page = try Page(request.page)
        var channels: [Fieldwork_V1_Channel] = []
        for try await (id, kind, name, url, department, region, enabled) in try await environment.postgres.query(
            """
            SELECT id, kind, name, url, department, region, enabled FROM channels WHERE id > \(page.after) ORDER BY id LIMIT \(page.limit)
            """, logger: environment.logger
        ).decode((String, String, String, String, String, String, Bool).self) {
            channels.append(.with {
                $0.id = id
                $0.kind = Fieldwork_V1_ChannelKind(name: kind) ?? .unspecified
                $0.name = name
                $0.url = Self.redacted(url)
                $0.department = department
                $0.region = region
                $0.enabled = enabled
            })
        }
        let finished = page.finish(channels) { $0.id }
        return .with { $0.channels = finished.rows; $0.page = finished.page }
    }

    /// The URL with query values cut to their last four characters: "…?key=…9f3a".
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), let items = components.queryItems, !items.isEmpty else { return url }
        components.queryItems = items.map { item in
            let value = item.value ?? ""
            return URLQueryItem(name: item.name, value: value.count > 8 ? "…" + value.suffix(4) : "…")
        }
        return components.string ?? url
    }
}

/// Deliveries for operators (SPEC §5.2): listed with every attempt, dead
/// letters on their own, and a redelivery that puts a dead letter back in line.
extension NotificationsService {
    func listDeliveries(_ request: Fieldwork_V1_ListDeliveriesRequest, deadOnly: Bool) async throws -> Fieldwork_V1_ListDeliveriesResponse {
        let page = try Page(request.page)
        let window = try TimeWindow(request.range)
        var eventID: UUID?
        if !request.eventID.isEmpty {
            guard let id = UUID(uuidString: request.eventID) else {
                throw DomainError.invalidArgument(field: "event_id", message: "is not a UUID")
            }
            eventID = id
        }
        let status = deadOnly ? "DEAD" : request.status.storedName
        let listed = try await deliveries.list(status: status, eventID: eventID, window: window, page: page)
        let finished = page.finish(listed) { String($0.seq) }
        return .with { $0.deliveries = finished.rows.map(\.delivery); $0.page = finished.page }
    }

    func redeliver(_ request: Fieldwork_V1_RedeliverRequest) async throws -> Fieldwork_V1_Delivery {
        guard let id = UUID(uuidString: request.deliveryID) else {
            throw DomainError.invalidArgument(field: "delivery_id", message: "is not a UUID")
        }
        let delivery = try await environment.command("Redeliver", requestID: request.requestID) { connection, principal, now in
            var found: (status: String, attempts: Int32, error: String, eventID: UUID, channel: String, kind: String)?
            for try await row in try await connection.query(
                "SELECT status, attempts, last_error, event_id, channel_id, kind FROM deliveries WHERE id = \(id) FOR UPDATE",
                logger: environment.logger
            ).decode((String, Int32, String, UUID, String, String).self) { found = row }
            guard let found else { throw DomainError.notFound(entity: "delivery", id: request.deliveryID) }
            guard found.status == "DEAD" else {
                throw DomainError.failedPrecondition("delivery \(request.deliveryID) is \(found.status); only a dead letter can be redelivered")
            }
            try await connection.query(
                """
                UPDATE deliveries SET status = 'PENDING', attempts = 0, next_attempt_at = \(now), lease_id = NULL, leased_until = NULL WHERE id = \(id)
                """, logger: environment.logger)
            try await environment.audit(
                AuditRecord(entityType: "delivery", entityID: id.uuidString.lowercased(), action: "redeliver", changes: [
                    .init("status", "DEAD", "PENDING"), .init("attempts", String(found.attempts), "0"),
                    .init("last_error", found.error, found.error),
                ]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            return Fieldwork_V1_Delivery.with {
                $0.id = id.uuidString.lowercased()
                $0.eventID = found.eventID.uuidString.lowercased()
                $0.recipient = found.channel
                $0.channel = Fieldwork_V1_ChannelKind(name: found.kind) ?? .unspecified
                $0.status = .pending
                $0.nextAttemptAt = .init(now)
                $0.lastError = found.error
            }
        }
        dispatcher.wake()
        return delivery
    }
}
