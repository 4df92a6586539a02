import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Testing

/// What a confused or hostile client sends to the visits service: each call is
/// refused with INVALID_ARGUMENT naming the field, nothing is written, and the
/// process is still up afterwards. Before the checks, the timestamps trapped
/// (the whole service went down for every user), a NUL byte came back as
/// INTERNAL, and unknown enum values were stored.
@Suite(.serialized) struct HostileInputTests {
    @Test func hostileRequestsAreRefusedByFieldAndTheServiceStaysUp() async throws {
        try await Cluster.with(createDatabases: [.visits]) { cluster in
            try cluster.start(.visits)
            try await cluster.waitUntilServing(.visits)
            let story = try await Story(cluster)
            try await story.importDirectory()
            let visit = try await story.checkIn(at: DemoData.insideZheyi)
            let farFuture = Google_Protobuf_Timestamp(seconds: 10_000_000_000_000, nanos: 0)
            let beforeTime = Google_Protobuf_Timestamp(seconds: Int64.min, nanos: 0)

            /// The field an INVALID_ARGUMENT names ("field: message"), or what else happened.
            func refusedField(_ token: String, _ call: @Sendable (Fieldwork_V1_VisitsService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Void) async -> String {
                do {
                    try await cluster.visits(token) { client, metadata in try await call(client, metadata) }
                    return "accepted"
                } catch let error as RPCError where error.code == .invalidArgument {
                    return String(error.message.prefix { $0 != ":" })
                } catch {
                    return "\(error)"
                }
            }

            #expect(await refusedField(story.rep) { client, metadata in
                _ = try await client.listVisits(.with { $0.range.from = beforeTime }, metadata: metadata)
            } == "range.from")
            #expect(await refusedField(story.admin) { client, metadata in
                _ = try await client.topObjections(.with { $0.range.to = farFuture }, metadata: metadata)
            } == "range.to")
            let code = try await story.code()
            #expect(await refusedField(story.rep) { client, metadata in
                _ = try await client.checkIn(.with { $0.code = code; $0.location = DemoData.insideZheyi; $0.deviceTime = farFuture }, metadata: metadata)
            } == "device_time")
            #expect(await refusedField(story.admin) { client, metadata in
                _ = try await client.issueCheckinCode(.with { $0.customerID = "H-ZJ-001"; $0.expiresAt = .init(seconds: Int64.max, nanos: 0) }, metadata: metadata)
            } == "expires_at")
            #expect(await refusedField(story.admin) { client, metadata in
                _ = try await client.runJob(.with { $0.name = "outbox-relay"; $0.asOf = farFuture }, metadata: metadata)
            } == "as_of")
            #expect(await refusedField(story.rep) { client, metadata in
                var record = DemoData.record(surgeryInDays: nil)
                record.department = "骨科\u{0}"
                _ = try await client.updateVisitDraft(.with { $0.visitID = visit.id; $0.record = record }, metadata: metadata)
            } == "record.department")
            #expect(await refusedField(story.rep) { client, metadata in
                var record = DemoData.record(surgeryInDays: nil)
                record.stageReached = .UNRECOGNIZED(99)
                _ = try await client.submitVisit(.with { $0.visitID = visit.id; $0.record = record; $0.location = DemoData.insideZheyi }, metadata: metadata)
            } == "record.stage_reached")
            #expect(await refusedField(story.rep) { client, metadata in
                var record = DemoData.record(surgeryInDays: nil)
                record.intent = .UNRECOGNIZED(7)
                _ = try await client.updateVisitDraft(.with { $0.visitID = visit.id; $0.record = record }, metadata: metadata)
            } == "record.intent")
            #expect(await refusedField(story.rep) { client, metadata in
                _ = try await client.listVisits(.with { $0.status = .UNRECOGNIZED(42) }, metadata: metadata)
            } == "status")
            #expect(await refusedField(story.admin) { client, metadata in
                _ = try await client.listGradeChanges(.with { $0.page.pageToken = Data("k:not-an-id".utf8).base64EncodedString() }, metadata: metadata)
            } == "page.page_token")

            #expect(await refusedField(story.rep) { client, metadata in
                var record = DemoData.record(surgeryInDays: nil)
                record.productIds = ["SP-NEW-01", " SP-NEW-01 "]
                _ = try await client.updateVisitDraft(.with { $0.visitID = visit.id; $0.record = record }, metadata: metadata)
            } == "record.product_ids")

            // Still up, and the visit untouched: OPEN, no draft, one visit in all.
            #expect(cluster.process(.visits)?.isRunning == true)
            #expect(await cluster.health(.visits) == .serving)
            let untouched = try await cluster.visits(story.rep) { client, metadata in
                try await client.getVisit(.with { $0.id = visit.id }, metadata: metadata)
            }
            #expect(untouched.status == .open)
            #expect(untouched.record.department.isEmpty)
            #expect(try cluster.scalar(.visits, "SELECT count(*) FROM visits") == "1")

            // What is stored is what was checked: ids and texts trimmed (the
            // catalogue check saw them so), and no surgery-support fields when
            // support is not needed.
            var padded = DemoData.record(surgeryInDays: nil)
            padded.productIds = [" SP-NEW-01", "TR-201\u{3000}"]
            padded.objectionNote = "  价格高于竞品约8%\n"
            padded.surgerySupport = .with { $0.needed = false; $0.department = "骨科"; $0.productIds = Array(repeating: "X", count: 50) }
            let record = padded
            let submitted = try await cluster.visits(story.rep) { client, metadata in
                try await client.submitVisit(.with { $0.visitID = visit.id; $0.record = record; $0.location = DemoData.insideZheyi }, metadata: metadata)
            }
            #expect(submitted.record == DemoData.record(surgeryInDays: nil))
            #expect(try cluster.scalar(.visits, "SELECT product_ids::text || ' ' || (record ? 'surgerySupport')::text FROM visits") == "{SP-NEW-01,TR-201} false")
        }
    }

    /// A rep's forged HealthHistory page token ("k:1e300", nan, inf) killed
    /// the scoring service: the handler parsed its own key with Double(...)
    /// and PostgresNIO trapped encoding the Date.
    @Test func forgedHealthHistoryTokensAreRefusedAndScoringStaysUp() async throws {
        try await Cluster.with(createDatabases: [.scoring]) { cluster in
            try cluster.start(.scoring)
            try await cluster.waitUntilServing(.scoring)
            let rep = try await cluster.token("R1001", [.rep], department: "sales", region: "杭州")
            for key in ["1e300", "-1e300", "nan", "inf", "-inf", "1e12", "", "1.5/2", "\u{0}"] {
                let token = Data("k:\(key)".utf8).base64EncodedString()
                let outcome: String
                do {
                    _ = try await cluster.scoring(rep) { client, metadata in
                        try await client.healthHistory(.with { $0.customerID = "H-ZJ-001"; $0.page.pageToken = token }, metadata: metadata)
                    }
                    outcome = "accepted"
                } catch let error as RPCError where error.code == .invalidArgument {
                    outcome = String(error.message.prefix { $0 != ":" })
                }
                // "k:" alone is the first page; every other forged key is refused by name.
                #expect(outcome == (key.isEmpty ? "accepted" : "page.page_token"), "key \(key)")
            }
            #expect(cluster.process(.scoring)?.isRunning == true)
            #expect(await cluster.health(.scoring) == .serving)
        }
    }

    /// Forged page tokens of every key kind, on every service: each is refused
    /// by name. Before, a NUL in a text key came back INTERNAL (PostgreSQL
    /// refuses it), a model version past 2^31 overflowed the SQL cast (INTERNAL),
    /// and a sequence key that was not a number silently restarted the list.
    @Test func forgedPageTokensOfEveryKindAreRefusedOnEveryService() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let admin = try await cluster.token("A0001", [.admin], department: "management", region: "杭州")
            @Sendable func token(_ key: String) -> Fieldwork_V1_PageRequest { .with { $0.pageToken = Data("k:\(key)".utf8).base64EncodedString() } }
            func field(_ call: () async throws -> Void) async -> String {
                do {
                    try await call()
                    return "accepted"
                } catch let error as RPCError where error.code == .invalidArgument {
                    return String(error.message.prefix { $0 != ":" })
                } catch {
                    return "\(error)"
                }
            }
            var outcomes: [String: String] = [:]
            for key in ["a\u{0}b", "\u{7}"] {
                outcomes["visits text \(key.unicodeScalars.map(\.value))"] = await field {
                    _ = try await cluster.visits(admin) { client, metadata in try await client.listDepartments(.with { $0.page = token(key) }, metadata: metadata) }
                }
            }
            for key in ["not-an-id", "nan"] {
                outcomes["workflows id \(key)"] = await field {
                    _ = try await cluster.workflows(admin) { client, metadata in try await client.listRequests(.with { $0.page = token(key) }, metadata: metadata) }
                }
            }
            for key in ["abc", "-3", "99999999999999999999", "1e3"] {
                outcomes["notifications sequence \(key)"] = await field {
                    _ = try await cluster.notifications(admin) { client, metadata in try await client.listInbox(.with { $0.page = token(key) }, metadata: metadata) }
                }
                outcomes["notifications audit \(key)"] = await field {
                    _ = try await cluster.notifications(admin) { client, metadata in
                        try await client.listAudit(.with { $0.actorPersonID = "A0001"; $0.page = token(key) }, metadata: metadata)
                    }
                }
            }
            for key in ["1e300", "x", "-1", "3000000000"] {
                outcomes["scoring version \(key)"] = await field {
                    _ = try await cluster.scoring(admin) { client, metadata in try await client.listModelVersions(.with { $0.page = token(key) }, metadata: metadata) }
                }
            }
            let wrong = outcomes.filter { $0.value != "page.page_token" }
            // A version past any real one is a valid key that finds the versions below it.
            #expect(wrong == ["scoring version 3000000000": "accepted"], "\(wrong)")
            for service in Cluster.Service.allCases { #expect(await cluster.health(service) == .serving) }
        }
    }

    /// Every RPC of the four services, called with each kind of hostile request
    /// (`HostileMessages.Variant`: NaN and huge numbers, control characters,
    /// invalid UTF-8, years 1 and 9999, 100 000-element repeated fields), by a
    /// caller its rule admits. The answer is OK or a status that names what is
    /// wrong; never INTERNAL, UNKNOWN or a dropped call, and every process is
    /// still serving at the end.
    @Test func everyRPCAnswersHostileRequestsCleanlyAndEveryServiceStaysUp() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let hostile = try HostileMessages()
            let clean: Set<RPCError.Code> = [
                .invalidArgument, .notFound, .failedPrecondition, .alreadyExists, .permissionDenied, .outOfRange, .resourceExhausted, .aborted,
            ]
            var unclean: [String] = []
            var calls = 0
            for (service, blueprint) in AccessMatrixTests.services {
                let rules = AccessRules(blueprint.access)
                let methods = try #require(try AccessRules.declaredMethods().first { $0.service == blueprint.grpcServiceName }?.methods)
                let admin = try await cluster.token("A0001", [.admin], department: "management", region: "杭州")
                let rep = try await cluster.token("E1001", [.rep], department: "sales", region: "杭州")
                let serviceToken = try await cluster.serviceToken(to: service)
                for variant in HostileMessages.Variant.allCases {
                    let outcomes = try await cluster.withClient(service) { client in
                        try await withThrowingTaskGroup(of: (MethodDescriptor, RPCError.Code?).self) { group in
                            for method in methods {
                                let roles = rules[method]?.roles ?? []
                                let token = roles.contains(.admin) ? admin : roles.contains(.rep) ? rep : serviceToken
                                let message = try hostile.request(method, variant)
                                let timeout: Duration = hostile.streamsAnswers(method) ? .seconds(2) : .seconds(60)
                                group.addTask {
                                    (method, await rpcCode {
                                        try await client.call(method, message: message, metadata: cluster.metadata(token), timeout: timeout)
                                    })
                                }
                            }
                            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
                        }
                    }
                    for method in methods {
                        calls += 1
                        guard let code = outcomes[method] ?? nil else { continue }
                        if clean.contains(code) || (code == .deadlineExceeded && hostile.streamsAnswers(method)) { continue }
                        unclean.append("\(variant.rawValue) → \(method): \(code)")
                    }
                }
            }
            #expect(calls > 700, "\(calls) calls")
            #expect(unclean.isEmpty, "\(unclean.sorted().joined(separator: "\n"))")
            for service in Cluster.Service.allCases {
                #expect(cluster.process(service)?.isRunning == true, "\(service) exited")
                #expect(await cluster.health(service) == .serving)
            }
        }
    }
}
