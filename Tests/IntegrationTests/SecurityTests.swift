import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import Testing

/// (e) authentication, roles and object-level access; refused check-in codes.
@Suite(.serialized) struct SecurityTests {
    @Test func tokensRolesAndCodesAreEnforced() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.importDirectory()

            func code(of call: @Sendable () async throws -> Void) async -> RPCError.Code? {
                do {
                    try await call()
                    return nil
                } catch let error as RPCError {
                    return error.code
                } catch {
                    return .unknown
                }
            }
            let listPeople: @Sendable (String?) async throws -> Void = { token in
                _ = try await cluster.visits(token) { client, metadata in try await client.listPeople(.init(), metadata: metadata) }
            }

            // No token, a forged one, an expired one, a wrong scheme.
            #expect(await code { try await listPeople(nil) } == .unauthenticated)
            // The same key id, another key: the signature does not hold.
            let forger = await UserTokenSigner(generatingKeyID: cluster.signer.keyID)
            let forged = try await forger.sign(Principal(personID: "A0001", roles: [.admin]))
            #expect(await code { try await listPeople(forged) } == .unauthenticated)
            let expired = try await cluster.token("A0001", [.admin], validFor: -60)
            #expect(await code { try await listPeople(expired) } == .unauthenticated)
            #expect(await code {
                _ = try await cluster.withClient(.visits) { client in
                    try await Fieldwork_V1_VisitsService.Client(wrapping: client).listPeople(.init(), metadata: ["authorization": "Basic YTpi"])
                }
            } == .unauthenticated)
            #expect(await code { try await listPeople(story.rep) } == nil)

            // A rep may not run jobs, import, or call Deliver; health needs no token.
            #expect(await code {
                _ = try await cluster.visits(story.rep) { client, metadata in try await client.runJob(.with { $0.name = "outbox-relay" }, metadata: metadata) }
            } == .permissionDenied)
            #expect(await code {
                _ = try await cluster.workflows(story.rep) { client, metadata in try await client.runJob(.with { $0.name = "outbox-relay" }, metadata: metadata) }
            } == .permissionDenied)
            #expect(await code {
                _ = try await cluster.visits(story.rep) { client, metadata in
                    try await client.importCsv(.with { $0.kind = .products; $0.content = Data(DemoData.products.utf8) }, metadata: metadata)
                }
            } == .permissionDenied)
            #expect(await code {
                _ = try await cluster.notifications(story.admin) { client, metadata in try await client.deliver(.init(), metadata: metadata) }
            } == .permissionDenied)
            #expect(await cluster.health(.visits) == .serving)


            // Object-level access: another rep cannot read this rep's visit; their manager can.
            let visit = try await story.checkIn(at: DemoData.insideZheyi)
            let otherRep = try await cluster.token("E1002", [.rep], department: "sales", region: "宁波")
            let manager = try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")
            let getVisit: @Sendable (String) async throws -> Void = { token in
                _ = try await cluster.visits(token) { client, metadata in try await client.getVisit(.with { $0.id = visit.id }, metadata: metadata) }
            }
            #expect(await code { try await getVisit(otherRep) } == .permissionDenied)
            #expect(await code { try await getVisit(manager) } == nil)
            let othersList = try await cluster.visits(otherRep) { client, metadata in try await client.listVisits(.init(), metadata: metadata) }
            #expect(othersList.visits.isEmpty)
            // Another rep cannot submit it either, and nobody reads another person's inbox.
            #expect(await code {
                _ = try await cluster.visits(otherRep) { client, metadata in
                    try await client.submitVisit(.with { $0.visitID = visit.id; $0.record = DemoData.record(surgeryInDays: nil) }, metadata: metadata)
                }
            } == .permissionDenied)
            #expect(await code {
                _ = try await cluster.notifications(otherRep) { client, metadata in try await client.listInbox(.with { $0.personID = "LG01" }, metadata: metadata) }
            } == .permissionDenied)

            // Check-in codes: tampered, forged and expired ones are refused, naming "code".
            let genuine = try await story.code()
            var parts = genuine.split(separator: ".").map(String.init)
            parts[2] = Data(#"{"customer":"H-ZJ-002","department":"","issuedAt":0}"#.utf8).base64EncodedString()
                .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            let tampered = parts.joined(separator: ".")
            let expiredCode = try await cluster.visits(story.admin) { client, metadata in
                try await client.issueCheckinCode(.with { $0.customerID = "H-ZJ-001"; $0.expiresAt = .init(date: Date().addingTimeInterval(1)) }, metadata: metadata).token
            }
            try await Task.sleep(for: .milliseconds(1100))
            for bad in [tampered, "v1.it1.e30.AAAA", "not-a-code", expiredCode] {
                await #expect {
                    _ = try await cluster.visits(story.rep) { client, metadata in
                        try await client.checkIn(.with { $0.code = bad; $0.location = DemoData.insideZheyi }, metadata: metadata)
                    }
                } throws: { error in
                    let error = error as? RPCError
                    return error?.code == .invalidArgument && error?.message.hasPrefix("code:") == true
                }
            }

            // Key rotation: old codes keep working until their key is retired; then they are refused.
            let oldCode = try await story.code()
            #expect(await code {
                _ = try await cluster.visits(story.rep) { client, metadata in try await client.rotateCheckinKey(.init(), metadata: metadata) }
            } == .permissionDenied)
            let rotated = try await cluster.visits(story.admin) { client, metadata in try await client.rotateCheckinKey(.init(), metadata: metadata) }
            #expect(rotated.acceptedKeyIds == [rotated.activeKeyID, "it1"])
            let newCode = try await cluster.visits(story.admin) { client, metadata in
                try await client.issueCheckinCode(.with { $0.customerID = "H-ZJ-002" }, metadata: metadata)
            }
            #expect(newCode.keyID == rotated.activeKeyID)
            let checkInWith: @Sendable (String) async throws -> Void = { code in
                _ = try await cluster.visits(story.rep) { client, metadata in
                    try await client.checkIn(.with { $0.code = code; $0.location = DemoData.insideZheyi }, metadata: metadata)
                }
            }
            #expect(await code { try await checkInWith(oldCode) } == nil)
            #expect(await code {
                _ = try await cluster.visits(story.admin) { client, metadata in
                    try await client.rotateCheckinKey(.with { $0.retireKeyIds = ["nope"] }, metadata: metadata)
                }
            } == .invalidArgument)
            let retired = try await cluster.visits(story.admin) { client, metadata in
                try await client.rotateCheckinKey(.with { $0.retireKeyIds = ["it1"] }, metadata: metadata)
            }
            #expect(!retired.acceptedKeyIds.contains("it1") && retired.acceptedKeyIds.contains(rotated.activeKeyID))
            #expect(await code { try await checkInWith(oldCode) } == .invalidArgument)
            #expect(await code { try await checkInWith(newCode.token) } == nil)

            // Idempotency: a retried check-in with the same request id returns the first result.
            let first = try await story.checkIn(at: DemoData.insideZheyi, customer: "H-ZJ-002", requestID: "retry-1")
            let again = try await story.checkIn(at: DemoData.twoKilometresAway, customer: "H-ZJ-002", requestID: "retry-1")
            #expect(first == again)
        }
    }
}
