@testable import FieldworkRuntime
import Logging
import PostgresNIO
import Testing

@Suite struct MigratorTests {
    @Test func scriptsSplitAtTopLevelSemicolonsOnly() {
        let migration = Migration(1, "split", """
            CREATE TABLE a (x text DEFAULT 'a;b'); -- a comment; with a semicolon
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'no; really'; END $$;
            INSERT INTO a VALUES (E'it''s; fine');
            """)
        #expect(migration.statements.count == 3)
        #expect(migration.statements[1].hasSuffix("END $$"))
    }

    @Test func replicasStartingTogetherApplyEachMigrationOnce() async throws {
        try await TestDatabase.with { database in
            let migrations = [RuntimeSchema.core, Migration(100, "things", "CREATE TABLE things (id int PRIMARY KEY); INSERT INTO things VALUES (1);")]
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 { group.addTask { try await Migrator.migrate(database.client, migrations, logger: TestDatabase.logger) } }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(applied.sorted() == [1, 100])
            #expect(try await database.scalar("SELECT count(*) FROM things", as: Int.self) == 1)
            #expect(try await Migrator.migrate(database.client, migrations, logger: TestDatabase.logger).isEmpty)
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        try await TestDatabase.with { database in
            let migrations = [Migration(1, "ok", "CREATE TABLE one (id int);"), Migration(2, "broken", "CREATE TABLE two (id int); SELECT nope;")]
            await #expect(throws: (any Error).self) { try await Migrator.migrate(database.client, migrations, logger: TestDatabase.logger) }
            let nothingLeft = try await database.scalar("SELECT to_regclass('one') IS NULL AND to_regclass('schema_migrations') IS NULL", as: Bool.self)
            #expect(nothingLeft)
        }
    }

    @Test func theAuditLogIsAppendOnly() async throws {
        try await TestDatabase.with { database in
            try await Migrator.migrate(database.client, [RuntimeSchema.core], logger: TestDatabase.logger)
            try await database.client.withConnection { connection in
                try await AuditLog.append(
                    AuditRecord(entityType: "visit", entityID: "v1", action: "submit", changes: [.init("status", "OPEN", "SUBMITTED")]),
                    actor: Principal(personID: "E1001", roles: [.rep]), at: .now, on: connection, logger: TestDatabase.logger)
            }
            await #expect(throws: (any Error).self) { _ = try await database.client.query("UPDATE audit_log SET action = 'x'", logger: TestDatabase.logger) }
            await #expect(throws: (any Error).self) { _ = try await database.client.query("DELETE FROM audit_log", logger: TestDatabase.logger) }
            let listed = try await AuditLog.list(.with { $0.entityType = "visit"; $0.entityID = "v1" }, client: database.client, logger: TestDatabase.logger)
            #expect(listed.entries.map(\.action) == ["submit"])
            #expect(listed.entries.first?.changes.first?.after == "SUBMITTED")
        }
    }
}
