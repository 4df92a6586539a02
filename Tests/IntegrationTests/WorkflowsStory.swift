import FieldworkDomain
import FieldworkProto
import Foundation
import GRPCCore

/// The gRPC status code a call ends with (nil when it succeeds).
func rpcCode(of call: () async throws -> Void) async -> RPCError.Code? {
    do {
        try await call()
        return nil
    } catch let error as RPCError {
        return error.code
    } catch {
        return .unknown
    }
}

/// Steps of the workflows stories (SPEC §6 stories 1–2) over TCP.
extension Story {
    /// The directory with department heads, replicated into the workflows and notifications copies.
    func setUpOrganisation() async throws {
        try await importDirectory()
        for department in DemoData.departments {
            _ = try await cluster.visits(admin) { client, metadata in
                try await client.upsertDepartment(.with {
                    $0.department = .with { $0.code = department.code; $0.name = department.name; $0.headPersonID = department.head }
                }, metadata: metadata)
            }
        }
        try await flushVisitsOutbox()
        for service in [Cluster.Service.workflows, .notifications] {
            try await cluster.eventually("\(service.rawValue) has the departments") {
                try cluster.scalar(service, "SELECT count(*) FROM directory_departments WHERE head_person_id <> ''") == String(DemoData.departments.count)
            }
        }
    }

    /// A token for a person of the demo directory, with their roles, department and region.
    func token(_ person: String) async throws -> String {
        guard let staff = DemoData.staff[person] else { throw HarnessError("\(person) is not in DemoData.staff") }
        return try await cluster.token(person, staff.roles, department: staff.department, region: DemoData.region(of: person))
    }

    /// A visit with the surgery-support switch on; returns the request's cards by department.
    func supportRequest(customer: String = "H-ZJ-001") async throws -> [String: Fieldwork_V1_Card] {
        let visit = try await checkIn(at: DemoData.insideZheyi, customer: customer)
        _ = try await submit(visit, surgeryInDays: 5)
        try await flushVisitsOutbox()
        let cardsOfVisit: @Sendable () async throws -> [Fieldwork_V1_Card] = {
            try await self.requests().first { $0.origin == "visit:\(visit.id)" }?.cards ?? []
        }
        try await cluster.eventually("the request's cards") { try await cardsOfVisit().count == 3 }
        let cards = try await cardsOfVisit()
        return Dictionary(uniqueKeysWithValues: cards.map { ($0.department, $0) })
    }

    func runWorkflowsJob(_ name: String, asOf: Date) async throws -> Fieldwork_V1_RunJobResponse {
        try await cluster.workflows(admin) { client, metadata in
            try await client.runJob(.with { $0.name = name; $0.asOf = .init(date: asOf) }, metadata: metadata)
        }
    }

    func card(_ id: String) async throws -> Fieldwork_V1_Card {
        try await cluster.workflows(admin) { client, metadata in try await client.getCard(.with { $0.id = id }, metadata: metadata) }
    }

    func setStatus(_ card: String, _ status: Fieldwork_V1_CardStatus, by person: String, reason: String = "") async throws -> Fieldwork_V1_Card {
        let token = try await token(person)
        return try await cluster.workflows(token) { client, metadata in
            try await client.setCardStatus(.with { $0.cardID = card; $0.status = status; $0.reason = reason }, metadata: metadata)
        }
    }
}
