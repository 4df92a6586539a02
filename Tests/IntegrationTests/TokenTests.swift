import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import Synchronization
import Testing

/// SPEC §8.4 on the running binaries. Before, one HS256 secret signed users,
/// services and admins alike; `iat`/`nbf` went unchecked, a token could live
/// for ever, an empty `sub` was accepted, and nothing refused the published
/// development secret outside development.
@Suite(.serialized) struct TokenTests {
    @Test func userTokensAreES256FromTheJWKSAndServiceTokensAreAddressed() async throws {
        try await Cluster.with(createDatabases: [.visits]) { cluster in
            // Two keys during a rotation: the cluster's and an older one.
            let retiring = await UserTokenSigner(generatingKeyID: "retiring")
            let rotation = cluster.logDirectory.appendingPathComponent("jwks-rotation.json")
            try UserTokenSigner.jwks([retiring, cluster.signer]).write(to: rotation, atomically: true, encoding: .utf8)
            try cluster.start(.visits, extra: ["JWKS_FILE": rotation.path])
            try await cluster.waitUntilServing(.visits)

            func code(_ token: String) async -> RPCError.Code? {
                await rpcCode { _ = try await cluster.visits(token) { client, metadata in try await client.listProducts(.init(), metadata: metadata) } }
            }
            let admin = Principal(personID: "A0001", roles: [.admin], department: "management")
            let old = try await retiring.sign(admin)
            #expect(await code(old) == nil)
            #expect(await code(try await cluster.signer.sign(admin)) == nil)

            // 12 h is the longest a user token lives; 13 h is refused, as are an empty subject,
            // no roles, a token issued an hour from now, and a user token claiming `service`.
            #expect(await code(try await cluster.signer.sign(admin, validFor: 12 * 3600)) == nil)
            #expect(await code(try await cluster.signer.sign(admin, validFor: 13 * 3600)) == .unauthenticated)
            #expect(await code(try await cluster.signer.sign(Principal(personID: "", roles: [.admin]))) == .unauthenticated)
            #expect(await code(try await cluster.signer.sign(Principal(personID: "A0001", roles: []))) == .unauthenticated)
            #expect(await code(try await cluster.signer.sign(admin, now: Date().addingTimeInterval(3600))) == .unauthenticated)
            #expect(await code(try await cluster.signer.sign(admin, now: Date().addingTimeInterval(20))) == nil)   // within the leeway
            #expect(await code(try await cluster.signer.sign(Principal(personID: "svc-x", roles: [.service]))) == .unauthenticated)

            // Service tokens: HS256 with the services' secret, addressed to one service, `service` role only.
            let workflows = try await TokenAuthority(
                jwks: UserTokenSigner.jwks([cluster.signer]), serviceSecret: Cluster.jwtSecret, service: "workflows")
            func deliver(_ token: String) async -> RPCError.Code? {
                await rpcCode { _ = try await cluster.visits(token) { client, metadata in try await client.deliver(.init(), metadata: metadata) } }
            }
            #expect(await deliver(try await workflows.serviceToken(to: "notifications")) == .unauthenticated)   // not for visits
            #expect(await deliver(try await workflows.serviceToken(to: "visits")) == .invalidArgument)          // admitted; the event is empty
            #expect(await deliver(try await workflows.serviceToken(to: "visits", validFor: 13 * 3600)) == .unauthenticated)
            #expect(await code(try await workflows.serviceToken(to: "visits")) == .permissionDenied)            // Deliver only

            // The retiring key is removed from the JWKS: its tokens stop working, the new key's go on.
            await cluster.stop(.visits)
            try cluster.start(.visits)
            try await cluster.waitUntilServing(.visits)
            #expect(await code(old) == .unauthenticated)
            #expect(await code(try await cluster.signer.sign(admin)) == nil)
        }
    }

    @Test func aPublishedSecretStopsAServiceOutsideDevelopment() async throws {
        try await Cluster.with(createDatabases: [.visits]) { cluster in
            try cluster.start(.visits, extra: ["FIELDWORK_ENV": "prod"])
            let process = try #require(cluster.process(.visits))
            try await cluster.eventually("visits exits", timeout: .seconds(30)) { !process.isRunning }
            #expect(process.terminationStatus != 0)
            let log = try String(contentsOf: cluster.logDirectory.appendingPathComponent("visits.log"), encoding: .utf8)
            #expect(log.contains("FIELDWORK_VISITS_JWT_SECRET is a value published in the Fieldwork repository"), "\(log)")
        }
    }

    /// The keys from the issuer's URL, rotated while the service runs: a token
    /// under a newly published kid works at once (the unknown kid triggers a
    /// reload), a removed key stops at the next scheduled reload, and an issuer
    /// that answers 500 leaves the keys in hand working.
    @Test func keysFromAJWKSURLRotateWithoutARestart() async throws {
        let published = Mutex<(status: Int, body: String)>((200, ""))
        try await LoopbackReceiver.with({ request in
            let (status, body) = published.withLock { $0 }
            return request.path == "/.well-known/jwks.json" ? .respond(status: status, body: body) : .respond(status: 404, body: "")
        }) { issuer in
            try await Cluster.with(createDatabases: [.visits]) { cluster in
                published.withLock { $0 = (200, UserTokenSigner.jwks([cluster.signer])) }
                try cluster.start(.visits, extra: [
                    "JWKS_FILE": "", "JWKS_URL": "http://127.0.0.1:\(issuer.port)/.well-known/jwks.json", "JWKS_REFRESH_SECONDS": "1",
                ])
                try await cluster.waitUntilServing(.visits)
                let admin = Principal(personID: "A0001", roles: [.admin], department: "management")
                @Sendable func code(_ token: String) async -> RPCError.Code? {
                    await rpcCode { _ = try await cluster.visits(token) { client, metadata in try await client.listProducts(.init(), metadata: metadata) } }
                }
                let old = try await cluster.signer.sign(admin)
                #expect(await code(old) == nil)

                let next = await UserTokenSigner(generatingKeyID: "2026-12")
                published.withLock { $0 = (200, UserTokenSigner.jwks([cluster.signer, next])) }
                #expect(await code(try await next.sign(admin)) == nil)

                published.withLock { $0 = (200, UserTokenSigner.jwks([next])) }
                try await cluster.eventually("the retired key is refused", timeout: .seconds(15)) { await code(old) == .unauthenticated }

                published.withLock { $0 = (500, "") }
                let log = cluster.logDirectory.appendingPathComponent("visits.log")
                try await cluster.eventually("a failed reload is logged", timeout: .seconds(15)) {
                    ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("user-token keys not reloaded")
                }
                #expect(await code(try await next.sign(admin)) == nil)
            }
        }
    }
}
