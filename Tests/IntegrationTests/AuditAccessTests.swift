import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// Visits' ListAudit follows the object rules of visit records: a visit's
/// history (the whole record before and after each change) and a person's
/// actions are for that person, their manager, their region's director and
/// admin. Before, any manager or department head read any rep's records here.
@Suite(.serialized) struct AuditAccessTests {
    @Test func visitHistoryIsForWhomTheVisitIs() async throws {
        try await Cluster.with(createDatabases: [.visits]) { cluster in
            try cluster.start(.visits)
            try await cluster.waitUntilServing(.visits)
            let story = try await Story(cluster)
            try await story.importDirectory()
            let visit = try await story.checkIn(at: DemoData.insideZheyi)   // E1001's, team M2001, region 杭州

            func entries(_ token: String, _ request: Fieldwork_V1_ListAuditRequest) async -> Result<[String], RPCError> {
                do {
                    let response = try await cluster.visits(token) { client, metadata in try await client.listAudit(request, metadata: metadata) }
                    return .success(response.entries.map(\.action))
                } catch let error as RPCError {
                    return .failure(error)
                } catch {
                    return .failure(RPCError(code: .unknown, message: "\(error)"))
                }
            }
            let ofVisit = Fieldwork_V1_ListAuditRequest.with { $0.entityType = "visit"; $0.entityID = visit.id }
            let ofRep = Fieldwork_V1_ListAuditRequest.with { $0.actorPersonID = "E1001" }

            let manager = try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")
            let director = try await cluster.token("D3001", [.director], department: "management", region: "杭州")
            let otherManager = try await cluster.token("MX01", [.manager], department: "sales", region: "杭州")
            let otherDirector = try await cluster.token("GM01", [.director], department: "management", region: "宁波")
            let deptHead = try await cluster.token("MK01", [.deptHead], department: "marketing", region: "杭州")
            for token in [story.admin, manager, director] {
                #expect(try await entries(token, ofVisit).get() == ["check_in"])
                #expect(try await entries(token, ofRep).get() == ["check_in"])
            }
            for token in [otherManager, otherDirector, deptHead] {
                for request in [ofVisit, ofRep] {
                    guard case .failure(let error) = await entries(token, request) else {
                        Issue.record("\(request) was shown to a caller outside E1001's team and region")
                        continue
                    }
                    #expect(error.code == .permissionDenied)
                }
            }
            // Their own actions, and the directory's history, stay open to them.
            #expect(try await entries(deptHead, .with { $0.actorPersonID = "MK01" }).get() == [])
            #expect(try await entries(deptHead, .with { $0.entityType = "customer"; $0.entityID = "H-ZJ-001" }).get().isEmpty == false)
        }
    }
}
