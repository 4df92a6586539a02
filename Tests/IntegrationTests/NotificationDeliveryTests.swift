import Crypto
import FieldworkProto
import Foundation
import GRPCCore
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SPEC §5.1–5.2 outside the app: WeCom robots and webhooks, played by a real
/// HTTP receiver on loopback, fed by the real notifications executable.
@Suite(.serialized) struct NotificationDeliveryTests {
    static let signingSecret = "integration-webhook-secret-0123456789"

    /// Loopback is allow-listed explicitly, as an operator would a local receiver;
    /// 169.254.169.254 and 10.0.0.1 are on the host list to show the address check stands on its own.
    static let settings = [
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,169.254.169.254,10.0.0.1",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "WEBHOOK_TIMEOUT_MS": "1500",
        "WEBHOOK_SIGNING_SECRET": signingSecret,
        "DELIVERY_BACKOFF_BASE_MS": "200",
        "DELIVERY_BACKOFF_CAP_MS": "1000",
        "DELIVERY_POLL_MS": "100",
        "WECOM_RATE_LIMIT_PAUSE_SECONDS": "2",
    ]

    /// Only the notifications service: `Send` to robots and webhooks needs nothing else.
    static func withNotifications(_ body: (Cluster, String) async throws -> Void) async throws {
        try await Cluster.with(createDatabases: [.notifications]) { cluster in
            try cluster.start(.notifications, extra: settings)
            try await cluster.waitUntilServing(.notifications)
            try await body(cluster, try await cluster.token("ops-admin", [.admin]))
        }
    }

    static func upsertChannel(_ cluster: Cluster, _ admin: String, _ channel: Fieldwork_V1_Channel) async throws -> Fieldwork_V1_Channel {
        try await cluster.notifications(admin) { client, metadata in
            try await client.upsertChannel(.with { $0.channel = channel }, metadata: metadata)
        }
    }

    static func robot(_ id: String, port: Int, department: String) -> Fieldwork_V1_Channel {
        .with {
            $0.id = id
            $0.kind = .wecomRobot
            $0.name = "\(department) 群机器人"
            $0.url = "http://127.0.0.1:\(port)/cgi-bin/webhook/send?key=\(id)-key-0123456789"
            $0.department = department
            $0.enabled = true
        }
    }

    static func send(_ cluster: Cluster, _ admin: String, title: String, department: String, channel: Fieldwork_V1_ChannelKind) async throws {
        _ = try await cluster.notifications(admin) { client, metadata in
            try await client.send(.with {
                $0.recipients.departments = [department]
                $0.title = title
                $0.body = "详细说明见链接"
                $0.link = "fieldwork://alerts/\(abs(title.hashValue))"
                $0.channels = [channel]
            }, metadata: metadata)
        }
    }

    static func deliveries(_ cluster: Cluster, _ admin: String, status: Fieldwork_V1_DeliveryStatus = .unspecified) async throws -> [Fieldwork_V1_Delivery] {
        try await cluster.notifications(admin) { client, metadata in
            var all: [Fieldwork_V1_Delivery] = []
            var token = ""
            repeat {
                let page = try await client.listDeliveries(.with {
                    $0.status = status
                    $0.page.pageSize = 500
                    $0.page.pageToken = token
                }, metadata: metadata)
                all += page.deliveries
                token = page.page.nextPageToken
            } while !token.isEmpty
            return all
        }
    }

