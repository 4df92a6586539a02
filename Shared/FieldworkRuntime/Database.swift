import Foundation
import Logging
import PostgresNIO

/// Builds the pooled PostgreSQL client from a `postgres://user:pass@host:port/db` URL.
public enum Database {
    /// How long one statement may run, and a transaction may sit idle, before
    /// PostgreSQL ends it (SPEC §11.4): a stuck statement or a transaction left
    /// open cannot hold a pooled connection and its locks for ever.
    public struct Timeouts: Sendable, Equatable {
        public var statement: Duration
        public var idleInTransaction: Duration

        public init(statement: Duration = .seconds(30), idleInTransaction: Duration = .seconds(60)) {
            self.statement = statement
            self.idleInTransaction = idleInTransaction
        }

        /// Run-time parameters sent when each connection starts.
        var startupParameters: [(String, String)] {
            [("statement_timeout", "\(statement.milliseconds)"),
             ("idle_in_transaction_session_timeout", "\(idleInTransaction.milliseconds)")]
        }
    }

    public static func makeClient(url: String, maximumConnections: Int, timeouts: Timeouts = Timeouts(), logger: Logger) throws -> PostgresClient {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty else {
            throw ConfigurationError(description: "DATABASE_URL must look like postgres://user[:password]@host:port/database")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        // TLS to PostgreSQL is off on loopback (the local and test clusters) and required elsewhere.
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(host)
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? user : database,
            tls: loopback ? .disable : .require(.makeClientConfiguration())
        )
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = timeouts.startupParameters
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
    }
}

/// One numbered schema change. An applied migration is never edited; a change is a new number.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(_ version: Int, _ name: String, _ sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// The script split into statements at top-level semicolons (outside quotes,
    /// identifiers, comments and dollar-quoted bodies): the extended protocol
    /// PostgresNIO speaks runs one statement per query.
    public var statements: [String] {
        var statements: [String] = []
        var current = ""
        var chars = Array(sql)
        chars.append("\n")
        var i = 0
        var quote: Character?      // ' or "
        var dollarTag: String?     // $$ or $tag$
        var lineComment = false
        while i < chars.count - 1 {
            let c = chars[i]
            if lineComment {
                if c == "\n" { lineComment = false }
                current.append(c)
            } else if let tag = dollarTag {
                if String(chars[i..<min(chars.count, i + tag.count)]) == tag {
                    current += tag
                    i += tag.count
                    dollarTag = nil
                    continue
                }
                current.append(c)
            } else if let q = quote {
                current.append(c)
                if c == q { quote = nil }
            } else if c == "-" && chars[i + 1] == "-" {
                lineComment = true
                current.append(c)
            } else if c == "'" || c == "\"" {
                quote = c
                current.append(c)
            } else if c == "$", let end = chars[(i + 1)...].firstIndex(of: "$"),
                      chars[(i + 1)..<end].allSatisfy({ $0.isLetter || $0 == "_" }) {
                let tag = String(chars[i...end])
                dollarTag = tag
                current += tag
                i = end + 1
                continue
            } else if c == ";" {
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { statements.append(statement) }
                current = ""
            } else {
                current.append(c)
            }
            i += 1
        }
        let last = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !last.isEmpty && !last.split(separator: "\n").allSatisfy({ $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }) {
            statements.append(last)
        }
        return statements
    }
}

/// Applies pending migrations at start-up: one transaction, under an advisory
/// lock, so replicas starting together apply each migration exactly once.
public enum Migrator {
    /// Arbitrary constant: the lock key every Fieldwork migrator takes in its own database.
    static let lockKey: Int64 = 0x4657_4D49_4752

    @discardableResult
    public static func migrate(_ client: PostgresClient, _ migrations: [Migration], logger: Logger) async throws -> [Int] {
        let versions = migrations.map(\.version)
        precondition(Set(versions).count == versions.count, "duplicate migration numbers")
        return try await client.withTransaction(logger: logger) { connection in
            // A migration may rewrite a large table: the pool's statement timeout is not for it.
            _ = try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            _ = try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
                .decode(Int.self) { applied.insert(version) }
            var newlyApplied: [Int] = []
            for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
                for statement in migration.statements {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                _ = try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger)
                newlyApplied.append(migration.version)
            }
            if !newlyApplied.isEmpty { logger.info("applied migrations", metadata: ["versions": "\(newlyApplied)"]) }
            return newlyApplied
        }
    }
}
