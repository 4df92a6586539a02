@testable import FieldworkRuntime
import Foundation
import PostgresNIO
import Testing

/// COPY text rows read back by PostgreSQL as the values written, including the
/// characters that frame rows and columns (a customer id may hold any of them).
@Suite struct CopyTextTests {
    @Test func rowsRoundTripThroughPostgreSQL() async throws {
        try await TestDatabase.with { database in
            let logger = TestDatabase.logger
            try await database.client.query(
                "CREATE TABLE copied (n int PRIMARY KEY, name text NOT NULL, score float8 NOT NULL, flag boolean NOT NULL, tags text[] NOT NULL)",
                logger: logger)
            let names = ["plain", "tab\there", "line\nbreak", "carriage\rreturn", "back\\slash\\N", "医院 \\t literal", ""]
            let scores = [82.0, 61.5, 0.1 + 0.2, 1e-05, -0.0, 100, .leastNonzeroMagnitude]
            try await database.client.withConnection { connection in
                try await connection.copyFrom(table: "copied", columns: ["n", "name", "score", "flag", "tags"], logger: logger) { writer in
                    var buffer = ByteBuffer()
                    for (index, name) in names.enumerated() {
                        CopyText.appendRow([String(index), name, "\(scores[index])", index.isMultiple(of: 2) ? "t" : "f",
                                            index.isMultiple(of: 3) ? "{P,T}" : "{}"], to: &buffer)
                    }
                    try await writer.write(buffer)
                }
            }
            var rows: [(Int, String, Double, Bool, [String])] = []
            for try await row in try await database.client.query(
                "SELECT n, name, score, flag, tags FROM copied ORDER BY n", logger: logger
            ).decode((Int, String, Double, Bool, [String]).self) { rows.append(row) }
            #expect(rows.map(\.1) == names)
            #expect(rows.map(\.2) == scores)
            #expect(rows.map(\.3) == names.indices.map { $0.isMultiple(of: 2) })
            #expect(rows.map(\.4) == names.indices.map { $0.isMultiple(of: 3) ? ["P", "T"] : [] })
        }
    }
}