    @Test func weComRepliesAreReadRetriedAndDeadLetteredAndEachMessageIsAcceptedOnce() async throws {
        // Robot "marketing": errcode 45009, then HTTP 500, then a 10 s stall, then success.
        // Robot "logistics": errcode 93000 (invalid key) until the operator has fixed it.
        let script = Mutex<[LoopbackReceiver.Reply]>([.weCom(45009, "api freq out of limit"), .respond(status: 500, body: "oops"), .stall(.seconds(10))])
        let fixed = Atomic<Bool>(false)
        let accepted = Mutex<[String]>([])
        try await LoopbackReceiver.with({ request in
            if request.query["key"]?.hasPrefix("logistics") == true {
                guard fixed.load(ordering: .relaxed) else { return .weCom(93000, "invalid webhook url") }
            } else if let next = script.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                return next
            }
            accepted.withLock { $0.append(request.markdown) }
            return .weCom(0)
        }) { receiver in
            try await Self.withNotifications { cluster, admin in
                let saved = try await Self.upsertChannel(cluster, admin, Self.robot("marketing-robot", port: receiver.port, department: "marketing"))
                #expect(saved.id == "marketing-robot" && saved.enabled)
                #expect(!saved.url.contains("marketing-robot-key-0123456789"), "the robot key is a secret: \(saved.url)")
                _ = try await Self.upsertChannel(cluster, admin, Self.robot("logistics-robot", port: receiver.port, department: "logistics"))

                let titles = ["跟台告警 A", "跟台告警 B", "跟台告警 C"]
                for title in titles { try await Self.send(cluster, admin, title: title, department: "marketing", channel: .wecomRobot) }
                try await Self.send(cluster, admin, title: "物流告警", department: "logistics", channel: .wecomRobot)

                try await cluster.eventually("the marketing robot's three messages delivered", timeout: .seconds(40)) {
                    try await Self.deliveries(cluster, admin, status: .delivered).count == 3
                }
                // Every message reached the group exactly once, whatever the receiver did first.
                let posts = accepted.withLock { $0 }
                for title in titles {
                    let occurrences = posts.map { post in post.components(separatedBy: title).count - 1 }.reduce(0, +)
                    #expect(occurrences == 1, "\(title) in \(posts)")
                }
                let marketing = try await Self.deliveries(cluster, admin).filter { $0.recipient == "marketing-robot" }
                let outcomes = marketing.flatMap(\.history).map(\.outcome)
                #expect(outcomes.contains { $0.contains("errcode 45009") })
                #expect(outcomes.contains { $0.contains("HTTP 500") })
                // Every attempt is logged; a rate-limit answer is the robot's pace and does not use up an attempt.
                for delivery in marketing {
                    let counted = delivery.history.filter { !$0.outcome.contains("errcode 45009") }.count
                    #expect(delivery.history.last?.outcome == "delivered" && delivery.attempts == Int32(counted), "\(delivery.history)")
                }
                // The stalled post waited for its deadline (1.5 s); the attempt log shows it.
                #expect(marketing.flatMap(\.history).contains { $0.outcome.hasPrefix("retry:") && $0.latencyMs >= 1400 })

                // errcode 93000 will not get better by retrying: a dead letter at once, listed for operators.
                try await cluster.eventually("the logistics message dead-lettered") {
                    try await cluster.notifications(admin) { client, metadata in
                        try await client.listDeadLetters(.init(), metadata: metadata).deliveries.count == 1
                    }
                }
                let dead = try await cluster.notifications(admin) { client, metadata in
                    try await client.listDeadLetters(.init(), metadata: metadata).deliveries[0]
                }
                #expect(dead.recipient == "logistics-robot" && dead.attempts == 1 && dead.lastError.contains("93000"))

                // Only operators redeliver, only dead letters; after the fix it goes through.
                let rep = try await cluster.token("rep-1", [.rep])
                #expect(await rpcCode {
                    _ = try await cluster.notifications(rep) { client, metadata in
                        try await client.redeliver(.with { $0.deliveryID = dead.id }, metadata: metadata)
                    }
                } == .permissionDenied)
                #expect(await rpcCode {
                    _ = try await cluster.notifications(admin) { client, metadata in
                        try await client.redeliver(.with { $0.deliveryID = marketing[0].id }, metadata: metadata)
                    }
                } == .failedPrecondition)
                fixed.store(true, ordering: .relaxed)
                let ops = try await cluster.token("ops-1", [.ops])
                let redelivered = try await cluster.notifications(ops) { client, metadata in
                    try await client.redeliver(.with { $0.deliveryID = dead.id; $0.requestID = "redeliver-1" }, metadata: metadata)
                }
                #expect(redelivered.status == .pending)
                try await cluster.eventually("the redelivered message delivered") {
                    try await Self.deliveries(cluster, admin, status: .delivered).count == 4
                }
                #expect(accepted.withLock { $0 }.filter { $0.contains("物流告警") }.count == 1)
                _ = receiver
            }
        }
    }

    @Test func aRobotGetsAtMost20PostsAMinuteAndEveryAlertArrivesInThem() async throws {
        let alerts = (1...100).map { String(format: "库存预警 %03d", $0) }
        try await LoopbackReceiver.with({ _ in .weCom(0) }) { receiver in
            try await Self.withNotifications { cluster, admin in
                _ = try await Self.upsertChannel(cluster, admin, Self.robot("ops-robot", port: receiver.port, department: "operations"))
                // 100 alerts over about 20 s: one post each would be 100 posts in the minute.
                for alert in alerts {
                    try await Self.send(cluster, admin, title: alert, department: "operations", channel: .wecomRobot)
                    try await Task.sleep(for: .milliseconds(200))
                }
                try await cluster.eventually("all 100 alerts delivered", timeout: .seconds(40)) {
                    try await Self.deliveries(cluster, admin, status: .delivered).count == 100
                }
                let posts = receiver.requests
                let times = posts.map(\.at)
                let busiestMinute = times.map { start in times.filter { $0 >= start && $0 < start + .seconds(60) }.count }.max() ?? 0
                print("robot posts: \(posts.count) for 100 alerts; busiest 60 s window: \(busiestMinute)")
                #expect(busiestMinute <= 20)
                #expect(posts.count < 100, "queued alerts were merged into digests")
                #expect(posts.allSatisfy { $0.markdown.utf8.count <= 4096 })
                let contents = posts.map(\.markdown).joined(separator: "\n")
                for alert in alerts {
                    let occurrences = contents.components(separatedBy: alert).count - 1
                    #expect(occurrences == 1, "\(alert) appears exactly once")
                }
            }
        }
    }

    @Test func webhooksAreSignedAndOnlyAllowListedPublicTargetsAreAccepted() async throws {
        try await LoopbackReceiver.with({ _ in .respond(status: 204, body: "") }) { receiver in
            try await Self.withNotifications { cluster, admin in
                func webhook(_ url: String, kind: Fieldwork_V1_ChannelKind = .webhook) -> Fieldwork_V1_Channel {
                    .with { $0.id = "finance-hook"; $0.kind = kind; $0.name = "财务系统"; $0.url = url; $0.department = "finance"; $0.enabled = true }
                }
                // Link-local (cloud metadata) and private addresses are refused even though their hosts are on the list;
                // hosts off the list, other schemes, credentials in the URL and robots without a key likewise.
                for url in [
                    "http://169.254.169.254/latest/meta-data/", "https://10.0.0.1/hook", "https://example.com/hook",
                    "ftp://127.0.0.1/hook", "https://user:pw@127.0.0.1/hook", "not a url",
                ] {
                    let code = await rpcCode { _ = try await Self.upsertChannel(cluster, admin, webhook(url)) }
                    #expect(code == .invalidArgument, "\(url)")
                }
                #expect(await rpcCode {
                    _ = try await Self.upsertChannel(cluster, admin, webhook("http://127.0.0.1:\(receiver.port)/hook", kind: .wecomRobot))
                } == .invalidArgument)
                let manager = try await cluster.token("m-1", [.manager])
                #expect(await rpcCode {
                    _ = try await Self.upsertChannel(cluster, manager, webhook("http://127.0.0.1:\(receiver.port)/hook"))
                } == .permissionDenied)

                _ = try await Self.upsertChannel(cluster, admin, webhook("http://127.0.0.1:\(receiver.port)/hook"))
                try await Self.send(cluster, admin, title: "回款提醒", department: "finance", channel: .webhook)
                try await cluster.eventually("the webhook delivered") {
                    try await Self.deliveries(cluster, admin, status: .delivered).count == 1
                }
                let request = try #require(receiver.requests.first)
                let timestamp = try #require(request.headers["x-fieldwork-timestamp"])
                let signature = try #require(request.headers["x-fieldwork-signature"])
                let expected = HMAC<SHA256>.authenticationCode(
                    for: Array((timestamp + ".").utf8) + request.body, using: SymmetricKey(data: Data(Self.signingSecret.utf8)))
                #expect(signature == "sha256=" + expected.map { String(format: "%02x", $0) }.joined())
                #expect(abs(Double(timestamp)! - Date().timeIntervalSince1970) < 60)
                #expect(request.json?["title"] as? String == "回款提醒")
                #expect(request.json?["delivery_id"] as? String == request.headers["x-fieldwork-delivery"])

                // A Send to a channel kind no channel serves is refused, not silently dropped.
                #expect(await rpcCode {
                    try await Self.send(cluster, admin, title: "x", department: "compliance", channel: .wecomRobot)
                } == .failedPrecondition)
            }
        }
    }

    @Test func notificationsKilledMidBurstDeliversEveryWebhookOnce() async throws {
        // The receiver dedupes on X-Fieldwork-Delivery, as the signature docs tell receivers to.
        let accepted = Mutex<[String: Int]>([:])
        try await LoopbackReceiver.with({ request in
            try? await Task.sleep(for: .milliseconds(150))
            accepted.withLock { $0[request.headers["x-fieldwork-delivery"] ?? "", default: 0] += 1 }
            return .respond(status: 200, body: "{}")
        }) { receiver in
            try await Self.withNotifications { cluster, admin in
                _ = try await Self.upsertChannel(cluster, admin, .with {
                    $0.id = "compliance-hook"; $0.kind = .webhook; $0.name = "合规系统"
                    $0.url = "http://127.0.0.1:\(receiver.port)/hook"; $0.department = "compliance"; $0.enabled = true
                })
                let titles = (1...60).map { "合规事件 \($0)" }
                for title in titles { try await Self.send(cluster, admin, title: title, department: "compliance", channel: .webhook) }
                try await cluster.eventually("part of the burst posted", timeout: .seconds(30)) { receiver.requests.count >= 15 }
                await cluster.stop(.notifications, signal: SIGKILL)
                let postedBeforeKill = receiver.requests.count
                try cluster.start(.notifications, extra: Self.settings)
                try await cluster.waitUntilServing(.notifications)
                try await cluster.eventually("all 60 delivered after the restart", timeout: .seconds(60)) {
                    try await Self.deliveries(cluster, admin, status: .delivered).count == 60
                }
                let posts = receiver.requests
                let ids = Set(posts.compactMap { $0.headers["x-fieldwork-delivery"] })
                let delivered = try await Self.deliveries(cluster, admin)
                print("webhook burst: \(postedBeforeKill) posts before SIGKILL, \(posts.count) in all for 60 deliveries")
                #expect(ids == Set(delivered.map(\.id)))
                let postedTitles = Set(posts.compactMap { post in post.json?["title"] as? String })
                #expect(postedTitles == Set(titles))
                // At-least-once: only a post in flight at the kill can be sent again (one per channel at a time).
                #expect(posts.count - ids.count <= 1)
            }
        }
    }
}
