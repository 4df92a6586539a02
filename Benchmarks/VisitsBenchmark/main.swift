import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

// Drives CheckIn then SubmitVisit against a running visits service over TCP
// and prints throughput and latency per concurrency level. Run it with
// `make bench-visits`, which also measures the PostgreSQL ceiling for the same
// writes and prints the ratio.
//
// Before the first level, `--warmup` pairs (default 1 000) run unmeasured: the
// service opens its pool's connections and prepares its statements on each, and
// PostgreSQL's backends fill their caches, as in any service that has been up a
// while. The first level would otherwise measure that start-up too (about 15 %
// fewer pairs/s and a higher p99 in a 4 000-pair run).
//
// With `--request-ids yes` every call carries a request id, as an app that
// retries safely sends them: each call is then one transaction with its stored
// answer (BEGIN, request lock, idempotency read, statements, answer, COMMIT).
//
// With `--calls noop` each "pair" is two Health/Check calls instead, which do
// nothing (no token, no database): the same client, connection and concurrency,
// so its pairs/s is what the gRPC client and server alone allow on this machine
// (the floor the visits figures are read against).
//
// usage: fieldwork-bench-visits --target HOST:PORT --secret JWT_SECRET --signing-key PEM [--pairs N] [--warmup N] [--concurrency 32,128] [--request-ids yes] [--calls noop]

let arguments = Dictionary(uniqueKeysWithValues: stride(from: 1, to: CommandLine.arguments.count - 1, by: 2).map {
    (CommandLine.arguments[$0], CommandLine.arguments[$0 + 1])
})
guard let targetText = arguments["--target"], let target = Endpoint(targetText), let secret = arguments["--secret"] else {
    FileHandle.standardError.write(Data("usage: fieldwork-bench-visits --target HOST:PORT --secret JWT_SECRET --signing-key PEM [--pairs N] [--warmup N] [--concurrency 32,128] [--request-ids yes] [--calls noop]\n".utf8))
    exit(2)
}
let pairsPerLevel = Int(arguments["--pairs"] ?? "") ?? 4000
let warmupPairs = Int(arguments["--warmup"] ?? "") ?? 1000
let levels = (arguments["--concurrency"] ?? "32,128").split(separator: ",").compactMap { Int($0) }
let withRequestIDs = arguments["--request-ids"] == "yes"
let noopCalls = arguments["--calls"] == "noop"
let customers = 64

// User tokens: the ES256 key `fieldctl dev-keys` made for this run (the service holds its JWKS).
guard let signingKey = arguments["--signing-key"] else { fatalError("--signing-key PEM is required") }
let authority = try await UserTokenSigner(pemFile: signingKey, keyID: arguments["--key-id"] ?? "dev")
let admin = try await authority.sign(Principal(personID: "BENCH-ADMIN", roles: [.admin]))

func metadata(_ token: String) -> Metadata { ["authorization": "Bearer \(token)"] }

/// One rep per worker, so workers never wait on each other's check-in lock.
func repTokens(_ run: String, count: Int) async throws -> [String] {
    var tokens: [String] = []
    for worker in 0..<count { tokens.append(try await authority.sign(Principal(personID: "BENCH-\(run)-\(worker)", roles: [.rep]))) }
    return tokens
}

/// Milliseconds at a percentile of sorted durations.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

