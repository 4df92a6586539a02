import FieldworkDomain
import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// The visits service's access rules (README, "Access") checked against the
/// running binary: every role × every role-restricted RPC, then each object
/// rule × own / someone else's object.
@Suite(.serialized) struct AccessMatrixTests {
    typealias Client = Fieldwork_V1_VisitsService.Client<HTTP2ClientTransport.Posix>

    /// The README's table: the roles that may call each restricted visits RPC.
    static let restricted: [String: Set<Role>] = [
        "UpsertPerson": [.admin], "UpsertDepartment": [.admin], "UpsertCustomer": [.admin], "UpsertProduct": [.admin],
        "ImportCsv": [.admin], "ExportCsv": [.admin], "RotateCheckinKey": [.admin], "RunJob": [.admin],
        "IssueCheckinCode": [.admin, .manager],
        "CheckIn": [.rep, .academic, .kam, .manager], "CheckOut": [.rep, .academic, .kam, .manager],
        "UpdateVisitDraft": [.rep, .academic, .kam, .manager], "SubmitVisit": [.rep, .academic, .kam, .manager],
        "AmendVisit": [.rep, .academic, .kam, .manager],
        "SetDailyPlan": [.rep, .academic, .kam, .manager, .admin],
        "SetStage": [.rep, .kam, .manager, .director, .admin], "ProposeGradeChange": [.rep, .kam, .manager, .director, .admin],
        "ConfirmGradeChange": [.manager, .director, .admin], "RejectGradeChange": [.manager, .director, .admin],
        "VerifyWatermark": [.admin, .manager, .director, .ops],
        "ListAudit": [.admin, .director, .manager, .deptHead],
        "Deliver": [.service],
    ]

    /// Each RPC called with an empty request: a role that passes the check gets
    /// the handler's own answer (usually INVALID_ARGUMENT), never PERMISSION_DENIED.
    static let calls: [String: @Sendable (Client, Metadata) async throws -> Void] = [
        "UpsertPerson": { _ = try await $0.upsertPerson(.init(), metadata: $1) },
        "UpsertDepartment": { _ = try await $0.upsertDepartment(.init(), metadata: $1) },
        "UpsertCustomer": { _ = try await $0.upsertCustomer(.init(), metadata: $1) },
        "UpsertProduct": { _ = try await $0.upsertProduct(.init(), metadata: $1) },
        "ImportCsv": { _ = try await $0.importCsv(.init(), metadata: $1) },
        "ExportCsv": { _ = try await $0.exportCsv(.init(), metadata: $1) },
        "RotateCheckinKey": { _ = try await $0.rotateCheckinKey(.init(), metadata: $1) },
        "RunJob": { _ = try await $0.runJob(.init(), metadata: $1) },
        "IssueCheckinCode": { _ = try await $0.issueCheckinCode(.init(), metadata: $1) },
        "CheckIn": { _ = try await $0.checkIn(.init(), metadata: $1) },
        "CheckOut": { _ = try await $0.checkOut(.init(), metadata: $1) },
        "UpdateVisitDraft": { _ = try await $0.updateVisitDraft(.init(), metadata: $1) },
        "SubmitVisit": { _ = try await $0.submitVisit(.init(), metadata: $1) },
        "AmendVisit": { _ = try await $0.amendVisit(.init(), metadata: $1) },
        "SetDailyPlan": { _ = try await $0.setDailyPlan(.init(), metadata: $1) },
        "SetStage": { _ = try await $0.setStage(.init(), metadata: $1) },
        "ProposeGradeChange": { _ = try await $0.proposeGradeChange(.init(), metadata: $1) },
        "ConfirmGradeChange": { _ = try await $0.confirmGradeChange(.init(), metadata: $1) },
        "RejectGradeChange": { _ = try await $0.rejectGradeChange(.init(), metadata: $1) },
        "VerifyWatermark": { _ = try await $0.verifyWatermark(.init(), metadata: $1) },
        "ListAudit": { _ = try await $0.listAudit(.init(), metadata: $1) },
        "Deliver": { _ = try await $0.deliver(.init(), metadata: $1) },
        // Open to every signed-in role (object rules below):
        "GetVisit": { _ = try await $0.getVisit(.init(), metadata: $1) },
        "ListVisits": { _ = try await $0.listVisits(.init(), metadata: $1) },
        "GetDailyPlan": { _ = try await $0.getDailyPlan(.init(), metadata: $1) },
        "ListCustomers": { _ = try await $0.listCustomers(.init(), metadata: $1) },
        "ListPeople": { _ = try await $0.listPeople(.init(), metadata: $1) },
        "TopObjections": { _ = try await $0.topObjections(.init(), metadata: $1) },
    ]

    @Test func everyRoleGetsExactlyTheRPCsTheReadmeGivesIt() async throws {
        try await Cluster.with { cluster in
            try cluster.start(.visits)
            try await cluster.waitUntilServing(.visits)
            var mismatches: [String] = []
            for role in Role.allCases {
                let token = try await cluster.token("MATRIX-\(role.rawValue)", [role], department: "sales", region: "杭州")
                let outcomes = try await cluster.visits(token) { client, metadata in
                    var outcomes: [String: RPCError.Code?] = [:]
                    for (method, call) in Self.calls { outcomes[method] = await rpcCode { try await call(client, metadata) } }
                    return outcomes
                }
                for (method, code) in outcomes.sorted(by: { $0.key < $1.key }) {
                    let allowed = Self.restricted[method].map { $0.contains(role) } ?? true
                    let denied = code == .permissionDenied
                    if allowed == denied || code == .unauthenticated || code == .unimplemented {
                        mismatches.append("\(role.rawValue) → \(method): \(code.map { "\($0)" } ?? "ok"), expected \(allowed ? "allowed" : "permissionDenied")")
                    }
                }
            }
            #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
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
