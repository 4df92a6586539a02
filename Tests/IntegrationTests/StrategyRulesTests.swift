import FieldworkDomain
import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §4.5 over TCP: rules as data and their firings — stories 7 (stalled
/// customer → talk-track package) and 8 (payment-cycle drift → director),
/// each fired once per occurrence and explained by its recorded inputs.
@Suite(.serialized) struct StrategyRulesTests {
    /// One visit by E1001 to 浙一 (or 浙二) that reaches `stage`; returns its id.
    func visit(_ story: Story, stage: Fieldwork_V1_FunnelStage = .needsConfirmed, customer: String = "H-ZJ-001") async throws -> String {
        let location = customer == "H-ZJ-001" ? DemoData.insideZheyi : .with { $0.latitude = 30.2568; $0.longitude = 120.1737; $0.accuracyM = 10 }
        let visit = try await story.checkIn(at: location, customer: customer)
        let record = { () -> Fieldwork_V1_VisitRecord in
            var record = DemoData.record(surgeryInDays: nil)
            record.stageReached = stage
            return record
        }()
        return try await story.cluster.visits(story.rep) { client, metadata in
            try await client.submitVisit(.with { $0.visitID = visit.id; $0.record = record }, metadata: metadata).id
        }
    }

    func firings(_ cluster: Cluster, _ token: String, rule: String) async throws -> [Fieldwork_V1_RuleFiring] {
        try await cluster.scoring(token) { client, metadata in
            try await client.listRuleFirings(.with { $0.ruleID = rule }, metadata: metadata).firings
        }
    }

    /// Story 7: three visits without reaching QUOTED → the rep gets the talk-track package and the purchase history.
    @Test func threeVisitsWithoutAQuoteBringTheTalkTrack() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.importDirectory()
            let ops = try await cluster.token("O4001", [.ops], department: "operations")
            _ = try await cluster.scoring(ops) { client, metadata in
                try await client.recordPurchase(.with {
                    $0.purchase = .with {
                        $0.sourceRowID = "ERP-77"; $0.customerID = "H-ZJ-001"; $0.productLine = "spine"; $0.amount.fen = 1_250_000
                        $0.date = DemoData.shanghaiDate(daysFromToday: -12)
                    }
                }, metadata: metadata)
            }
            var visits: [String] = []
            for _ in 0..<3 { visits.append(try await visit(story)) }
            try await cluster.eventually("the talk-track package in E1001's inbox") {
                try await story.inbox("E1001").contains { $0.eventType == "scoring.RuleFired" && $0.body.contains("技术问答话术包") }
            }
            let item = try #require(try await story.inbox("E1001").first { $0.eventType == "scoring.RuleFired" })
            #expect(item.title == "策略提醒：客户停滞" && item.body.contains("spine ¥12,500.00") && item.body.contains("连续 3 次拜访"))
            let first = try #require(try await firings(cluster, story.admin, rule: "stalled_customer").first)
            #expect(first.inputs["visits"] == "3" && first.inputs["visit_ids"] == visits.joined(separator: ",") && first.inputs["stage"] == "QUOTED")
            #expect(first.notifiedPersonIds == ["E1001"] && first.occurrenceKey == "E1001:H-ZJ-001:\(visits[0])")
            #expect(first.explanation.contains("3 times in a row"))

            // A fourth visit in the same streak fires nothing new; reaching QUOTED ends the streak.
            _ = try await visit(story)
            _ = try await visit(story, stage: .quoted)
            try await cluster.eventually("scoring has seen all five visits") {
                try cluster.scalar(.scoring, "SELECT count(*) FROM inbox WHERE event_type = 'visits.VisitSubmitted'") == "5"
            }
            #expect(try await firings(cluster, story.admin, rule: "stalled_customer").count == 1)

            // The admin lowers N to 2 (a new version, audited): the next streak fires at its second visit.
            let rule = try #require(try await cluster.scoring(story.admin) { client, metadata in
                try await client.listRules(.init(), metadata: metadata).rules
            }.first { $0.id == "stalled_customer" })
            #expect(rule.version == 1 && rule.enabled && rule.parameters == ["visits": "3", "stage": "QUOTED"])
            let edited = { () -> Fieldwork_V1_Rule in
                var edited = rule
                edited.parameters["visits"] = "2"
                return edited
            }()
            let saved = try await cluster.scoring(story.admin) { client, metadata in
                try await client.updateRule(.with { $0.rule = edited; $0.reason = "新品推广期加快干预" }, metadata: metadata)
            }
            #expect(saved.version == 2 && saved.parameters["visits"] == "2")
            let audit = try await cluster.scoring(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "rule"; $0.entityID = "stalled_customer" }, metadata: metadata).entries
            }
            #expect(audit.count == 1 && audit.first?.reason == "新品推广期加快干预")
            // 浙一's funnel now stands at QUOTED: visits there are not stalled, however many.
            _ = [try await visit(story), try await visit(story)]
            try await cluster.eventually("scoring has seen all seven visits") {
                try cluster.scalar(.scoring, "SELECT count(*) FROM inbox WHERE event_type = 'visits.VisitSubmitted'") == "7"
            }
            #expect(try await firings(cluster, story.admin, rule: "stalled_customer").count == 1)
            let next = [try await visit(story, customer: "H-ZJ-002"), try await visit(story, customer: "H-ZJ-002")]
            try await cluster.eventually("a second stalled-customer firing") {
                try await firings(cluster, story.admin, rule: "stalled_customer").count == 2
            }
            let second = try #require(try await firings(cluster, story.admin, rule: "stalled_customer").first)
            #expect(second.ruleVersion == 2 && second.occurrenceKey == "E1001:H-ZJ-002:\(next[0])")

            // Why it fired, for a manager; another rep sees neither list nor detail.
            let manager = try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")
            let explained = try await cluster.scoring(manager) { client, metadata in
                try await client.explainFiring(.with { $0.id = first.id }, metadata: metadata)
            }
            #expect(explained.inputs == first.inputs && explained.ruleID == "stalled_customer")
            let otherRep = try await cluster.token("E1002", [.rep], department: "sales", region: "宁波")
            #expect(try await firings(cluster, otherRep, rule: "").isEmpty)
            #expect(await rpcCode {
                _ = try await cluster.scoring(otherRep) { client, metadata in try await client.explainFiring(.with { $0.id = first.id }, metadata: metadata) }
            } == .notFound)
            #expect(try await firings(cluster, story.rep, rule: "").count == 2)   // the rep sees what reached them

            // Bad edits name the field; only an admin edits.
            let refusals: [(Fieldwork_V1_Rule, String)] = [
                ({ var r = edited; r.parameters["visits"] = "0"; return r }(), "rule.parameters.visits"),
                ({ var r = edited; r.parameters["colour"] = "red"; return r }(), "rule.parameters.colour"),
                ({ var r = edited; r.action.notifyRoles = ["ceo"]; return r }(), "rule.action.notify_roles"),
                ({ var r = edited; r.action.template = "{secret}"; return r }(), "rule.action.template"),
                ({ var r = edited; r.condition = "plan_shortfall"; return r }(), "rule.condition"),
                ({ var r = edited; r.id = "free_lunch"; return r }(), ""),
            ]
            for (rule, field) in refusals {
                do {
                    _ = try await cluster.scoring(story.admin) { client, metadata in
                        try await client.updateRule(.with { $0.rule = rule; $0.reason = "试试" }, metadata: metadata)
                    }
                    Issue.record("accepted an edit that should fail on \(field)")
                } catch let error as RPCError {
                    if field.isEmpty {
                        #expect(error.code == .notFound)
                    } else {
                        #expect(error.code == .invalidArgument && error.message.contains(field))
                    }
                }
            }
            #expect(await rpcCode {
                _ = try await cluster.scoring(manager) { client, metadata in
                    try await client.updateRule(.with { $0.rule = edited; $0.reason = "x" }, metadata: metadata)
                }
            } == .permissionDenied)
            #expect(try cluster.scalar(.scoring, "SELECT count(*) FROM rules WHERE id = 'stalled_customer'") == "2")
        }
    }

    /// Story 8: 杭州's payment cycle grows from 45 to 58 days → the director gets the alert with five contracts' term changes.
    @Test func aDriftingPaymentCycleAlertsTheDirector() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.importDirectory()
            let ops = try await cluster.token("O4001", [.ops], department: "operations")
            let signed = DemoData.shanghaiDate(daysFromToday: -200)
            for index in 1...6 {
                _ = try await cluster.scoring(ops) { client, metadata in
                    try await client.recordContract(.with {
                        $0.contract = .with {
                            $0.id = "HT-\(index)"; $0.customerID = index % 2 == 0 ? "H-ZJ-002" : "H-ZJ-001"
                            $0.amount.fen = Int64(index) * 10_000_000; $0.paymentTermsDays = 45
                            $0.signed = DemoData.shanghaiDate(daysFromToday: -200 + index)
                        }
                    }, metadata: metadata)
                }
            }
            for index in 2...6 {
                let contract = try await cluster.scoring(ops) { client, metadata in
                    try await client.reviseContractTerms(.with {
                        $0.contractID = "HT-\(index)"; $0.paymentTermsDays = 60; $0.effective = DemoData.shanghaiDate(daysFromToday: -90)
                        $0.reason = "医院资金紧张"
                    }, metadata: metadata)
                }
                #expect(contract.paymentTermsDays == 60 && contract.revisions.map(\.toDays) == [60] && contract.region == "杭州")
            }
            // Last month: paid 45 days after the invoice; this month: 58 (and 宁波, not drifting, has no contracts at all).
            let today = DemoData.shanghaiDate(daysFromToday: 0)
            let lastMonthDay = -(Int(today.day) + 5)
            for (index, (paidOffset, days)) in [(lastMonthDay, 44), (lastMonthDay, 46), (0, 57), (0, 59)].enumerated() {
                _ = try await cluster.scoring(ops) { client, metadata in
                    try await client.recordPayment(.with {
                        $0.payment = .with {
                            $0.sourceRowID = "PAY-\(index)"; $0.contractID = "HT-\(index + 1)"; $0.amount.fen = 5_000_000
                            $0.invoiceDate = DemoData.shanghaiDate(daysFromToday: paidOffset - days)
                            $0.paidDate = DemoData.shanghaiDate(daysFromToday: paidOffset)
                        }
                    }, metadata: metadata)
                }
            }

            // Facts are checked and keyed like the others.
            let badPayment: [(Fieldwork_V1_Payment, RPCError.Code)] = [
                (.with { $0.sourceRowID = "PAY-X"; $0.contractID = "HT-404"; $0.amount.fen = 1; $0.invoiceDate = signed; $0.paidDate = signed }, .invalidArgument),
                (.with { $0.sourceRowID = "PAY-X"; $0.contractID = "HT-1"; $0.amount.fen = 1; $0.invoiceDate = today; $0.paidDate = signed }, .invalidArgument),
                (.with { $0.sourceRowID = "PAY-0"; $0.contractID = "HT-1"; $0.amount.fen = 7; $0.invoiceDate = signed; $0.paidDate = today }, .alreadyExists),
            ]
            for (payment, expected) in badPayment {
                #expect(await rpcCode {
                    _ = try await cluster.scoring(ops) { client, metadata in try await client.recordPayment(.with { $0.payment = payment }, metadata: metadata) }
                } == expected)
            }
            #expect(await rpcCode {
                _ = try await cluster.scoring(ops) { client, metadata in
                    try await client.reviseContractTerms(.with {
                        $0.contractID = "HT-2"; $0.paymentTermsDays = 60; $0.effective = today; $0.reason = "again"
                    }, metadata: metadata)
                }
            } == .failedPrecondition)
            #expect(await rpcCode {
                _ = try await cluster.scoring(story.rep) { client, metadata in
                    try await client.recordContract(.with { $0.contract.id = "HT-9" }, metadata: metadata)
                }
            } == .permissionDenied)
            let replay = try await cluster.scoring(ops) { client, metadata in
                try await client.recordContract(.with {
                    $0.contract = .with {
                        $0.id = "HT-2"; $0.customerID = "H-ZJ-002"; $0.amount.fen = 20_000_000; $0.paymentTermsDays = 45
                        $0.signed = DemoData.shanghaiDate(daysFromToday: -198)
                    }
                }, metadata: metadata)
            }
            #expect(replay.paymentTermsDays == 60 && replay.revisions.count == 1)   // the stored contract, unchanged

            for _ in 0..<2 {
                _ = try await cluster.scoring(story.admin) { client, metadata in try await client.runScoring(.init(), metadata: metadata) }
            }
            let firings = try await firings(cluster, story.admin, rule: "payment_cycle_drift")
            #expect(firings.count == 1)   // once per region and month, however often the job runs
            let firing = try #require(firings.first)
            #expect(firing.inputs["region"] == "杭州" && firing.inputs["this_month_days"] == "58.0" && firing.inputs["last_month_days"] == "45.0")
            #expect(firing.inputs["increase_days"] == "13.0")
            let changes = (firing.inputs["contract_changes"] ?? "").components(separatedBy: "；")
            #expect(changes.count == 5 && changes.first?.hasPrefix("HT-6 45→60 天") == true && !changes.contains { $0.hasPrefix("HT-1 ") })
            #expect(firing.notifiedPersonIds == ["D3001", "GM01"])
            try await cluster.eventually("the director's drift alert") {
                try await story.inbox("D3001").contains { $0.title == "策略提醒：回款周期漂移" && $0.body.contains("HT-2 45→60 天") }
            }
        }
    }
}
