import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

// Drives a running notifications service over TCP the way an upstream outbox
// relay does (`Deliver`, as a service) and prints figures:
//  - seeds the directory copy with `--people` people in one department;
//  - sends `--events` CardCreated events for that department, open-loop at
//    `--rate` events/s (each is scheduled at a fixed moment; a late service makes
//    later events wait, and that wait counts), so each event becomes one inbox
//    item per person;
//  - lag per event: from its scheduled hand-over (the relay picking up the
//    committed outbox row) to `Deliver` returning, i.e. the inbox rows committed.
//
// usage: fieldwork-bench-notifications --target HOST:PORT --secret JWT_SECRET [--events 10000] [--rate 500] [--people 50]

let arguments = Dictionary(uniqueKeysWithValues: stride(from: 1, to: CommandLine.arguments.count - 1, by: 2).map {
    (CommandLine.arguments[$0], CommandLine.arguments[$0 + 1])
})
guard let targetText = arguments["--target"], let target = Endpoint(targetText), let secret = arguments["--secret"] else {
    FileHandle.standardError.write(Data(
        "usage: fieldwork-bench-notifications --target HOST:PORT --secret JWT_SECRET [--events 10000] [--rate 500] [--people 50]\n".utf8))
    exit(2)
}
let events = Int(arguments["--events"] ?? "") ?? 10_000
let rate = Double(arguments["--rate"] ?? "") ?? 500
let peopleCount = Int(arguments["--people"] ?? "") ?? 50
let maximumInFlight = 256

// Events arrive as the workflows service's relay sends them: a service token addressed to notifications.
let relayToken = try await TokenAuthority(
    jwks: UserTokenSigner.jwks([await UserTokenSigner(generatingKeyID: "unused")]), serviceSecret: secret, service: "workflows"
).serviceToken(to: "notifications")
let metadata: Metadata = ["authorization": "Bearer \(relayToken)"]

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

extension Duration {
    var ms: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}

/// The events the benchmark hands over, shaped as the producing services make them.
enum BenchEvents {
    static func event(_ type: String, aggregate: String, _ fill: (inout Fieldwork_V1_Event) -> Void) -> Fieldwork_V1_DeliverRequest {
        .with {
            $0.event = .with { event in
                event.id = UUID().uuidString.lowercased()
                event.type = type
                event.occurredAt = .init(Date())
                event.source = type.hasPrefix("visits") ? "visits" : "workflows"
                event.aggregateID = aggregate
                fill(&event)
            }
        }
    }

    static func cardCreated(_ index: Int, prefix: String = "GT") -> Fieldwork_V1_DeliverRequest {
        let card = UUID().uuidString.lowercased()
        return event("workflows.CardCreated", aggregate: "card:\(card)") {
            $0.cardCreated = .with {
                $0.cardID = card
                $0.number = String(format: "\(prefix)-20261127-%05d", index)
                $0.requestID = UUID().uuidString.lowercased()
                $0.department = "marketing"
                $0.title = "跟台支持：浙江大学医学院附属第一医院"
                $0.description_p = "脊柱手术跟台，需准备器械包与学术资料。"
                $0.dueAt = .init(Date().addingTimeInterval(86_400))
                $0.requesterID = "BENCH-REP"
                $0.customerID = "H-ZJ-001"
                $0.customerName = "浙江大学医学院附属第一医院"
            }
        }
    }
}

/// Lets at most `limit` calls run at once; the scheduler waits for a slot.
final class Slots: Sendable {
    private let state: Mutex<(free: Int, waiters: [CheckedContinuation<Void, Never>])>
    init(_ limit: Int) { state = Mutex((limit, [])) }

    func acquire() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.free > 0 { state.free -= 1; return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty { state.free += 1; return nil }
            return state.waiters.removeFirst()
        }
        waiter?.resume()
    }
}

try await withGRPCClient(
    transport: .http2NIOPosix(target: .dns(host: target.host, port: target.port), transportSecurity: .plaintext)
) { client in
    let notifications = Fieldwork_V1_NotificationsService.Client(wrapping: client)

    // The directory copy: the department whose cards the events announce.
    let people = (1...peopleCount).map { String(format: "BENCH-%03d", $0) }
    for person in people {
        _ = try await notifications.deliver(BenchEvents.event("visits.PersonChanged", aggregate: "person:\(person)") {
            $0.personChanged = .with {
                $0.person = .with {
                    $0.id = person
                    $0.name = "压测 \(person)"
                    $0.department = "marketing"
                    $0.region = "杭州"
                    $0.roles = ["rep"]
                    $0.active = true
                    $0.updatedAt = .init(Date())
                }
            }
        }, metadata: metadata)
    }

    // Warm-up (connections, plans), not measured.
    for index in 0..<50 {
        _ = try await notifications.deliver(BenchEvents.cardCreated(index, prefix: "WARM"), metadata: metadata)
    }

    let slots = Slots(maximumInFlight)
    let started = ContinuousClock.now
    let lags = try await withThrowingTaskGroup(of: Double.self) { group in
        for index in 0..<events {
            let scheduled = started + .nanoseconds(Int64(Double(index) / rate * 1e9))
            try await Task.sleep(until: scheduled)
            await slots.acquire()
            group.addTask {
                defer { slots.release() }
                _ = try await notifications.deliver(BenchEvents.cardCreated(index), metadata: metadata)
                return (ContinuousClock.now - scheduled).ms
            }
        }
        var lags: [Double] = []
        for try await lag in group { lags.append(lag) }
        return lags.sorted()
    }
    let elapsed = (ContinuousClock.now - started).ms / 1000
    let achieved = Double(lags.count) / elapsed
    print(String(format: "%d CardCreated events to %d people, offered at %.0f events/s: %.2f s, %.0f events/s, %.0f inbox items/s",
                 lags.count, peopleCount, rate, elapsed, achieved, achieved * Double(peopleCount)))
    print(String(format: "  lag (hand-over → inbox rows committed) p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms",
                 percentile(lags, 0.5), percentile(lags, 0.9), percentile(lags, 0.99), lags.last ?? 0))
    print(String(format: "bench-notifications lag p99 ms at %.0f events/s: %.1f", rate, percentile(lags, 0.99)))
    print(String(format: "bench-notifications inbox items/s: %.0f", achieved * Double(peopleCount)))
}
