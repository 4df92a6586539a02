import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Sends queued deliveries to WeCom robots and webhooks. Each channel is served
/// by one task at a time, posting in queue order, so a slow or hostile receiver
/// holds up only its own queue (and only until the HTTP deadline); up to
/// `concurrency` channels are served at once. Replicas share the work through
/// row locks and leases in the database.
final class DeliveryDispatcher: Service, Sendable {
    struct Settings: Sendable {
        var poll: Duration
        var concurrency: Int
        var webhookSecret: String
    }

    let store: DeliveryStore
    let http: OutboundHTTP
    let settings: Settings
    let signal = WakeSignal()
    private let busy = Mutex<Set<String>>([])
    private let pausedUntil = Mutex<[String: Date]>([:])
    private let stopping = Atomic<Bool>(false)

    var environment: ServiceEnvironment { store.environment }
    var logger: Logger { store.logger }

    init(store: DeliveryStore, http: OutboundHTTP, settings: Settings) {
        self.store = store
        self.http = http
        self.settings = settings
    }

    /// New deliveries are queued (call after the commit).
    func wake() { signal.wake() }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !stopping.load(ordering: .relaxed), !Task.isCancelled {
                    let now = environment.clock.now()
                    do {
                        for channel in try await store.dueChannels(at: now, limit: 500) where startServing(channel, at: now) {
                            group.addTask {
                                await self.serve(channel)
                                self.busy.withLock { _ = $0.remove(channel) }
                                self.signal.wake()   // more may have queued meanwhile
                            }
                        }
                    } catch {
                        logger.warning("delivery dispatcher could not read the queue", metadata: ["error": "\(String(reflecting: error))"])
                    }
                    await signal.wait(timeout: settings.poll)
                }
            }
        } onGracefulShutdown: {
            // Posts in flight finish (each is bounded by the HTTP deadline); nothing new starts.
            self.stopping.store(true, ordering: .relaxed)
            self.signal.wake()
        }
    }

    private func startServing(_ channel: String, at now: Date) -> Bool {
        if let until = pausedUntil.withLock({ $0[channel] }), until > now { return false }
        return busy.withLock { busy in
            guard busy.count < settings.concurrency, !busy.contains(channel) else { return false }
            busy.insert(channel)
            return true
        }
    }

    /// Posts a channel's due deliveries one post at a time until none are due or its bucket is empty.
    private func serve(_ channel: String) async {
        while !stopping.load(ordering: .relaxed), !Task.isCancelled {
            let claim: DeliveryStore.Claim
            do {
                claim = try await store.claimPost(channelID: channel, at: environment.clock.now())
            } catch {
                logger.warning("could not claim a delivery", metadata: ["channel": "\(channel)", "error": "\(String(reflecting: error))"])
                return
            }
            switch claim {
            case .idle:
                return
            case .paused(let until):
                // The next poll after `until` serves it again, with everything queued meanwhile as one digest.
                pausedUntil.withLock { $0[channel] = until }
                return
            case .post(let post):
                await send(post)
            }
        }
    }

    private func send(_ post: DeliveryStore.Post) async {
        let started = ContinuousClock.now
        let verdict: DeliveryVerdict
        do {
            verdict = try await deliver(post)
        } catch is CancellationError {
            return   // stopped mid-post: the lease runs out and the post is made again
        } catch let refusal as OutboundRefusal {
            verdict = .fail(refusal.description)
        } catch {
            verdict = .retry(Self.describe(error))
        }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        logger.debug("posted", metadata: [
            "channel": "\(post.channelID)", "deliveries": "\(post.deliveries.count)", "verdict": "\(verdict)", "ms": "\(milliseconds)",
        ])
        do {
            try await store.settle(post, verdict: verdict, latencyMilliseconds: milliseconds, at: environment.clock.now())
        } catch {
            // The lease runs out and the post is tried again: at-least-once.
            logger.error("could not record a delivery outcome", metadata: ["post": "\(post.id)", "error": "\(String(reflecting: error))"])
        }
    }

    private func deliver(_ post: DeliveryStore.Post) async throws -> DeliveryVerdict {
        switch post.kind {
        case .wecomRobot:
            let content = WeComMarkdown.digest(post.deliveries.map(\.message)).content
            let json = try JSONSerialization.data(withJSONObject: ["msgtype": "markdown", "markdown": ["content": content]])
            let reply = try await http.post(url: post.url, json: Array(json))
            return .weCom(status: reply.status, body: reply.body)
        default:
            guard !settings.webhookSecret.isEmpty else { return .fail("WEBHOOK_SIGNING_SECRET is not configured") }
            let delivery = post.deliveries[0]
            let payload: [String: Any] = [
                "delivery_id": delivery.id.uuidString.lowercased(), "event_id": delivery.eventID.uuidString.lowercased(),
                "event_type": delivery.eventType, "title": delivery.message.title, "body": delivery.message.body,
                "link": delivery.message.link, "created_at": ISO8601DateFormatter().string(from: delivery.createdAt),
            ]
            let json = Array(try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys]))
            let headers = WebhookSignature.headers(
                body: json, secret: settings.webhookSecret, deliveryID: delivery.id.uuidString.lowercased(), at: environment.clock.now())
            let reply = try await http.post(url: post.url, json: json, headers: headers)
            return .http(status: reply.status)
        }
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count <= 300 ? text : String(text.prefix(300)) + "…"
    }
}
