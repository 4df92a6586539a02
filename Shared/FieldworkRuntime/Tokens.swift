import FieldworkDomain
import Foundation
import JWTKit
import Synchronization

/// The JWT claims Fieldwork issues and accepts.
public struct FieldworkClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var iss: IssuerClaim
    public var aud: AudienceClaim
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim
    public var roles: [String]
    public var department: String?
    public var region: String?

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Signs and verifies HS256 tokens with a shared secret (development and
/// service-to-service; production can swap in public keys via jwt-kit).
public struct TokenAuthority: Sendable {
    public enum Failure: Error, Equatable { case malformed, badSignature, expired, wrongIssuer, wrongAudience, unknownRole(String) }

    private let keys: JWTKeyCollection
    private let verified = VerifiedTokens()
    public let issuer: String
    public let audience: String

    public init(secret: String, issuer: String = "fieldwork", audience: String = "fieldwork") async throws {
        guard secret.utf8.count >= 32 else { throw ConfigurationError(description: "JWT secret must be at least 32 bytes (HS256)") }
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.issuer = issuer
        self.audience = audience
    }

    public func sign(_ principal: Principal, validFor: TimeInterval = 3600, now: Date = Date()) async throws -> String {
        let claims = FieldworkClaims(
            sub: .init(value: principal.personID), iss: .init(value: issuer), aud: .init(value: [audience]),
            exp: .init(value: now.addingTimeInterval(validFor)), iat: .init(value: now),
            roles: principal.roles.map(\.rawValue).sorted(),
            department: principal.department.isEmpty ? nil : principal.department,
            region: principal.region.isEmpty ? nil : principal.region
        )
        return try await keys.sign(claims)
    }

    public func verify(_ token: String) async throws(Failure) -> Principal {
        // A token seen before is the same claims: only its lifetime needs checking again.
        if let known = verified.lookup(token) {
            guard known.expires > Date() else { throw .expired }
            return known.principal
        }
        let claims: FieldworkClaims
        do {
            claims = try await keys.verify(token, as: FieldworkClaims.self)
        } catch let error as JWTError {
            switch error.errorType {
            case .claimVerificationFailure where error.failedClaim is ExpirationClaim: throw .expired
            case .signatureVerificationFailed: throw .badSignature
            default: throw .malformed
            }
        } catch {
            throw .malformed
        }
        guard claims.iss.value == issuer else { throw .wrongIssuer }
        guard claims.aud.value.contains(audience) else { throw .wrongAudience }
        var roles = Set<Role>()
        for code in claims.roles {
            guard let role = Role(rawValue: code) else { throw .unknownRole(code) }
            roles.insert(role)
        }
        let principal = Principal(personID: claims.sub.value, roles: roles, department: claims.department ?? "", region: claims.region ?? "")
        verified.remember(token, principal: principal, expires: claims.exp.value)
        return principal
    }
}

/// Tokens whose signature and claims have been verified, keyed by the exact
/// token text. Clients and the relays reuse a token for many calls; this spares
/// each call the HMAC, the JSON decoding and a hop through jwt-kit's key actor.
/// Bounded: when full it starts over (tokens live an hour, so it refills at once).
final class VerifiedTokens: Sendable {
    struct Entry: Sendable {
        var principal: Principal
        var expires: Date
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    func lookup(_ token: String) -> Entry? { entries.withLock { $0[token] } }

    func remember(_ token: String, principal: Principal, expires: Date) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = Entry(principal: principal, expires: expires)
        }
    }
}
