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
    public var nbf: NotBeforeClaim?
    public var roles: [String]
    public var department: String?
    public var region: String?

    /// Times are checked by `TokenAuthority`, with leeway, after the signature.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Verifies the two kinds of token a service accepts (SPEC §8.4):
/// - user tokens, ES256, signed by the issuer (the gateway; `fieldctl` and the
///   demo in development) and checked against the public keys of a JWKS, each
///   with its key id, so a key is rotated by publishing two for a while
///   (`UserTokenKeys` follows the published set without a restart);
/// - service tokens, HS256 with the services' shared secret, carrying only the
///   `service` role and addressed to one service (`aud` "fieldwork-<service>"),
///   which the outbox relay signs for each subscriber.
/// Either way `iat`, `nbf` and `exp` hold with 30 s of leeway, a token lives
/// at most 12 h, and `sub` and `roles` are not empty.
public struct TokenAuthority: Sendable {
    public enum Failure: Error, Equatable {
        case malformed, badSignature, unknownKey, expired, notYetValid, tooLong
        case wrongIssuer, wrongAudience, unknownRole(String), noSubject, noRoles, wrongKind
    }

    public static let leeway: TimeInterval = 30
    public static let maximumLifetime: TimeInterval = 12 * 3600

    public let userKeys: UserTokenKeys
    private let serviceKeys = JWTKeyCollection()
    private let verified = VerifiedTokens()
    public let issuer: String
    /// The audience of user tokens.
    public let audience: String
    /// The service this authority verifies for: service tokens must name it.
    public let service: String

    /// - Parameters:
    ///   - jwks: the user-token issuer's public keys (a JSON Web Key Set of P-256 keys with `kid`s), fixed.
    ///   - serviceSecret: the HS256 secret of service tokens (at least 32 bytes).
    ///   - service: this service's name ("visits"): service tokens must be addressed to it.
    public init(jwks: String, serviceSecret: String, service: String, issuer: String = "fieldwork", audience: String = "fieldwork") async throws {
        try await self.init(
            userKeys: try await UserTokenKeys(jwks: jwks), serviceSecret: serviceSecret, service: service, issuer: issuer, audience: audience)
    }

    /// - Parameter userKeys: the user-token issuer's public keys, which may be reloaded while this authority is in use.
    public init(userKeys: UserTokenKeys, serviceSecret: String, service: String, issuer: String = "fieldwork", audience: String = "fieldwork") async throws {
        guard serviceSecret.utf8.count >= 32 else { throw ConfigurationError(description: "the service-token secret must be at least 32 bytes (HS256)") }
        self.userKeys = userKeys
        await serviceKeys.add(hmac: HMACKey(from: serviceSecret), digestAlgorithm: .sha256)
        self.issuer = issuer
        self.audience = audience
        self.service = service
    }

    /// The audience of service tokens addressed to `service`.
    public static func serviceAudience(_ service: String) -> String { "fieldwork-\(service)" }

    /// A token for this service's calls to `target` (the outbox relay's Deliver).
    public func serviceToken(to target: String, validFor: TimeInterval = 3600, now: Date = Date()) async throws -> String {
        let claims = FieldworkClaims(
            sub: .init(value: "svc-\(service)"), iss: .init(value: issuer), aud: .init(value: [Self.serviceAudience(target)]),
            exp: .init(value: now.addingTimeInterval(validFor)), iat: .init(value: now), nbf: nil, roles: [Role.service.rawValue])
        return try await serviceKeys.sign(claims)
    }

    public func verify(_ token: String, now: Date = Date()) async throws(Failure) -> Principal {
        // A token seen before is the same claims: only its lifetime needs checking
        // again, unless the user keys changed since (a removed key stops at once).
        let keys = userKeys.current
        if let known = verified.lookup(token), known.keyGeneration == keys.generation {
            guard known.expires.addingTimeInterval(Self.leeway) > now else { throw .expired }
            return known.principal
        }
        let header = try Self.header(of: token)
        let claims: FieldworkClaims
        let forService: Bool
        do {
            switch header.alg {
            case "ES256":
                guard let kid = header.kid else { throw Failure.unknownKey }
                var keys = keys
                // A new key may have been published since the last reload.
                if !keys.ids.contains(kid), await userKeys.reloadForUnknownKey() { keys = userKeys.current }
                guard keys.ids.contains(kid) else { throw Failure.unknownKey }
                claims = try await keys.collection.verify(token, as: FieldworkClaims.self)
                forService = false
            case "HS256":
                claims = try await serviceKeys.verify(token, as: FieldworkClaims.self)
                forService = true
            default:
                throw Failure.malformed
            }
        } catch let failure as Failure {
            throw failure
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .badSignature
        } catch {
            throw .malformed
        }
        let principal = try check(claims, forService: forService, now: now)
        verified.remember(token, principal: principal, expires: claims.exp.value, keyGeneration: keys.generation)
        return principal
    }

