import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §5 routing and templates as data, and `Send`, over TCP.
@Suite(.serialized) struct NotificationRoutingTests {
    @Test func routesAndTemplatesAreDataAndChangeWhoHearsWhat() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let upsertRoute: @Sendable (String, Fieldwork_V1_Route) async throws -> Fieldwork_V1_Route = { token, route in
                try await cluster.notifications(token) { client, metadata in
                    try await client.upsertRoute(.with { $0.route = route }, metadata: metadata)
                }
            }
            let directors = Fieldwork_V1_Route.with {
                $0.id = "card-created-directors"
                $0.eventType = "workflows.CardCreated"
                $0.recipients.roles = ["director"]
            }
            // Only admins; every field checked.
            #expect(await rpcCode { _ = try await upsertRoute(try await story.token("M2001"), directors) } == .permissionDenied)
            let changes: [(inout Fieldwork_V1_Route) -> Void] = [
                { $0.recipients.roles = ["boss"] },
                { $0.recipients.departments = ["{hospital}"] },
                { $0.eventType = "visits.VisitSubmitted" },
                { $0.channels = [.unspecified] },
                { $0.channels = [.inbox, .inbox] },
                { $0.recipients = .init() },
            ]
            for change in changes {
                var broken = directors
                change(&broken)
                let route = broken
                #expect(await rpcCode { _ = try await upsertRoute(story.admin, route) } == .invalidArgument)
            }
            let saved = try await upsertRoute(story.admin, directors)
            #expect(saved.version == 1 && saved.channels == [.inbox])
            let routes = try await cluster.notifications(story.admin) { client, metadata in
                try await client.listRoutes(.with { $0.eventType = "workflows.CardCreated" }, metadata: metadata).routes
            }
            #expect(routes.map(\.id) == ["card-created-department", "card-created-directors"])

            // A new template version: later messages use it.
            #expect(await rpcCode {
                _ = try await cluster.notifications(story.admin) { client, metadata in
                    try await client.upsertTemplate(.with {
                        $0.template = .with { $0.eventType = "workflows.CardCreated"; $0.title = "{hospital}"; $0.body = "x" }
                    }, metadata: metadata)
                }
            } == .invalidArgument)
            let template = try await cluster.notifications(story.admin) { client, metadata in
                try await client.upsertTemplate(.with {
                    $0.template = .with {
                        $0.eventType = "workflows.CardCreated"
                        $0.title = "【跟台】{number} {customer_name}"
                        $0.body = "{description}"
                        $0.linkTemplate = "fieldwork://cards/{card_id}"
                    }
                }, metadata: metadata)
            }
            #expect(template.version == 2 && template.locale == "zh-CN")

            // The card now reaches both directors as well as the department.
            let cards = try await story.supportRequest()
            let number = try #require(cards["marketing"]).number
            for person in ["D3001", "GM01", "MK02"] {
                try await cluster.eventually("\(person) hears of \(number)") {
                    try await story.inbox(person).contains { $0.title.hasPrefix("【跟台】") && $0.eventType == "workflows.CardCreated" }
                }
            }
            #expect(try await story.inbox("D3001").filter { $0.eventType == "workflows.CardCreated" }.count == 3)
            #expect(try await story.inbox("E1002").isEmpty)
            let audit = try await cluster.notifications(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "route"; $0.entityID = "card-created-directors" }, metadata: metadata).entries
            }
            #expect(audit.map(\.action) == ["create"])
        }
    }

    @Test func sendReachesPeopleByNameDepartmentRoleAndRegionOnce() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let manager = try await story.token("M2001")
            let admin = story.admin
            let send: @Sendable (String, Fieldwork_V1_SendRequest) async throws -> Fieldwork_V1_SendResponse = { token, request in
                try await cluster.notifications(token) { client, metadata in try await client.send(request, metadata: metadata) }
            }
            let message = Fieldwork_V1_SendRequest.with {
                $0.requestID = "send-1"
                $0.recipients.departments = ["logistics"]
                $0.recipients.personIds = ["E1002"]
                $0.title = "周五器械盘点"
                $0.body = "请物流部与刘洋周五 16:00 前完成器械包盘点。"
            }
            // SPEC §8.3: a manager reaches their team only; logistics is not M2001's.
            #expect(await rpcCode { _ = try await send(manager, message) } == .permissionDenied)
            #expect(try await send(admin, message).deliveries == 3)
            #expect(try await send(admin, message).deliveries == 3)   // a retry changes nothing
            for person in ["LG01", "LG02", "E1002"] {
                #expect(try await story.inbox(person).filter { $0.title == "周五器械盘点" }.count == 1)
            }
            #expect(try await story.inbox("MK02").isEmpty)

            let byRegion = try await send(admin, .with {
                $0.recipients.regions = ["宁波"]
                $0.recipients.roles = ["dept_head"]
                $0.title = "通知"
                $0.body = "宁波区域与各部门负责人"
            })
            #expect(byRegion.deliveries == 5)   // E1002 in 宁波; MK01, LG01, CP01, FN01 head departments
            // The manager's own team (E1001, E1002 report to M2001) is theirs to reach; roles across the company are not.
            #expect(try await send(manager, .with { $0.recipients.personIds = ["E1001", "E1002"]; $0.title = "周会"; $0.body = "周五 17:00" }).deliveries == 2)
            #expect(await rpcCode {
                _ = try await send(manager, .with { $0.recipients.roles = ["rep"]; $0.title = "x"; $0.body = "y" })
            } == .permissionDenied)
            let director = try await story.token("D3001")
            #expect(await rpcCode {
                _ = try await send(director, .with { $0.recipients.regions = ["宁波"]; $0.title = "x"; $0.body = "y" })
            } == .permissionDenied)
            #expect(await rpcCode {
                _ = try await send(admin, .with { $0.recipients.personIds = ["E1001"]; $0.title = "x"; $0.body = "y"; $0.link = "javascript:alert(1)" })
            } == .invalidArgument)

            #expect(await rpcCode { _ = try await send(try await story.token("E1001"), message) } == .permissionDenied)
            #expect(await rpcCode { _ = try await send(manager, .with { $0.title = "x"; $0.body = "y" }) } == .invalidArgument)
            #expect(await rpcCode {
                _ = try await send(manager, .with { $0.recipients.personIds = ["E9999"]; $0.title = "x"; $0.body = "y" })
            } == .invalidArgument)
            // No webhook serves finance: refused rather than sent to nobody.
            #expect(await rpcCode {
                _ = try await send(admin, .with { $0.recipients.departments = ["finance"]; $0.title = "x"; $0.body = "y"; $0.channels = [.webhook] })
            } == .failedPrecondition)
        }
    }
}
