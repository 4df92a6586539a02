/// Roles a person (or a calling service) may hold (SPEC §1).
public enum Role: String, CaseIterable, Sendable, Codable {
    case rep, academic, kam, manager, director, ops
    case deptHead = "dept_head"
    /// The general manager: sees the whole company, changes nothing (SPEC §8.2).
    case executive
    case admin
    /// Service-to-service calls (event delivery); never held by a person.
    case service
}

/// Department codes of the directory (SPEC §1).
public enum DepartmentCode: String, CaseIterable, Sendable {
    case sales, academic
    case keyAccount = "key_account"
    case operations, marketing, logistics, compliance, finance, management
}
