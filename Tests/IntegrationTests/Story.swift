import FieldworkProto
import Foundation
import GRPCCore

/// Story 1's steps as calls over TCP with the generated clients.
struct Story: Sendable {
    let cluster: Cluster
    let admin: String
    let rep: String

    init(_ cluster: Cluster) async throws {
        self.cluster = cluster
        admin = try await cluster.token("A0001", [.admin], department: "management")
        rep = try await cluster.token("E1001", [.rep], department: "sales", region: "杭州")
    }

    /// Imports the demo directory and waits until every running consumer's copy
    /// has all of it: a card that reached notifications before the last member of
    /// its department would miss that member (directory copies are eventually
    /// consistent, and in production the directory is loaded long before cards flow).
    func importDirectory() async throws {
        for (kind, content) in [(Fieldwork_V1_CsvKind.people, DemoData.people), (.customers, DemoData.customers), (.products, DemoData.products)] {
            _ = try await cluster.visits(admin) { client, metadata in
                try await client.importCsv(.with { $0.kind = kind; $0.content = Data(content.utf8) }, metadata: metadata)
            }
        }
        let people = String(DemoData.people.split(separator: "\n").count - 1)
        for service in [Cluster.Service.workflows, .scoring, .notifications] where cluster.process(service) != nil {
            try await cluster.eventually("\(service.rawValue) has the whole directory") {
                try await flushVisitsOutbox()
                return try cluster.scalar(service, "SELECT count(*) FROM directory_people") == people
            }
        }
    }

    /// Delivers everything visits has committed to every reachable consumer before returning.
    func flushVisitsOutbox() async throws {
        _ = try await cluster.visits(admin) { client, metadata in
            try await client.runJob(.with { $0.name = "outbox-relay" }, metadata: metadata)
        }
    }

    func code(_ customer: String = "H-ZJ-001") async throws -> String {
        try await cluster.visits(admin) { client, metadata in
            try await client.issueCheckinCode(.with { $0.customerID = customer }, metadata: metadata).token
        }
    }

    func checkIn(at location: Fieldwork_V1_GeoPoint?, customer: String = "H-ZJ-001", requestID: String = "") async throws -> Fieldwork_V1_Visit {
        let code = try await code(customer)
        return try await cluster.visits(rep) { client, metadata in
            try await client.checkIn(.with {
                $0.code = code
                $0.requestID = requestID
                if let location { $0.location = location }
                $0.deviceTime = .init(date: Date())
            }, metadata: metadata)
        }
    }

    func submit(_ visit: Fieldwork_V1_Visit, surgeryInDays days: Int?) async throws -> Fieldwork_V1_Visit {
        try await cluster.visits(rep) { client, metadata in
            try await client.submitVisit(.with {
                $0.visitID = visit.id
                $0.record = DemoData.record(surgeryInDays: days)
                $0.location = DemoData.insideZheyi
            }, metadata: metadata)
        }
    }

    func cards() async throws -> [Fieldwork_V1_Card] {
        try await cluster.workflows(admin) { client, metadata in
            try await client.listCards(.with { $0.page.pageSize = 500 }, metadata: metadata).cards
        }
    }

    func requests() async throws -> [Fieldwork_V1_Request] {
        try await cluster.workflows(admin) { client, metadata in
            try await client.listRequests(.with { $0.page.pageSize = 500 }, metadata: metadata).requests
        }
    }

    func inbox(_ person: String) async throws -> [Fieldwork_V1_InboxItem] {
        let token = try await cluster.token(person, [.ops])
        return try await cluster.notifications(token) { client, metadata in
            try await client.listInbox(.with { $0.page.pageSize = 500 }, metadata: metadata).items
        }
    }
}
