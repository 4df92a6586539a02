import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

// Drives a running workflows service over TCP and prints figures:
//  1. escalation sweeps (`RunJob escalation` as of a given moment) over the cards
//     the caller seeded: `make bench-workflows` seeds 1 000 000 open cards and
//     `--sweeps` groups of 1 000 overdue ones, group g due (sweeps − g + 1) hours
//     before `--seeded-at`, so sweep g, half an hour after its group fell due,
//     finds exactly that group; then a sweep with nothing due;
//  2. card create/update throughput: CreateRequest (3 numbered cards) followed by
//     AcknowledgeCard on one of them, at the given concurrency.
// `make bench-workflows` also measures the PostgreSQL ceiling for the same
// writes and prints the ratio.
//
// usage: fieldwork-bench-workflows --target HOST:PORT --secret JWT_SECRET --signing-key PEM --seeded-at EPOCH_SECONDS
//            [--sweeps 5] [--pairs N] [--concurrency 32]

let arguments = Dictionary(uniqueKeysWithValues: stride(from: 1, to: CommandLine.arguments.count - 1, by: 2).map {
    (CommandLine.arguments[$0], CommandLine.arguments[$0 + 1])
})
guard let targetText = arguments["--target"], let target = Endpoint(targetText), let secret = arguments["--secret"],
      let seededAt = arguments["--seeded-at"].flatMap(Double.init).map(Date.init(timeIntervalSince1970:))
else {
    FileHandle.standardError.write(Data(
        "usage: fieldwork-bench-workflows --target HOST:PORT --secret JWT_SECRET --signing-key PEM --seeded-at EPOCH_SECONDS [--sweeps 5] [--pairs N] [--concurrency 32]\n".utf8))
    exit(2)
}
let sweeps = max(1, Int(arguments["--sweeps"] ?? "") ?? 5)
let pairs = Int(arguments["--pairs"] ?? "") ?? 3000
let concurrency = Int(arguments["--concurrency"] ?? "") ?? 32

// User tokens: the ES256 key `fieldctl dev-keys` made for this run (the service holds its JWKS).
guard let signingKey = arguments["--signing-key"] else { fatalError("--signing-key PEM is required") }
let authority = try await UserTokenSigner(pemFile: signingKey, keyID: arguments["--key-id"] ?? "dev")
let admin = try await authority.sign(Principal(personID: "BENCH-ADMIN", roles: [.admin]))
let rep = try await authority.sign(Principal(personID: "BENCH-REP", roles: [.rep], department: "sales"))
let marketing = try await authority.sign(Principal(personID: "BENCH-MK", roles: [.rep], department: "marketing"))

func metadata(_ token: String) -> Metadata { ["authorization": "Bearer \(token)"] }

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

extension Duration {
    var ms: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}

try await withGRPCClient(
    transport: .http2NIOPosix(target: .dns(host: target.host, port: target.port), transportSecurity: .plaintext)
) { client in
    let workflows = Fieldwork_V1_WorkflowsService.Client(wrapping: client)

    // 1. The escalation sweeps.
    func sweep(asOf: Date) async throws -> (escalated: Int64, ms: Double) {
        let started = ContinuousClock.now
        let outcome = try await workflows.runJob(.with { $0.name = "escalation"; $0.asOf = .init(date: asOf) }, metadata: metadata(admin))
        return (outcome.itemsProcessed, (ContinuousClock.now - started).ms)
    }
    var sweepTimes: [Double] = [], escalatedPerSweep: Set<Int64> = []
    for group in 1...sweeps {
        let asOf = seededAt.addingTimeInterval(-Double(sweeps - group) * 3600 - 1800)
        let (escalated, ms) = try await sweep(asOf: asOf)
        print(String(format: "sweep %d: %d escalation(s) in %.1f ms", group, escalated, ms))
        sweepTimes.append(ms)
        escalatedPerSweep.insert(escalated)
    }
    sweepTimes.sort()
    print(String(format: "bench-workflows sweep ms (%@ escalated each): median %.1f, best %.1f, worst %.1f over %d sweeps",
                 escalatedPerSweep.sorted().map(String.init).joined(separator: "/"),
                 percentile(sweepTimes, 0.5), sweepTimes[0], sweepTimes[sweepTimes.count - 1], sweeps))
    let idle = try await sweep(asOf: seededAt.addingTimeInterval(-1800))
    print(String(format: "bench-workflows sweep ms (nothing due, %d escalated): %.1f", idle.escalated, idle.ms))

    // 2. Card create/update throughput.
    let started = ContinuousClock.now
    let samples = try await withThrowingTaskGroup(of: [(Double, Double)].self) { group in
        for worker in 0..<concurrency {
            let share = pairs / concurrency + (worker < pairs % concurrency ? 1 : 0)
            group.addTask {
                var samples: [(Double, Double)] = []
                for _ in 0..<share {
                    let t0 = ContinuousClock.now
                    let request = try await workflows.createRequest(.with {
                        $0.templateID = "surgery-support"
                        $0.customerID = "BENCH-C"
                        $0.variables = ["products": "压测产品", "surgery_date": "2026-12-01", "department": "骨科"]
                    }, metadata: metadata(rep))
                    let t1 = ContinuousClock.now
                    let card = request.cards.first { $0.department == "marketing" }?.id ?? ""
                    _ = try await workflows.acknowledgeCard(.with { $0.cardID = card }, metadata: metadata(marketing))
                    let t2 = ContinuousClock.now
                    samples.append(((t1 - t0).ms, (t2 - t1).ms))
                }
                return samples
            }
        }
        var all: [(Double, Double)] = []
        for try await samples in group { all += samples }
        return all
    }
    let elapsed = (ContinuousClock.now - started).ms / 1000
    let creates = samples.map(\.0).sorted(), acks = samples.map(\.1).sorted()
    let rate = Double(samples.count) / elapsed
    print(String(format: "concurrency %d: %d CreateRequest+AcknowledgeCard pairs in %.2f s = %.0f pairs/s (%.0f cards created/s)",
                 concurrency, samples.count, elapsed, rate, rate * 3))
    print(String(format: "  CreateRequest   p50 %.1f ms  p99 %.1f ms", percentile(creates, 0.5), percentile(creates, 0.99)))
    print(String(format: "  AcknowledgeCard p50 %.1f ms  p99 %.1f ms", percentile(acks, 0.5), percentile(acks, 0.99)))
    print(String(format: "bench-workflows pairs/s at %d: %.0f", concurrency, rate))
}
