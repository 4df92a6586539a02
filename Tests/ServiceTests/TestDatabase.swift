import Foundation
import Logging
import PostgresNIO

/// A fresh database on the test PostgreSQL server, dropped at the end.
struct TestDatabase {
    let name: String
    let port: Int
    let client: PostgresClient

    static let logger = Logger(label: "test")

    /// Runs `body` with a running client on a new database.
    static func with(_ body: (TestDatabase) async throws -> Void) async throws {
        guard let text = ProcessInfo.processInfo.environment["FIELDWORK_TEST_PG_PORT"], let port = Int(text) else {
            throw TestDatabaseError("FIELDWORK_TEST_PG_PORT is not set: run the tests with `make test`")
        }
        let name = "fwst_" + UUID().uuidString.prefix(8).lowercased()
        let admin = PostgresClient(configuration: .init(host: "127.0.0.1", port: port, username: "postgres", password: nil, database: "postgres", tls: .disable))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await admin.run() }
            _ = try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
            let client = PostgresClient(configuration: .init(host: "127.0.0.1", port: port, username: "postgres", password: nil, database: name, tls: .disable))
            let outcome: Result<Void, any Error>
            do {
                try await withThrowingDiscardingTaskGroup { inner in
                    inner.addTask { await client.run() }
                    try await body(TestDatabase(name: name, port: port, client: client))
                    inner.cancelAll()
                }
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
            group.cancelAll()
            try outcome.get()
        }
    }

    func scalar<T: PostgresDecodable>(_ query: PostgresQuery, as: T.Type = T.self) async throws -> T {
        for try await value in try await client.query(query, logger: Self.logger).decode(T.self) { return value }
        throw TestDatabaseError("no rows")
    }
}

struct TestDatabaseError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
