import FieldworkDomain
import GRPCCore

/// Verifies `authorization: Bearer <JWT>` on every RPC except the health and
/// reflection protocols, checks the caller's role against the method's `AccessRule`, and
/// makes the principal visible to the handler (`Principal.current`).
struct AuthInterceptor: ServerInterceptor {
    /// Services anyone may call without a token. Reflection carries only the
    /// schema (the same as Proto/), no data, so tools can list and describe the
    /// RPCs before they hold a token.
    static let openServices: Set<String> = Set(["grpc.health.v1.Health"]).union(ServerReflectionService.serviceNames)

    let authority: TokenAuthority
    let access: AccessRules

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if Self.openServices.contains(context.descriptor.service.fullyQualifiedService) {
            return try await next(request, context)
        }
        guard let header = request.metadata[stringValues: "authorization"].first(where: { _ in true }) else {
            throw RPCError(code: .unauthenticated, message: "missing authorization: Bearer <token>")
        }
        guard header.hasPrefix("Bearer "), case let token = header.dropFirst("Bearer ".count), !token.isEmpty else {
            throw RPCError(code: .unauthenticated, message: "authorization must be 'Bearer <token>'")
        }
        let principal: Principal
        do {
            principal = try await authority.verify(String(token))
        } catch {
            throw RPCError(code: .unauthenticated, message: Self.explain(error))
        }
        RPCLogContext.current?.setPrincipal(principal)
        guard access.allows(context.descriptor, principal) else {
            let method = context.descriptor.method
            guard let rule = access[context.descriptor] else {
                // Deny by default (SPEC §8.1): a method nobody wrote a rule for is open to no one.
                throw RPCError(code: .permissionDenied, message: "\(method) has no access rule")
            }
            let allowed = Role.allCases.filter(rule.roles.contains).map(\.rawValue).joined(separator: ", ")
            throw RPCError(code: .permissionDenied, message: "\(method) needs one of the roles: \(allowed)")
        }
        var response = try await Principal.$current.withValue(principal) { try await next(request, context) }
        // A streaming handler writes after `next` returned: keep the principal visible there too.
        if case .success(var contents) = response.accepted {
            let producer = contents.producer
            contents.producer = { writer in try await Principal.$current.withValue(principal) { try await producer(writer) } }
            response.accepted = .success(contents)
        }
        return response
    }

    static func explain(_ failure: TokenAuthority.Failure) -> String {
        switch failure {
        case .expired: "token expired"
        case .notYetValid: "token is not valid yet (iat or nbf in the future)"
        case .tooLong: "token lives longer than 12 h"
        case .badSignature: "token signature is invalid"
        case .unknownKey: "token is signed with a key this service does not know (kid)"
        case .malformed: "token is malformed"
        case .wrongIssuer: "token issuer is not accepted"
        case .wrongAudience: "token audience is not accepted"
        case .noSubject: "token has no subject (sub)"
        case .noRoles: "token carries no roles"
        case .wrongKind: "user tokens carry person roles, service tokens only 'service'"
        case .unknownRole(let role): "token carries unknown role '\(role)'"
        }
    }
}