try await withGRPCClient(
    transport: .http2NIOPosix(target: .dns(host: target.host, port: target.port), transportSecurity: .plaintext)
) { client in
    let visits = Fieldwork_V1_VisitsService.Client(wrapping: client)
    if noopCalls {
        try await runNoopLevels(Grpc_Health_V1_Health.Client(wrapping: client))
        return
    }

    // Setup: customers in a grid around 杭州 and one product.
    var csv = "id,name,region,latitude,longitude\n"
    for i in 0..<customers { csv += "BENCH-\(i),压测医院\(i),杭州,\(30.0 + Double(i) * 0.01),120.0\n" }
    _ = try await visits.importCsv(.with { $0.kind = .customers; $0.content = Data(csv.utf8) }, metadata: metadata(admin))
    _ = try await visits.importCsv(.with { $0.kind = .products; $0.content = Data("id,name,product_line\nBENCH-P,压测产品,spine\n".utf8) }, metadata: metadata(admin))
    var codes: [String] = []
    for i in 0..<customers {
        codes.append(try await visits.issueCheckinCode(.with { $0.customerID = "BENCH-\(i)" }, metadata: metadata(admin)).token)
    }
    let record = Fieldwork_V1_VisitRecord.with {
        $0.productIds = ["BENCH-P"]
        $0.objectionType = .price
        $0.objectionNote = "压测"
        $0.intent = .medium
    }

    print("fieldwork-bench-visits: \(pairsPerLevel) CheckIn+SubmitVisit pairs per level against \(target)\(withRequestIDs ? ", with request ids" : "")")
    if warmupPairs > 0, let first = levels.first {
        let tokens = try await repTokens("W", count: first)
        _ = try await runWorkers(visits, pairs: warmupPairs, concurrency: first, tokens: tokens, codes: codes, record: record)
        print("warm-up: \(warmupPairs) pairs at concurrency \(first), not measured")
    }
    for concurrency in levels {
        let tokens = try await repTokens("R\(concurrency)", count: concurrency)
        let started = ContinuousClock.now
        let samples = try await runWorkers(visits, pairs: pairsPerLevel, concurrency: concurrency, tokens: tokens, codes: codes, record: record)
        let elapsed = (ContinuousClock.now - started).ms / 1000
        let checkIns = samples.map(\.0).sorted(), submits = samples.map(\.1).sorted()
        let pairs = Double(samples.count) / elapsed
        print(String(format: "concurrency %d: %d pairs in %.2f s = %.0f pairs/s (%.0f calls/s)", concurrency, samples.count, elapsed, pairs, pairs * 2))
        print(String(format: "  CheckIn     p50 %.1f ms  p99 %.1f ms", percentile(checkIns, 0.5), percentile(checkIns, 0.99)))
        print(String(format: "  SubmitVisit p50 %.1f ms  p99 %.1f ms", percentile(submits, 0.5), percentile(submits, 0.99)))
        print("bench-visits pairs/s at \(concurrency)\(withRequestIDs ? " with request ids" : ""): \(String(format: "%.0f", pairs))")
    }
}


/// `--calls noop`: the levels with two Health/Check calls per pair, after the
/// same unmeasured warm-up as the visits levels.
func runNoopLevels(_ health: Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>) async throws {
    print("fieldwork-bench-visits: \(pairsPerLevel) pairs of Health/Check calls per level against \(target)")
    if warmupPairs > 0, let first = levels.first { try await runNoopPairs(health, pairs: warmupPairs, concurrency: first) }
    for concurrency in levels {
        let started = ContinuousClock.now
        try await runNoopPairs(health, pairs: pairsPerLevel, concurrency: concurrency)
        let pairs = Double(pairsPerLevel) / ((ContinuousClock.now - started).ms / 1000)
        print("bench-visits no-op pairs/s at \(concurrency): \(String(format: "%.0f", pairs))")
    }
}

func runNoopPairs(_ health: Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>, pairs: Int, concurrency: Int) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<concurrency {
            let share = pairs / concurrency + (worker < pairs % concurrency ? 1 : 0)
            group.addTask {
                for _ in 0..<share * 2 {
                    let status = try await health.check(.init()).status
                    guard status == .serving else { throw RPCError(code: .unavailable, message: "health is \(status)") }
                }
            }
        }
        try await group.waitForAll()
    }
}

/// `concurrency` workers share the pairs; each returns its (CheckIn ms, SubmitVisit ms) samples.
func runWorkers(
    _ visits: Fieldwork_V1_VisitsService.Client<HTTP2ClientTransport.Posix>, pairs pairsPerLevel: Int, concurrency: Int,
    tokens: [String], codes: [String], record: Fieldwork_V1_VisitRecord
) async throws -> [(Double, Double)] {
    try await withThrowingTaskGroup(of: [(Double, Double)].self) { group in
        for worker in 0..<concurrency {
            let share = pairsPerLevel / concurrency + (worker < pairsPerLevel % concurrency ? 1 : 0)
            let token = tokens[worker]
            group.addTask {
                var samples: [(Double, Double)] = []
                for n in 0..<share {
                    let customer = (worker * 7 + n) % codes.count
                    let location = Fieldwork_V1_GeoPoint.with { $0.latitude = 30.0 + Double(customer) * 0.01; $0.longitude = 120.0; $0.accuracyM = 5 }
                    let t0 = ContinuousClock.now
                    let visit = try await visits.checkIn(.with {
                        $0.code = codes[customer]; $0.location = location
                        if withRequestIDs { $0.requestID = UUID().uuidString }
                    }, metadata: metadata(token))
                    let t1 = ContinuousClock.now
                    _ = try await visits.submitVisit(.with {
                        $0.visitID = visit.id; $0.record = record; $0.location = location
                        if withRequestIDs { $0.requestID = UUID().uuidString }
                    }, metadata: metadata(token))
                    let t2 = ContinuousClock.now
                    samples.append(((t1 - t0).ms, (t2 - t1).ms))
                }
                return samples
            }
        }
        return try await group.reduce(into: []) { $0 += $1 }
    }
}

extension Duration {
    var ms: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
