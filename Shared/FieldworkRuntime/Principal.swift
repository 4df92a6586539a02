import FieldworkDomain
import GRPCCore

/// Who is calling: taken from the verified JWT and visible to the handler
/// through `Principal.current` for the duration of the RPC.
public struct Principal: Sendable, Equatable, CustomStringConvertible {
    public var personID: String
    public var roles: Set<Role>
    public var department: String
    public var region: String

    public init(personID: String, roles: Set<Role>, department: String = "", region: String = "") {
        self.personID = personID
        self.roles = roles
        self.department = department
        self.region = region
    }

    @TaskLocal public static var current: Principal?

    /// The caller of the current RPC; only unauthenticated paths lack one.
    public static func required() throws -> Principal {
        guard let current else { throw RPCError(code: .unauthenticated, message: "no authenticated principal") }
        return current
    }

    /// The actor recorded for a scheduled job's changes (audit, timelines).
    public static func job(_ name: String) -> Principal { Principal(personID: "job:\(name)", roles: [.service]) }

    public func has(_ role: Role) -> Bool { roles.contains(role) }
    public func hasAny(_ wanted: Set<Role>) -> Bool { !roles.isDisjoint(with: wanted) }

    /// The role recorded in audit entries: the most senior one held.
    public var primaryRole: Role {
        let seniority: [Role] = [.admin, .service, .executive, .director, .deptHead, .manager, .ops, .kam, .academic, .rep]
        return seniority.first(where: roles.contains) ?? .rep
    }

    public var description: String { "\(personID)[\(roles.map(\.rawValue).sorted().joined(separator: ","))]" }
}
