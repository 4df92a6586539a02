import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NotificationsService
import ScoringService
import Testing
import VisitsService
import WorkflowsService

/// The access rules every service declares (SPEC §8), checked against the
/// running binaries: every role × every RPC of the four services, generated
/// from the rules themselves, then each object rule × own / someone else's object.
@Suite(.serialized) struct AccessMatrixTests {
    static let services: [(Cluster.Service, ServiceBlueprint)] = [
        (.visits, VisitsBlueprint.blueprint), (.workflows, WorkflowsBlueprint.blueprint),
        (.scoring, ScoringBlueprint.blueprint), (.notifications, NotificationsBlueprint.blueprint),
    ]

    /// Every RPC called with an empty message (valid for any protobuf type) by
    /// every role: a role the rule admits gets the handler's own answer (usually
    /// INVALID_ARGUMENT; DEADLINE_EXCEEDED for a stream that stays open), one it
    /// does not admit gets PERMISSION_DENIED, and nothing answers UNAUTHENTICATED
    /// or UNIMPLEMENTED.
    @Test func everyRoleGetsExactlyTheRPCsItsRulesAdmit() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            var mismatches: [String] = []
            var calls = 0
            for (service, blueprint) in Self.services {
                let methods = try #require(try AccessRules.declaredMethods().first { $0.service == blueprint.grpcServiceName }?.methods)
                for role in Role.allCases {
                    // `service` is never a person's role: services carry it in their own tokens, addressed to one service.
                    let token = role == .service
                        ? try await cluster.serviceToken(to: service)
                        : try await cluster.token("MATRIX-\(role.rawValue)", [role], department: "sales", region: "杭州")
                    let outcomes = try await cluster.withClient(service) { client in
                        try await withThrowingTaskGroup(of: (MethodDescriptor, RPCError.Code?).self) { group in
                            for method in methods {
                                group.addTask { (method, await rpcCode { try await client.callWithEmptyMessage(method, metadata: cluster.metadata(token)) }) }
                            }
                            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
                        }
                    }
                    for method in methods {
                        calls += 1
                        let code = outcomes[method] ?? nil
                        let admitted = AccessRules(blueprint.access)[method]?.roles.contains(role) ?? false
                        if admitted == (code == .permissionDenied) || code == .unauthenticated || code == .unimplemented {
                            mismatches.append("\(role.rawValue) → \(method): \(code.map { "\($0)" } ?? "ok"), expected \(admitted ? "admitted" : "permissionDenied")")
                        }
                    }
                }
            }
            #expect(calls > 1000, "\(calls) calls")
            #expect(mismatches.isEmpty, "\(mismatches.sorted().joined(separator: "\n"))")
        }
    }

    @Test func recordsAndPlansAreSeenByTheirOwnerTheTeamManagerTheRegionsDirectorAndAdmins() async throws {
        try await Cluster.with { cluster in
            try cluster.start(.visits)
            try await cluster.waitUntilServing(.visits)
            let story = try await Story(cluster)
            try await story.importDirectory()
            let visit = try await story.submit(try await story.checkIn(at: DemoData.insideZheyi), surgeryInDays: nil)
            let open = try await story.checkIn(at: DemoData.insideZheyi, customer: "H-ZJ-002")
            let tomorrow = DemoData.shanghaiDate(daysFromToday: 1)
            _ = try await cluster.visits(story.rep) { client, metadata in
                try await client.setDailyPlan(.with { $0.day = tomorrow; $0.visits = [.with { $0.customerID = "H-ZJ-001" }] }, metadata: metadata)
            }

            // Who, and how each object RPC answers them about E1001's visit and plan.
            let people: [(name: String, token: String)] = [
                ("E1001 (owner)", story.rep),
                ("E1002 (another rep)", try await cluster.token("E1002", [.rep], department: "sales", region: "宁波")),
                ("M2001 (E1001's manager)", try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")),
                ("D3001 (director, 杭州)", try await cluster.token("D3001", [.director], department: "management", region: "杭州")),
                ("D9 (director, 宁波)", try await cluster.token("D9", [.director], department: "management", region: "宁波")),
                ("LG02 (ops)", try await cluster.token("LG02", [.ops], department: "logistics", region: "杭州")),
                ("A0001 (admin)", story.admin),
            ]
            let ok: RPCError.Code? = nil, denied: RPCError.Code? = .permissionDenied
            let expected: [String: [RPCError.Code?]] = [
                //                      owner  other   manager director 宁波dir ops     admin
                "GetVisit":            [ok,    denied, ok,     ok,      denied, denied, ok],
                "GetDailyPlan":        [ok,    denied, ok,     ok,      denied, denied, ok],
                "AmendVisit":          [ok,    denied, denied, denied,  denied, denied, denied],
                "UpdateVisitDraft":    [ok,    denied, denied, denied,  denied, denied, denied],
            ]
            var mismatches: [String] = []
            for (index, person) in people.enumerated() {
                let answers: [String: RPCError.Code?] = [
                    "GetVisit": await rpcCode {
                        _ = try await cluster.visits(person.token) { client, metadata in try await client.getVisit(.with { $0.id = visit.id }, metadata: metadata) }
                    },
                    "GetDailyPlan": await rpcCode {
                        _ = try await cluster.visits(person.token) { client, metadata in
                            try await client.getDailyPlan(.with { $0.repID = "E1001"; $0.day = tomorrow }, metadata: metadata)
                        }
                    },
                    "AmendVisit": await rpcCode {
                        _ = try await cluster.visits(person.token) { client, metadata in
                            try await client.amendVisit(.with {
                                $0.visitID = visit.id
                                $0.record = visit.record
                                $0.reason = "matrix \(index)"
                            }, metadata: metadata)
                        }
                    },
                    "UpdateVisitDraft": await rpcCode {
                        _ = try await cluster.visits(person.token) { client, metadata in
                            try await client.updateVisitDraft(.with { $0.visitID = open.id; $0.record = DemoData.record(surgeryInDays: nil) }, metadata: metadata)
                        }
                    },
                ]
                for (rpc, row) in expected {
                    // Roles the method table refuses answer PERMISSION_DENIED before the object rule.
                    if answers[rpc]! != row[index] {
                        mismatches.append("\(person.name) → \(rpc): \(answers[rpc]!.map { "\($0)" } ?? "ok"), expected \(row[index].map { "\($0)" } ?? "ok")")
                    }
                }
            }
            #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")

            // Lists are filtered, not refused: another rep's list does not include E1001's visits.
            let others = try await cluster.visits(people[1].token) { client, metadata in try await client.listVisits(.init(), metadata: metadata).visits }
            #expect(!others.contains { $0.repID == "E1001" })
            let managers = try await cluster.visits(people[2].token) { client, metadata in try await client.listVisits(.init(), metadata: metadata).visits }
            #expect(managers.contains { $0.id == visit.id })
        }
    }
}

/// Raw protobuf bytes in and out, so one client can call any method by descriptor.
struct RawMessageCoder: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] { bytes.withUnsafeBytes { Array($0) } }
}

extension GRPCClient {
    /// Sends one empty message (the default of every protobuf message) to `method`,
    /// whatever its kind, and reads every response until the stream ends or 2 s pass.
    func callWithEmptyMessage(_ method: MethodDescriptor, metadata: Metadata) async throws {
        try await call(method, message: [], metadata: metadata, timeout: .seconds(2))
    }

    /// Sends one message of raw protobuf bytes to `method`, whatever its kind, and
    /// reads every response until the stream ends or `timeout` passes.
    func call(_ method: MethodDescriptor, message: [UInt8], metadata: Metadata, timeout: Duration) async throws {
        var options = CallOptions.defaults
        options.timeout = timeout
        try await bidirectionalStreaming(
            request: StreamingClientRequest<[UInt8]>(metadata: metadata) { writer in try await writer.write(message) },
            descriptor: method, serializer: RawMessageCoder(), deserializer: RawMessageCoder(), options: options
        ) { response in
            for try await _ in response.messages {}
        }
    }
}
