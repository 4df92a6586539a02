import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §4.1 bulk import over TCP: all or nothing per file, errors by line and
/// column, idempotent per source row id.
@Suite(.serialized) struct FactImportTests {
    @Test func factFilesImportAllOrNothingAndOnlyOnce() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.importDirectory()
            let ops = try await cluster.token("O4001", [.ops], department: "operations")
            let day = { (days: Int) -> String in
                let date = DemoData.shanghaiDate(daysFromToday: -days)
                return String(format: "%04d/%d/%d", date.year, date.month, date.day)
            }
            let importing: @Sendable (Fieldwork_V1_CsvKind, String) async throws -> Fieldwork_V1_ImportCsvResponse = { kind, text in
                try await cluster.scoring(ops) { client, metadata in
                    try await client.importCsv(.with { $0.kind = kind; $0.content = Data(text.utf8) }, metadata: metadata)
                }
            }
            let purchases = """
                source_row_id,customer_id,product_line,amount,date
                ERP-101,H-ZJ-001,spine,"68,000.00",\(day(12))
                ERP-102,H-ZJ-002,trauma,¥42000,\(day(40))
                """
            let first = try await importing(.purchases, "\u{FEFF}" + purchases)   // Excel's byte-order mark is fine
            #expect(first.rowsRead == 2 && first.rowsCreated == 2 && first.rowsUnchanged == 0)
            let again = try await importing(.purchases, purchases)
            #expect(again.rowsCreated == 0 && again.rowsUnchanged == 2)
            #expect(try cluster.scalar(.scoring, "SELECT sum(amount_fen) FROM purchases") == "11000000")

            // A file with bad rows: every error by line and column, and nothing of it applied.
            let bad = """
                source_row_id,customer_id,product_line,amount,date
                ERP-103,H-ZJ-001,spine,100,\(day(1))
                ERP-104,H-NOPE,spine,100,\(day(1))
                ERP-101,H-ZJ-001,spine,99,\(day(12))
                """
            do {
                _ = try await importing(.purchases, bad)
                Issue.record("a file with an unknown customer was applied")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("line 3") && error.message.contains("customer_id"))
            }
            do {
                _ = try await importing(.purchases, "source_row_id,customer_id,product_line,amount,date\nERP-101,H-ZJ-001,spine,99,\(day(12))\n")
                Issue.record("a known id with other values was applied")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument && error.message.contains("line 2") && error.message.contains("other values"))
            }
            do {
                _ = try await importing(.purchases, """
                    source_row_id,customer_id,product_line,amount,date
                    ERP-105,H-ZJ-001,spine,abc,\(day(1))
                    ERP-106,H-ZJ-001,spine,1,\(day(1))
                    ERP-106,H-ZJ-001,spine,1,\(day(1))
                    """)
                Issue.record("bad amounts were applied")
            } catch let error as RPCError {
                #expect(error.message.contains("line 2") && error.message.contains("amount"))
                #expect(error.message.contains("line 4") && error.message.contains("source_row_id"))
            }
            #expect(try cluster.scalar(.scoring, "SELECT count(*) FROM purchases") == "2")

            // Contracts (region from the customer when empty), then payments against them; trials and academic events.
            let contracts = try await importing(.contracts, """
                contract_id,customer_id,region,amount,payment_terms_days,signed
                HT-9,H-ZJ-001,,300000,45,\(day(100))
                """)
            #expect(contracts.rowsCreated == 1)
            #expect(try cluster.scalar(.scoring, "SELECT region FROM contracts WHERE id = 'HT-9'") == "杭州")
            #expect(try await importing(.payments, """
                source_row_id,contract_id,invoice_date,paid_date,amount
                PAY-9,HT-9,\(day(60)),\(day(10)),"150,000"
                """).rowsCreated == 1)
            #expect(await rpcCode { _ = try await importing(.payments, "source_row_id,contract_id,invoice_date,paid_date,amount\nPAY-10,HT-404,\(day(60)),\(day(10)),1\n") } == .invalidArgument)
            #expect(try await importing(.trials, "source_row_id,customer_id,product_id,date\nTR-1,H-ZJ-001,SP-NEW-01,\(day(3))\n").rowsCreated == 1)
            #expect(try await importing(.academicParticipations, "source_row_id,customer_id,event_name,date\nAC-1,H-ZJ-002,脊柱沙龙,\(day(3))\n").rowsCreated == 1)

            // The visits service's kinds are not facts; a rep cannot import.
            #expect(await rpcCode { _ = try await importing(.people, "id,name\n") } == .invalidArgument)
            #expect(await rpcCode {
                _ = try await cluster.scoring(story.rep) { client, metadata in
                    try await client.importCsv(.with { $0.kind = .purchases; $0.content = Data(purchases.utf8) }, metadata: metadata)
                }
            } == .permissionDenied)
            let audit = try await cluster.scoring(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "import"; $0.entityID = "purchases" }, metadata: metadata).entries
            }
            #expect(audit.count == 2)
        }
    }
}
