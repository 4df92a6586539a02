import FieldworkDomain
import Logging
import PostgresNIO

/// How far a role reaches (SPEC §8.2).
public enum Reach: Sendable, Hashable {
    /// The people whose supervisor chain reaches the caller, however deep.
    case team
    /// The people of the caller's region; nobody when the caller has no region.
    case region
    /// The people of the caller's department; nobody when the caller has none.
    case department
    /// Everyone.
    case company
}

/// The people whose records a caller may see: themselves, plus whoever their
/// roles reach. One model for every service; each asks with its own copy of
/// the directory (`people` in visits, `directory_people` elsewhere) and uses
/// the answer both in Swift checks and as an SQL filter
/// (`$everyone OR person = ANY($people)`), so the two cannot disagree.
public struct Scope: Sendable, Equatable {
    public var everyone: Bool
    /// When not `everyone`: the caller and the people the caller reaches.
    public var people: [String]

    public init(everyone: Bool, people: [String]) {
        self.everyone = everyone
        self.people = people
    }

    /// What each role reaches for records about people (visits, plans, health):
    /// rep, academic and kam only their own.
    public static let records: [Role: Reach] = [
        .manager: .team, .director: .region, .executive: .company, .admin: .company,
    ]

    public func includes(_ person: String) -> Bool { everyone || people.contains(person) }

    /// What `principal`'s roles reach under `reaches`.
    public static func reach(of principal: Principal, _ reaches: [Role: Reach] = records) -> Set<Reach> {
        Set(principal.roles.compactMap { reaches[$0] })
    }

    /// The caller and whoever `reach` takes in, from a directory table with
    /// columns id, region, department and supervisor_id.
    public static func of(
        _ principal: Principal, reach: Set<Reach>, directory: DirectoryTable, on client: PostgresClient, logger: Logger
    ) async throws -> Scope {
        if let known = known(principal, reach) { return known }
        return try await resolve(principal, try await client.query(query(principal, reach, directory), logger: logger))
    }

    /// As above, on a connection the caller already holds (inside a command's transaction).
    public static func of(
        _ principal: Principal, reach: Set<Reach>, directory: DirectoryTable, on connection: PostgresConnection, logger: Logger
    ) async throws -> Scope {
        if let known = known(principal, reach) { return known }
        return try await resolve(principal, try await connection.query(query(principal, reach, directory), logger: logger))
    }

    /// The scopes that need no directory: everyone, or only the caller.
    private static func known(_ principal: Principal, _ reach: Set<Reach>) -> Scope? {
        if reach.contains(.company) { return Scope(everyone: true, people: []) }
        if reach.isEmpty { return Scope(everyone: false, people: [principal.personID]) }
        return nil
    }

    private static func query(_ principal: Principal, _ reach: Set<Reach>, _ directory: DirectoryTable) -> PostgresQuery {
        // An empty region or department reaches nobody: it must not match the
        // people whose region or department is empty too.
        """
        WITH RECURSIVE team AS (
            SELECT id FROM \(unescaped: directory.rawValue) WHERE \(reach.contains(.team)) AND supervisor_id = \(principal.personID)
            UNION
            SELECT p.id FROM \(unescaped: directory.rawValue) p JOIN team t ON p.supervisor_id = t.id
        )
        SELECT id FROM team
        UNION SELECT id FROM \(unescaped: directory.rawValue)
              WHERE \(reach.contains(.region)) AND \(principal.region) <> '' AND region = \(principal.region)
        UNION SELECT id FROM \(unescaped: directory.rawValue)
              WHERE \(reach.contains(.department)) AND \(principal.department) <> '' AND department = \(principal.department)
        """
    }

    private static func resolve(_ principal: Principal, _ rows: PostgresRowSequence) async throws -> Scope {
        var people = [principal.personID]
        for try await id in rows.decode(String.self) where id != principal.personID { people.append(id) }
        return Scope(everyone: false, people: people)
    }
}

/// The table a service keeps its copy of the directory's people in.
public enum DirectoryTable: String, Sendable {
    /// The visits service owns the directory.
    case people
    /// The other services' replica (`DirectoryReplica`).
    case replica = "directory_people"
}
