import FieldworkDomain
import Foundation
import Testing

@testable import FieldworkRuntime

/// User tokens (ES256 against the JWKS) and service tokens (HS256, addressed),
/// their time rules, and the cache of verified tokens, which must not let a
/// changed or expired token through.
@Suite struct TokenAuthorityTests {
    let principal = Principal(personID: "E1001", roles: [.rep], department: "sales", region: "杭州")
    static let secret = "token-test-secret-0123456789abcdefghij"

    func authority(_ signers: [UserTokenSigner], service: String = "visits") async throws -> TokenAuthority {
        try await TokenAuthority(jwks: UserTokenSigner.jwks(signers), serviceSecret: Self.secret, service: service)
    }

    @Test func aRememberedTokenIsRefusedOnceItExpires() async throws {
        let signer = await UserTokenSigner(generatingKeyID: "k1")
        let authority = try await authority([signer])
        let now = Date()
        let token = try await signer.sign(principal, validFor: 60, now: now)
        #expect(try await authority.verify(token, now: now) == principal)
        #expect(try await authority.verify(token, now: now) == principal)   // from the cache
        #expect(try await authority.verify(token, now: now.addingTimeInterval(60 + 29)) == principal)   // within the leeway
        await #expect(throws: TokenAuthority.Failure.expired) { try await authority.verify(token, now: now.addingTimeInterval(60 + 31)) }
    }

    @Test func aChangedOrForeignTokenIsRefused() async throws {
        let signer = await UserTokenSigner(generatingKeyID: "k1")
        let authority = try await authority([signer])
        let token = try await signer.sign(principal)
        _ = try await authority.verify(token)
        // Same header and claims, another signature: the text differs, so it is verified afresh.
        var parts = token.split(separator: ".").map(String.init)
        parts[2] = String(parts[2].reversed())
        await #expect(throws: TokenAuthority.Failure.self) { try await authority.verify(parts.joined(separator: ".")) }
        // Another key under the same kid; a kid the JWKS does not have.
        let impostor = await UserTokenSigner(generatingKeyID: "k1")
        await #expect(throws: TokenAuthority.Failure.badSignature) { try await authority.verify(try await impostor.sign(principal)) }
        let stranger = await UserTokenSigner(generatingKeyID: "k9")
        await #expect(throws: TokenAuthority.Failure.unknownKey) { try await authority.verify(try await stranger.sign(principal)) }
    }

    @Test func twoKeysVerifyDuringARotation() async throws {
        let old = await UserTokenSigner(generatingKeyID: "2026-11")
        let new = await UserTokenSigner(generatingKeyID: "2026-12")
        let both = try await authority([old, new])
        #expect(try await both.verify(try await old.sign(principal)) == principal)
        #expect(try await both.verify(try await new.sign(principal)) == principal)
        let after = try await authority([new])
        await #expect(throws: TokenAuthority.Failure.unknownKey) { try await after.verify(try await old.sign(principal)) }
    }

