import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

typealias Transport = HTTP2ClientTransport.Posix

/// The four services as one caller sees them, and tokens for anyone in the organisation.
struct Fieldwork: Sendable {
    let visits: Fieldwork_V1_VisitsService.Client<Transport>
    let workflows: Fieldwork_V1_WorkflowsService.Client<Transport>
    let scoring: Fieldwork_V1_ScoringService.Client<Transport>
    let notifications: Fieldwork_V1_NotificationsService.Client<Transport>
    let clocks: [Fieldwork_V1_SimulationClock.Client<Transport>]
    let tokens: TokenCache

    /// Metadata carrying a token for `person` with their roles.
    func caller(_ person: String) async throws -> Metadata {
        ["authorization": "Bearer \(try await tokens.token(for: person))"]
    }

    var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = .seconds(60)
        return options
    }

    /// Connects to the four services, runs `body`, and closes the connections.
    static func connect<Result: Sendable>(
        addresses: [String], tokens: TokenCache, _ body: @Sendable (Fieldwork) async throws -> Result
    ) async throws -> Result {
        let transports = try addresses.map { address in
            guard let endpoint = Endpoint(address) else { throw DemoError("'\(address)' is not host:port") }
            return try HTTP2ClientTransport.Posix(target: endpoint.grpcTarget, transportSecurity: .plaintext)
        }
        let clients = transports.map { GRPCClient(transport: $0) }
        return try await withThrowingDiscardingTaskGroup { group in
            for client in clients { group.addTask { try await client.runConnections() } }
            defer { for client in clients { client.beginGracefulShutdown() } }
            let fieldwork = Fieldwork(
                visits: .init(wrapping: clients[0]), workflows: .init(wrapping: clients[1]),
                scoring: .init(wrapping: clients[2]), notifications: .init(wrapping: clients[3]),
                clocks: clients.map { .init(wrapping: $0) }, tokens: tokens)
            return try await body(fieldwork)
        }
    }
}

/// Signs one token per person (with the roles, department and region the
/// organisation gives them) and reuses it for the whole run.
final class TokenCache: Sendable {
    private let signer: UserTokenSigner
    private let principals: [String: Principal]
    private let cache = Mutex<[String: String]>([:])

    init(signer: UserTokenSigner, organisation: Organisation) async throws {
        self.signer = signer
        var principals: [String: Principal] = [:]
        for person in organisation.people {
            principals[person.id] = Principal(
                personID: person.id, roles: Set(person.roles.compactMap(Role.init(rawValue:))),
                department: person.department, region: person.region)
        }
        self.principals = principals
    }

    func token(for person: String) async throws -> String {
        if let token = cache.withLock({ $0[person] }) { return token }
        guard let principal = principals[person] else { throw DemoError("no person \(person) in the organisation") }
        // Wall-clock lifetime: the services check tokens against real time, also under a simulated clock.
        let token = try await signer.sign(principal, validFor: 12 * 3600)
        cache.withLock { $0[person] = token }
        return token
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
