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
                // A consumer's connection may still be in its first reconnect backoff: give it time.
                try await cluster.eventually("\(service.rawValue)'s copy has E1002 in 绍兴") {
                    try cluster.scalar(service, "SELECT region FROM directory_people WHERE id = 'E1002'") == "绍兴"
                }
            }
            let audit = try await cluster.visits(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "person"; $0.entityID = "E1002" }, metadata: metadata)
            }
            #expect(audit.entries.last?.changes.map { "\($0.field):\($0.before)→\($0.after)" } == ["region:宁波→绍兴"])
        }
    }

    @Test func customersCarryTheirContacts() async throws {
        try await Cluster.with { cluster in
            try cluster.start(.visits)
            try await cluster.waitUntilServing(.visits)
            let story = try await Story(cluster)
            try await story.importDirectory()
            let zheyi = try await cluster.visits(story.admin) { client, metadata in
                try await client.getCustomer(.with { $0.id = "H-ZJ-001" }, metadata: metadata)
            }
            #expect(zheyi.contacts.map(\.name) == ["王建国", "李敏"])
            #expect(zheyi.contacts.first?.title == "器械科主任" && zheyi.contacts.first?.phone == "0571-87236114")
            #expect(zheyi.contacts.last?.department == "骨科" && zheyi.contacts.last?.phone == "")

            // A bad phone number in the file: line and column; nothing applied.
            let bad = "id,name,region,latitude,longitude,contacts\nH-C-1,某医院,杭州,30.25,120.17,张三/主任/骨科/call me\n"
            await #expect {
                _ = try await cluster.visits(story.admin) { client, metadata in
                    try await client.importCsv(.with { $0.kind = .customers; $0.content = Data(bad.utf8) }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.message.contains("line 2, column contacts[0].phone") == true }
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM customers WHERE id = 'H-C-1'") == "0")

            // By RPC: contacts are replaced as a whole, audited, and checked field by field.
            var changed = zheyi
            changed.contacts = [.with { $0.name = "赵刚"; $0.title = "设备处处长"; $0.phone = "+86 571 8723 0000" }]
            let withNewContact = changed
            let stored = try await cluster.visits(story.admin) { client, metadata in
                try await client.upsertCustomer(.with { $0.customer = withNewContact }, metadata: metadata)
            }
            #expect(stored.contacts.map(\.name) == ["赵刚"])
            let audit = try await cluster.visits(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "customer"; $0.entityID = "H-ZJ-001" }, metadata: metadata)
            }
            #expect(audit.entries.last?.changes.map(\.field) == ["contacts"])
            changed.contacts = [.with { $0.name = "" }]
            let nameless = changed
            await #expect {
                _ = try await cluster.visits(story.admin) { client, metadata in
                    try await client.upsertCustomer(.with { $0.customer = nameless }, metadata: metadata)
                }
            } throws: { ($0 as? RPCError)?.code == .invalidArgument && ($0 as? RPCError)?.message.contains("customer.contacts[0].name") == true }
        }
    }
}