    @Test func lifetimeSubjectRolesAndKindAreChecked() async throws {
        let signer = await UserTokenSigner(generatingKeyID: "k1")
        let authority = try await authority([signer])
        let now = Date()
        await #expect(throws: TokenAuthority.Failure.tooLong) { try await authority.verify(try await signer.sign(principal, validFor: 13 * 3600)) }
        await #expect(throws: TokenAuthority.Failure.notYetValid) {
            try await authority.verify(try await signer.sign(principal, now: now.addingTimeInterval(120)), now: now)
        }
        await #expect(throws: TokenAuthority.Failure.noSubject) { try await authority.verify(try await signer.sign(Principal(personID: " ", roles: [.rep]))) }
        await #expect(throws: TokenAuthority.Failure.noRoles) { try await authority.verify(try await signer.sign(Principal(personID: "E1", roles: []))) }
        await #expect(throws: TokenAuthority.Failure.wrongKind) {
            try await authority.verify(try await signer.sign(Principal(personID: "svc-x", roles: [.service])))
        }
    }

    @Test func serviceTokensAreForOneServiceAndOnlyForServices() async throws {
        let signer = await UserTokenSigner(generatingKeyID: "k1")
        let workflows = try await authority([signer], service: "workflows")
        let visits = try await authority([signer], service: "visits")
        let toVisits = try await workflows.serviceToken(to: "visits")
        #expect(try await visits.verify(toVisits) == Principal(personID: "svc-workflows", roles: [.service]))
        await #expect(throws: TokenAuthority.Failure.wrongAudience) { try await workflows.verify(toVisits) }
        // The services' secret signs nothing else: a person's HS256 token is refused.
        let other = try await TokenAuthority(jwks: UserTokenSigner.jwks([signer]), serviceSecret: "another-secret-0123456789abcdefghijklmn", service: "visits")
        await #expect(throws: TokenAuthority.Failure.badSignature) { try await visits.verify(try await other.serviceToken(to: "visits")) }
    }

    @Test func theCacheIsBounded() {
        let cache = VerifiedTokens(capacity: 3)
        for n in 0..<5 { cache.remember("t\(n)", principal: principal, expires: .distantFuture, keyGeneration: 0) }
        let kept = (0..<5).filter { cache.lookup("t\($0)") != nil }
        #expect(kept.count <= 3)
        #expect(cache.lookup("t4") != nil)
    }

    /// A rotation without a restart: the published set gains the new key, then
    /// loses the old one; the service follows on reload, and a token naming the
    /// new kid triggers that reload itself. A token verified (and cached) under
    /// the old key is refused once the key is gone.
    @Test func aReloadedKeySetAddsAndRemovesKeysWhileRunning() async throws {
        let old = await UserTokenSigner(generatingKeyID: "2026-11")
        let new = await UserTokenSigner(generatingKeyID: "2026-12")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try UserTokenSigner.jwks([old]).write(toFile: path, atomically: true, encoding: .utf8)
        let keys = try await UserTokenKeys(source: .file(path))
        let authority = try await TokenAuthority(userKeys: keys, serviceSecret: Self.secret, service: "visits")
        let oldToken = try await old.sign(principal)
        #expect(try await authority.verify(oldToken) == principal)

        // Published: both keys. A token under the new kid reloads at once.
        try UserTokenSigner.jwks([old, new]).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await authority.verify(try await new.sign(principal)) == principal)
        #expect(keys.current.ids == ["2026-11", "2026-12"])

        // Retired: the old key. The next scheduled reload drops it, cached token included.
        try UserTokenSigner.jwks([new]).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await keys.reload())
        await #expect(throws: TokenAuthority.Failure.unknownKey) { try await authority.verify(oldToken) }

        // A broken publication keeps the keys in hand.
        try "not a key set".write(toFile: path, atomically: true, encoding: .utf8)
        await #expect(throws: ConfigurationError.self) { try await keys.reload() }
        #expect(try await authority.verify(try await new.sign(principal)) == principal)
    }

    /// Forged kids cannot make every call read the key set again.
    @Test func unknownKidsReloadAtMostOncePerInterval() async throws {
        let signer = await UserTokenSigner(generatingKeyID: "k1")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try UserTokenSigner.jwks([signer]).write(toFile: path, atomically: true, encoding: .utf8)
        let keys = try await UserTokenKeys(source: .file(path))
        let authority = try await TokenAuthority(userKeys: keys, serviceSecret: Self.secret, service: "visits")
        let stranger = await UserTokenSigner(generatingKeyID: "k9")
        await #expect(throws: TokenAuthority.Failure.unknownKey) { try await authority.verify(try await stranger.sign(principal)) }
        // k9 is published now, but the reload for an unknown kid was just spent.
        try UserTokenSigner.jwks([signer, stranger]).write(toFile: path, atomically: true, encoding: .utf8)
        await #expect(throws: TokenAuthority.Failure.unknownKey) { try await authority.verify(try await stranger.sign(principal)) }
        #expect(try await keys.reload())
        #expect(try await authority.verify(try await stranger.sign(principal)) == principal)
    }

    @Test func theKeySetComesFromAFileOrAnHttpsURL() throws {
        #expect(throws: ConfigurationError.self) { try JWKSSource(file: "", url: "") }
        #expect(throws: ConfigurationError.self) { try JWKSSource(file: "/k.json", url: "https://issuer.example/jwks.json") }
        #expect(throws: ConfigurationError.self) { try JWKSSource(file: "", url: "http://issuer.example/jwks.json") }
        #expect(throws: ConfigurationError.self) { try JWKSSource(file: "", url: "file:///etc/passwd") }
        #expect(try JWKSSource(file: "", url: "https://issuer.example/jwks.json").description == "https://issuer.example/jwks.json")
        #expect(try JWKSSource(file: "", url: "http://127.0.0.1:8443/jwks.json").description == "http://127.0.0.1:8443/jwks.json")
    }
}
