import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// CSV import and export of the directory: all-or-nothing, errors by line and
/// column, idempotent re-import, changes published for the other services.
@Suite(.serialized) struct DirectoryTests {
    @Test func csvImportIsAllOrNothingIdempotentAndRoundTrips() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            func importCsv(_ kind: Fieldwork_V1_CsvKind, _ content: String) async throws -> Fieldwork_V1_ImportCsvResponse {
                try await cluster.visits(story.admin) { client, metadata in
                    try await client.importCsv(.with { $0.kind = kind; $0.content = Data(content.utf8) }, metadata: metadata)
                }
            }

            // A good row and a bad one: the error names line and column; nothing is applied.
            let bad = """
                id,name,region,latitude,longitude
                H-OK-1,好医院,杭州,30.25,120.17
                H-BAD-1,坏医院,杭州,north,120.17
                H-BAD-2,,杭州,30.25,120.17
                """
            await #expect {
                _ = try await importCsv(.customers, bad)
            } throws: { error in
                let message = (error as? RPCError)?.message ?? ""
                return (error as? RPCError)?.code == .invalidArgument
                    && message.contains("line 3, column latitude") && message.contains("line 4, column name")
            }
            await #expect {
                _ = try await importCsv(.customers, "id,name,colour\nH1,x,red\n")
            } throws: { ($0 as? RPCError)?.message.contains("line 1, column colour") == true }
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM customers") == "0")

            try await story.importDirectory()
            let outbox = try cluster.scalar(.visits, "SELECT count(*) FROM outbox")
            // Re-importing the same files changes nothing and publishes nothing.
            let again = try await importCsv(.people, DemoData.people)
            #expect(again.rowsUnchanged == again.rowsRead && again.rowsCreated == 0 && again.rowsUpdated == 0)
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM outbox") == outbox)

            // Export → import is a no-op too: the export is the same data.
            for kind in [Fieldwork_V1_CsvKind.people, .customers, .products] {
                let exported = try await cluster.visits(story.admin) { client, metadata in
                    try await client.exportCsv(.with { $0.kind = kind }, metadata: metadata).content
                }
                let reimported = try await importCsv(kind, String(decoding: exported, as: UTF8.self))
                #expect(reimported.rowsRead > 0 && reimported.rowsUnchanged == reimported.rowsRead, "\(kind)")
            }

            // A change is applied, audited and published to the other services' copies.
            let changed = DemoData.people.replacingOccurrences(of: "E1002,刘洋,,liuyang,sales,宁波", with: "E1002,刘洋,,liuyang,sales,绍兴")
            let result = try await importCsv(.people, changed)
            #expect(result.rowsUpdated == 1)
            try await story.flushVisitsOutbox()
            for service in [Cluster.Service.workflows, .scoring, .notifications] {
                #expect(try cluster.scalar(service, "SELECT region FROM directory_people WHERE id = 'E1002'") == "绍兴")
            }
            let audit = try await cluster.visits(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "person"; $0.entityID = "E1002" }, metadata: metadata)
            }
            #expect(audit.entries.last?.changes.map { "\($0.field):\($0.before)→\($0.after)" } == ["region:宁波→绍兴"])
        }
    }
}
