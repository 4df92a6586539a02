import FieldworkProto
@testable import FieldworkRuntime
import Foundation
import PostgresNIO
import Testing

/// A consumer's directory copy applies a change only when it is at least as new
/// as what it holds (SPEC §11.5): a redriven older event never overwrites a newer one.
struct DirectoryReplicaTests {
    func apply(_ payload: Fieldwork_V1_Event.OneOf_Payload, at: Date, to database: TestDatabase) async throws {
        let event = Fieldwork_V1_Event.with {
            $0.id = UUID().uuidString
            $0.occurredAt = .init(date: at)
            $0.payload = payload
        }
        let applied = try await database.client.withConnection { connection in
            try await DirectoryReplica.apply(event, on: connection, logger: TestDatabase.logger)
        }
        #expect(applied)
    }

    @Test func anOlderChangeNeverOverwritesANewerOne() async throws {
        try await TestDatabase.with { database in
            try await Migrator.migrate(
                database.client, [RuntimeSchema.core, RuntimeSchema.directoryReplica, RuntimeSchema.directoryVersions], logger: TestDatabase.logger)
            let monday = Date(timeIntervalSince1970: 1_780_000_000), tuesday = monday.addingTimeInterval(86_400)
            func department(_ head: String) -> Fieldwork_V1_Event.OneOf_Payload {
                .departmentChanged(.with { $0.department = .with { $0.code = "logistics"; $0.name = "物流部"; $0.headPersonID = head } })
            }
            func product(active: Bool) -> Fieldwork_V1_Event.OneOf_Payload {
                .productChanged(.with { $0.product = .with { $0.id = "SP-1"; $0.name = "椎弓根钉"; $0.productLine = "spine"; $0.active = active } })
            }
            func person(department: String, at: Date) -> Fieldwork_V1_Event.OneOf_Payload {
                .personChanged(.with {
                    $0.person = .with {
                        $0.id = "LG02"; $0.name = "吴磊"; $0.department = department; $0.roles = ["ops"]; $0.active = true; $0.updatedAt = .init(date: at)
                    }
                })
            }
            // Tuesday's changes arrive first; Monday's, redriven, arrive after.
            try await apply(department("LG09"), at: tuesday, to: database)
            try await apply(department("LG01"), at: monday, to: database)
            try await apply(product(active: false), at: tuesday, to: database)
            try await apply(product(active: true), at: monday, to: database)
            try await apply(person(department: "logistics", at: tuesday), at: tuesday, to: database)
            try await apply(person(department: "sales", at: monday), at: monday, to: database)
            #expect(try await database.scalar("SELECT head_person_id FROM directory_departments", as: String.self) == "LG09")
            #expect(try await database.scalar("SELECT active FROM directory_products", as: Bool.self) == false)
            #expect(try await database.scalar("SELECT department FROM directory_people", as: String.self) == "logistics")
            // A newer change still applies.
            try await apply(department("LG01"), at: tuesday.addingTimeInterval(60), to: database)
            #expect(try await database.scalar("SELECT head_person_id FROM directory_departments", as: String.self) == "LG01")
        }
    }
}
