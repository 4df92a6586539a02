import FieldworkDomain
import Foundation
import Testing

@testable import FieldworkRuntime

/// Verified tokens are remembered by their exact text; what must still hold for
/// every call is checked on every call.
@Suite struct TokenAuthorityTests {
    let principal = Principal(personID: "E1001", roles: [.rep], department: "sales", region: "杭州")

    @Test func aRememberedTokenIsRefusedOnceItExpires() async throws {
        let authority = try await TokenAuthority(secret: "token-test-secret-0123456789abcdefghij")
        let token = try await authority.sign(principal, validFor: 2)
        #expect(try await authority.verify(token) == principal)
        #expect(try await authority.verify(token) == principal)   // from the cache
        try await Task.sleep(for: .milliseconds(2_100))
        await #expect(throws: TokenAuthority.Failure.expired) { try await authority.verify(token) }
    }

    @Test func aChangedTokenIsNotTakenForARememberedOne() async throws {
        let authority = try await TokenAuthority(secret: "token-test-secret-0123456789abcdefghij")
        let token = try await authority.sign(principal)
        _ = try await authority.verify(token)
        // Same header and claims, another signature: the text differs, so it is verified afresh.
        var parts = token.split(separator: ".").map(String.init)
        parts[2] = String(parts[2].reversed())
        await #expect(throws: TokenAuthority.Failure.self) { try await authority.verify(parts.joined(separator: ".")) }
        // A token signed with another secret for the same person.
        let other = try await TokenAuthority(secret: "another-secret-0123456789abcdefghijklmn")
        let forged = try await other.sign(principal)
        await #expect(throws: TokenAuthority.Failure.badSignature) { try await authority.verify(forged) }
    }

    @Test func theCacheIsBounded() {
        let cache = VerifiedTokens(capacity: 3)
        for n in 0..<5 { cache.remember("t\(n)", principal: principal, expires: .distantFuture) }
        let kept = (0..<5).filter { cache.lookup("t\($0)") != nil }
        #expect(kept.count <= 3)
        #expect(cache.lookup("t4") != nil)
    }
}
