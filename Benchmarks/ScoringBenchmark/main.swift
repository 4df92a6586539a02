import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

// Drives a running scoring service over TCP and prints figures:
//  1. one nightly run (`RunJob scoring`) over the customers and facts the caller
//     seeded (`make bench-scoring`: 100 000 customers, 10 000 000 facts), timed
//     end to end;
//  2. rule evaluation throughput: a burst of VisitSubmitted events through
//     `Deliver` (the path the visits service's relay takes), at the given
//     concurrency — each one updates a (rep, customer) streak, and every third
//     visit to a pair fires *stalled customer*.
// `make bench-scoring` also times the hand-written SQL floor and the service's
// peak memory, and prints the ratio.
//
// usage: fieldwork-bench-scoring --target HOST:PORT --secret JWT_SECRET --signing-key PEM --phase run|events [--events 10000] [--concurrency 32] [--customers 100000]

let arguments = Dictionary(uniqueKeysWithValues: stride(from: 1, to: CommandLine.arguments.count - 1, by: 2).map {
    (CommandLine.arguments[$0], CommandLine.arguments[$0 + 1])
})
guard let targetText = arguments["--target"], let target = Endpoint(targetText), let secret = arguments["--secret"] else {
    FileHandle.standardError.write(Data("usage: fieldwork-bench-scoring --target HOST:PORT --secret JWT_SECRET --signing-key PEM [--events N] [--concurrency 32]\n".utf8))
    exit(2)
}
let events = Int(arguments["--events"] ?? "") ?? 10_000
let concurrency = Int(arguments["--concurrency"] ?? "") ?? 32
let customers = Int(arguments["--customers"] ?? "") ?? 100_000
let phase = arguments["--phase"] ?? "run"

// User tokens: the ES256 key `fieldctl dev-keys` made for this run (the service holds its JWKS).
guard let signingKey = arguments["--signing-key"] else { fatalError("--signing-key PEM is required") }
let authority = try await UserTokenSigner(pemFile: signingKey, keyID: arguments["--key-id"] ?? "dev")
let admin = try await authority.sign(Principal(personID: "BENCH-ADMIN", roles: [.admin]))
// Events arrive as the visits service's relay sends them: a service token addressed to scoring.
let relay = try await TokenAuthority(jwks: UserTokenSigner.jwks([authority]), serviceSecret: secret, service: "visits").serviceToken(to: "scoring")

func metadata(_ token: String) -> Metadata { ["authorization": "Bearer \(token)"] }

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

try await withGRPCClient(
    transport: .http2NIOPosix(target: .dns(host: target.host, port: target.port), transportSecurity: .plaintext)
) { client in
    let scoring = Fieldwork_V1_ScoringService.Client(wrapping: client)

    if phase == "run" {
    // 1. The nightly run, as the scheduler starts it.
    let started = ContinuousClock.now
    let outcome = try await scoring.runJob(.with { $0.name = "scoring" }, metadata: metadata(admin), options: {
        var options = CallOptions.defaults
        options.timeout = .seconds(1800)
        return options
    }())
    let elapsed = (ContinuousClock.now - started).seconds
    print(String(format: "nightly run: %@ in %.2f s", outcome.summary, elapsed))
    print(String(format: "bench-scoring run s: %.3f", elapsed))
    return
    }

    // 2. A burst of submitted visits through Deliver: 100 reps, pairs visited three times each.
    let pairs = max(1, events / 3)
    let burstStarted = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<concurrency {
            group.addTask {
                var index = worker
                while index < events {
                    let pair = index % pairs, round = index / pairs
                    let customer = String(format: "BC-%06d", pair * 7 % customers + 1)
                    let rep = String(format: "BR-%03d", pair % 100 + 1)
                    _ = try await scoring.deliver(.with {
                        $0.event = .with {
                            $0.id = UUID().uuidString.lowercased()
                            $0.type = "visits.VisitSubmitted"
                            $0.source = "visits"
                            $0.occurredAt = .init(date: Date())
                            $0.aggregateID = "visit:bench-\(pair)-\(round)"
                            $0.visitSubmitted = .with {
                                $0.visitID = "bench-\(pair)-\(round)"
                                $0.repID = rep
                                $0.customerID = customer
                                $0.stageReached = "NEEDS_CONFIRMED"
                                $0.countsTowardPlan = true
                            }
                        }
                    }, metadata: metadata(relay))
                    index += concurrency
                }
            }
        }
        try await group.waitForAll()
    }
    let burst = (ContinuousClock.now - burstStarted).seconds
    let firings = try await scoring.listRuleFirings(.with { $0.ruleID = "stalled_customer"; $0.page.pageSize = 1 }, metadata: metadata(admin))
    print(String(format: "rule evaluation: %d VisitSubmitted events in %.2f s = %.0f events/s at concurrency %d (stalled-customer firings: %@)",
                 events, burst, Double(events) / burst, concurrency, firings.firings.isEmpty ? "none" : "yes"))
    print(String(format: "bench-scoring events/s: %.0f", Double(events) / burst))
}