    private func check(_ claims: FieldworkClaims, forService: Bool, now: Date) throws(Failure) -> Principal {
        guard claims.iss.value == issuer else { throw .wrongIssuer }
        guard claims.aud.value.contains(forService ? Self.serviceAudience(service) : audience) else { throw .wrongAudience }
        guard claims.exp.value.addingTimeInterval(Self.leeway) > now else { throw .expired }
        guard claims.iat.value <= now.addingTimeInterval(Self.leeway), (claims.nbf?.value ?? .distantPast) <= now.addingTimeInterval(Self.leeway) else {
            throw .notYetValid
        }
        guard claims.exp.value.timeIntervalSince(claims.iat.value) <= Self.maximumLifetime else { throw .tooLong }
        guard !claims.sub.value.trimmingCharacters(in: .whitespaces).isEmpty else { throw .noSubject }
        guard !claims.roles.isEmpty else { throw .noRoles }
        var roles = Set<Role>()
        for code in claims.roles {
            guard let role = Role(rawValue: code) else { throw .unknownRole(code) }
            roles.insert(role)
        }
        // A service token is nothing but `service`; a user token never is.
        guard forService == (roles == [.service]), forService || !roles.contains(.service) else { throw .wrongKind }
        return Principal(personID: claims.sub.value, roles: roles, department: claims.department ?? "", region: claims.region ?? "")
    }

    /// The unverified header's algorithm and key id: which keys to verify with.
    private static func header(of token: String) throws(Failure) -> (alg: String, kid: String?) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Data(base64URLEncoded: String(parts[0])),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let alg = object["alg"] as? String else {
            throw .malformed
        }
        return (alg, object["kid"] as? String)
    }
}

/// Signs user tokens with an ES256 private key: the issuer's side (the gateway;
/// in development `fieldctl token`, the demo and the tests).
public struct UserTokenSigner: Sendable {
    private let keys = JWTKeyCollection()
    private let key: ES256PrivateKey
    public let keyID: String
    public let issuer: String
    public let audience: String

    public init(privateKeyPEM: String, keyID: String, issuer: String = "fieldwork", audience: String = "fieldwork") async throws {
        try await self.init(key: ES256PrivateKey(pem: privateKeyPEM), keyID: keyID, issuer: issuer, audience: audience)
    }

    /// The key in a PEM file (`fieldctl dev-keys` writes one).
    public init(pemFile path: String, keyID: String) async throws {
        guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(description: "cannot read the signing key '\(path)'")
        }
        try await self.init(privateKeyPEM: pem, keyID: keyID)
    }

    /// A new random key (tests; `fieldctl dev-keys` for development).
    public init(generatingKeyID keyID: String) async {
        try! await self.init(key: ES256PrivateKey(), keyID: keyID)
    }

    private init(key: ES256PrivateKey, keyID: String, issuer: String = "fieldwork", audience: String = "fieldwork") async throws {
        guard !keyID.isEmpty else { throw ConfigurationError(description: "a signing key needs a key id (kid)") }
        self.key = key
        self.keyID = keyID
        self.issuer = issuer
        self.audience = audience
        await keys.add(ecdsa: key, kid: JWKIdentifier(string: keyID))
    }

    public var privateKeyPEM: String { key.pemRepresentation }

    /// This key's public half as one JWKS entry.
    public var publicJWK: [String: String] {
        let (x, y) = key.publicKey.parameters!
        return ["kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": keyID, "x": x, "y": y]
    }

    /// A JWKS of the given signers' public keys.
    public static func jwks(_ signers: [UserTokenSigner]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: ["keys": signers.map(\.publicJWK)], options: [.sortedKeys, .prettyPrinted])
        return String(decoding: data, as: UTF8.self)
    }

    public func sign(_ principal: Principal, validFor: TimeInterval = 3600, now: Date = Date()) async throws -> String {
        let claims = FieldworkClaims(
            sub: .init(value: principal.personID), iss: .init(value: issuer), aud: .init(value: [audience]),
            exp: .init(value: now.addingTimeInterval(validFor)), iat: .init(value: now), nbf: nil,
            roles: principal.roles.map(\.rawValue).sorted(),
            department: principal.department.isEmpty ? nil : principal.department,
            region: principal.region.isEmpty ? nil : principal.region)
        return try await keys.sign(claims, kid: JWKIdentifier(string: keyID))
    }
}

/// Tokens whose signature and claims have been verified, keyed by the exact
/// token text. Clients and the relays reuse a token for many calls; this spares
/// each call the signature check, the JSON decoding and a hop through jwt-kit's
/// key actor. Bounded: when full it starts over (tokens live an hour, so it
/// refills at once).
final class VerifiedTokens: Sendable {
    struct Entry: Sendable {
        var principal: Principal
        var expires: Date
        /// The user keys' generation it was verified under.
        var keyGeneration: Int
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    func lookup(_ token: String) -> Entry? { entries.withLock { $0[token] } }

    func remember(_ token: String, principal: Principal, expires: Date, keyGeneration: Int) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = Entry(principal: principal, expires: expires, keyGeneration: keyGeneration)
        }
    }
}

extension Data {
    init?(base64URLEncoded text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }
}
