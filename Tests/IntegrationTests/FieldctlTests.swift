import FieldworkProto
import Foundation
import Testing

/// The built `fieldctl` binary against the real executables: a handful of its
/// commands with their tables and `--json`, its shell completion, and a check
/// that every RPC in Proto/fieldwork/v1 has a command.
@Suite(.serialized) struct FieldctlTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Run {
        var status: Int32
        var output: String
        var errors: String
        /// The standard output as a JSON object (for `--json`).
        func json() throws -> [String: Any] {
            try #require(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "not a JSON object: \(output) \(errors)")
        }
    }

    /// Runs `fieldctl arguments…` with the cluster's addresses (if any) and `token` in the environment.
    func fieldctl(_ arguments: [String], cluster: Cluster? = nil, token: String? = nil) throws -> Run {
        let process = Process()
        process.executableURL = Cluster.binDirectory.appendingPathComponent("fieldctl")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FIELDWORK_") }
        if let cluster {
            for service in Cluster.Service.allCases {
                environment["FIELDWORK_\(service.rawValue.uppercased())_ADDR"] = "127.0.0.1:\(cluster.ports[service]!)"
            }
        }
        if let token { environment["FIELDWORK_TOKEN"] = token }
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self), errors: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a command that must succeed (an RPC error prints "error: …" on stderr and exits 1).
    func ok(_ arguments: [String], cluster: Cluster, token: String) throws -> Run {
        let run = try fieldctl(arguments, cluster: cluster, token: token)
        #expect(run.status == 0 && !run.output.hasPrefix("error:"), "fieldctl \(arguments.joined(separator: " ")): \(run.output) \(run.errors)")
        return run
    }

    /// Every `rpc X(` of the four services' .proto files, as "Service/X".
    static func protoRPCs() throws -> Set<String> {
        var rpcs = Set<String>()
        for file in ["visits", "workflows", "scoring", "notifications"] {
            let text = try String(contentsOf: root.appendingPathComponent("Proto/fieldwork/v1/\(file).proto"), encoding: .utf8)
            var service = ""
            for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                if line.hasPrefix("service ") { service = String(line.dropFirst("service ".count).prefix { $0 != " " && $0 != "{" }) }
                if line.hasPrefix("rpc ") { rpcs.insert(service + "/" + line.dropFirst(4).prefix { $0 != "(" && $0 != " " }) }
            }
        }
        return rpcs
    }

    @Test func everyRPCHasACommandThatExists() throws {
        let rpcs = try Self.protoRPCs()
        #expect(rpcs.count > 100 && rpcs.contains("VisitsService/SetDailyPlan") && rpcs.contains("NotificationsService/ListDeadLetters"))
        let listed = try fieldctl(["rpcs", "--json"])
        #expect(listed.status == 0, "\(listed.errors)")
        let mapping = try listed.json().compactMapValues { $0 as? String }
        let missing = rpcs.subtracting(mapping.keys).sorted()
        let stale = Set(mapping.keys).subtracting(rpcs).sorted()
        #expect(missing.isEmpty, "RPCs without a fieldctl command (add one and a line to Fieldctl.rpcCoverage): \(missing)")
        #expect(stale.isEmpty, "Fieldctl.rpcCoverage names RPCs the .proto files do not have: \(stale)")

        // Each named command is a real subcommand (from the parser's own description of itself).
        let dump = try fieldctl(["--experimental-dump-help"])
        #expect(dump.status == 0, "\(dump.errors)")
        let command = try #require(try dump.json()["command"] as? [String: Any])
        let subcommands = Set(((command["subcommands"] as? [[String: Any]]) ?? []).compactMap { $0["commandName"] as? String })
        #expect(subcommands.count > 80)
        for (rpc, line) in mapping.sorted(by: { $0.key < $1.key }) {
            let name = String(line.prefix { $0 != " " })
            #expect(subcommands.contains(name), "\(rpc) → '\(line)': no subcommand '\(name)'")
        }
        // The table form lists them too.
        let table = try fieldctl(["rpcs", "--service", "scoring"])
        #expect(table.output.contains("ScoringService/GetModelConfig") && table.output.contains("fieldctl model-config"))
        #expect(!table.output.contains("VisitsService/"))
    }

    @Test func completionScriptsNameTheCommandsAndValues() throws {
        let bash = try fieldctl(["--generate-completion-script", "bash"])
        #expect(bash.status == 0, "\(bash.errors)")
        for word in ["set-plan", "plan-completion", "decide-grade", "top-objections", "list-routes", "model-config", "deliver"] {
            #expect(bash.output.contains(word), "bash completion lacks \(word)")
        }
        // Fixed value sets are offered: funnel stages, CSV kinds, plan scopes, services.
        for value in ["needs-confirmed", "academic-participations", "region", "notifications"] {
            #expect(bash.output.contains(value), "bash completion lacks the value \(value)")
        }
        for shell in ["zsh", "fish"] {
            let script = try fieldctl(["--generate-completion-script", shell])
            #expect(script.status == 0 && script.output.contains("set-plan"), "\(shell): \(script.errors)")
        }
    }

    @Test func newCommandsAgainstTheCluster() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let admin = story.admin, rep = story.rep
            let manager = try await cluster.token("M2001", [.manager], department: "sales", region: "杭州")

            // Directory: departments as a table and a new person.
            let departments = try ok(["list-departments"], cluster: cluster, token: admin)
            #expect(departments.output.contains("logistics") && departments.output.contains("物流部") && departments.output.contains("LG01"))
            let person = try ok(["upsert-person", "E1003", "--name", "陈晨", "--department", "sales", "--region", "杭州",
                                 "--supervisor", "M2001", "--role", "rep"], cluster: cluster, token: admin)
            #expect(person.output.contains("E1003") && person.output.contains("陈晨") && person.output.contains("M2001"))
            let changed = try ok(["upsert-person", "E1003", "--region", "宁波", "--json"], cluster: cluster, token: admin).json()
            #expect(changed["name"] as? String == "陈晨" && changed["region"] as? String == "宁波")   // the rest kept

            // A plan for tomorrow: set, read back, completion.
            let tomorrow = DemoData.shanghaiDate(daysFromToday: 1)
            let day = String(format: "%04d-%02d-%02d", tomorrow.year, tomorrow.month, tomorrow.day)
            let set = try ok(["set-plan", "--day", day, "--customer", "H-ZJ-001=09:00-10:00", "--customer", "H-ZJ-002"], cluster: cluster, token: rep)
            #expect(set.output.contains("E1001 \(day)") && set.output.contains("H-ZJ-001") && set.output.contains("09:00-10:00"), "\(set.output)")
            let plan = try ok(["get-plan", "--day", day, "--json"], cluster: cluster, token: rep).json()
            #expect(plan["rep_id"] as? String == "E1001")
            let planned = try #require(plan["visits"] as? [[String: Any]])
            #expect(Set(planned.compactMap { $0["customer_id"] as? String }) == ["H-ZJ-001", "H-ZJ-002"])
            #expect(planned.first { $0["customer_id"] as? String == "H-ZJ-001" }?["slot"] as? String == "09:00-10:00")
            let completion = try ok(["plan-completion", "--scope", "team", "--subject", "M2001", "--day", day], cluster: cluster, token: manager)
            #expect(completion.output.contains("E1001") && completion.output.contains("total: 0 of 2 planned, 0.0%"), "\(completion.output)")
            let completionJSON = try ok(["plan-completion", "--day", day, "--json"], cluster: cluster, token: rep).json()
            #expect(completionJSON["planned"] as? Int == 2)

            // Grade change: the rep proposes, the supervisor confirms, the customer's grade moves.
            let proposal = try ok(["propose-grade", "--customer", "H-ZJ-002", "--grade", "B", "--reason", "季度采购额下降", "--json"],
                                  cluster: cluster, token: rep).json()
            #expect(proposal["status"] as? String == "GRADE_CHANGE_STATUS_PROPOSED" && proposal["from_grade"] as? String == "A")
            let proposalID = try #require(proposal["id"] as? String)
            let confirmed = try ok(["decide-grade", proposalID, "confirm"], cluster: cluster, token: manager)
            #expect(confirmed.output.contains("A→B") && confirmed.output.contains("CONFIRMED") && confirmed.output.contains("M2001"), "\(confirmed.output)")
            #expect(try ok(["get-customer", "H-ZJ-002", "--json"], cluster: cluster, token: rep).json()["grade"] as? String == "B")
            let history = try ok(["list-grade-changes", "--customer", "H-ZJ-002", "--status", "confirmed"], cluster: cluster, token: manager)
            #expect(history.output.contains(proposalID) && history.output.contains("季度采购额下降"))

            // Check out with a record, then the objection shows among the top ones; an amendment needs a reason.
            let visit = try await story.checkIn(at: DemoData.insideZheyi)
            let out = try ok(["check-out", visit.id, "--lat", "30.2531", "--lon", "120.1786", "--product", "SP-NEW-01",
                              "--objection", "delivery", "--note", "交期三周", "--stage", "quoted"], cluster: cluster, token: rep)
            #expect(out.output.contains("SUBMITTED") && out.output.contains("DELIVERY"), "\(out.output)")
            let top = try ok(["top-objections"], cluster: cluster, token: admin)
            #expect(top.output.contains("DELIVERY") && top.output.contains("交期三周"), "\(top.output)")
            let topJSON = try ok(["top-objections", "--json"], cluster: cluster, token: admin).json()
            let first = try #require((topJSON["top"] as? [[String: Any]])?.first)
            #expect(first["objection_type"] as? String == "DELIVERY" && first["count"] as? Int == 1)
            let amended = try ok(["amend-visit", visit.id, "--note", "交期四周", "--reason", "笔误"], cluster: cluster, token: rep)
            #expect(amended.output.contains("amendments: 1"), "\(amended.output)")
            let funnel = try ok(["get-funnel", "--customer", "H-ZJ-001"], cluster: cluster, token: admin)
            #expect(funnel.output.contains("spine") && funnel.output.contains("QUOTED"), "\(funnel.output)")

            // The health model: read, change, read the new version.
            let model = try ok(["model-config"], cluster: cluster, token: admin)
            #expect(model.output.contains("model v1") && model.output.contains("weight_purchases"), "\(model.output)")
            let updated = try ok(["update-model-config", "--weight-purchases", "0.5", "--weight-trials", "0.25", "--weight-academic", "0.25",
                                  "--reason", "加重采购权重"], cluster: cluster, token: admin)
            #expect(updated.output.contains("model v2") && updated.output.contains("加重采购权重"), "\(updated.output)")
            let current = try ok(["model-config", "--json"], cluster: cluster, token: admin).json()
            #expect(current["version"] as? Int == 2 && current["weight_purchases"] as? Double == 0.5 && current["trials_full_marks"] as? Int == 3)

            // Notification routes: the default one, then one added.
            let routes = try ok(["list-routes", "--event-type", "workflows.CardCreated"], cluster: cluster, token: admin)
            #expect(routes.output.contains("card-created-department"), "\(routes.output)")
            let added = try ok(["upsert-route", "card-created-directors", "--event-type", "workflows.CardCreated", "--role", "director",
                                "--channel", "inbox"], cluster: cluster, token: admin)
            #expect(added.output.contains("role:director") && added.output.contains("inbox") && added.output.contains("v1"), "\(added.output)")
            let routeIDs = try ((ok(["list-routes", "--event-type", "workflows.CardCreated", "--json"], cluster: cluster, token: admin).json()["routes"]
                as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
            #expect(routeIDs == ["card-created-department", "card-created-directors"])

            // A quick pass over more of the new commands: each answers with its table.
            let smoke: [(arguments: [String], token: String, expected: [String])] = [
                (["get-person", "E1003"], admin, ["陈晨", "宁波"]),
                (["upsert-product", "SP-NEW-02", "--name", "脊柱融合器二代", "--product-line", "spine"], admin, ["SP-NEW-02", "spine", "yes"]),
                (["upsert-customer", "H-ZJ-002", "--address", "杭州市解放路88号"], admin, ["杭州市解放路88号", "浙江大学医学院附属第二医院"]),
                (["rotate-checkin-key"], admin, ["active key:", "accepted:"]),
                (["visit-summary"], manager, ["E1001", "H-ZJ-001", "SP-NEW-01=1", "DELIVERY=1"]),
                (["set-stage", "--customer", "H-ZJ-002", "--product-line", "trauma", "--stage", "needs-confirmed"], manager, ["H-ZJ-002", "NEEDS_CONFIRMED"]),
                (["funnel-report"], admin, ["QUOTED", "NEEDS_CONFIRMED"]),
                (["upsert-approval-chain", "small", "--name", "小额合同", "--step", "manager", "--step", "director:500000"], admin, ["small", "1.manager 2.director≥500000"]),
                (["list-approval-chains"], admin, ["small", "小额合同"]),
                (["list-message-templates", "--event-type", "workflows.CardCreated"], admin, ["workflows.CardCreated", "zh-CN"]),
                (["mark-all-read"], rep, ["marked read"]),
            ]
            for (arguments, token, expected) in smoke {
                let run = try ok(arguments, cluster: cluster, token: token)
                for text in expected { #expect(run.output.contains(text), "fieldctl \(arguments.joined(separator: " ")): \(run.output)") }
            }

            // A draft edited without submitting; a request from a template given as JSON; an approval read back.
            let open = try await story.checkIn(at: DemoData.insideZheyi)
            let draft = try ok(["update-visit-draft", open.id, "--product", "TR-201", "--intent", "high"], cluster: cluster, token: rep)
            #expect(draft.output.contains("OPEN") && draft.output.contains("TR-201"), "\(draft.output)")
            let record = try #require(try ok(["get-visit", open.id, "--json"], cluster: cluster, token: rep).json()["record"] as? [String: Any])
            #expect(record["intent"] as? String == "INTENT_LEVEL_HIGH" && record["product_ids"] as? [String] == ["TR-201"])
            let templateFile = cluster.logDirectory.appendingPathComponent("template.json")
            try Data("""
                {"id": "fw-test", "name": "测试申请", "number_prefix": "FT", "active": true,
                 "cards": [{"department": "logistics", "title": "备货 {customer_name}", "sla_hours": 24}]}
                """.utf8).write(to: templateFile)
            let template = try ok(["upsert-template", templateFile.path], cluster: cluster, token: admin)
            #expect(template.output.contains("fw-test") && template.output.contains("logistics(24h)"), "\(template.output)")
            let created = try ok(["create-request", "--template", "fw-test", "--customer", "H-ZJ-001", "--json"], cluster: cluster, token: rep).json()
            let requestID = try #require(created["id"] as? String)
            let request = try ok(["get-request", requestID], cluster: cluster, token: rep)
            #expect(request.output.contains("fw-test v1") && request.output.contains("FT-") && request.output.contains("logistics"), "\(request.output)")
            let cardNumber = try #require((created["cards"] as? [[String: Any]])?.first?["number"] as? String)
            #expect(try ok(["list-attachments", cardNumber], cluster: cluster, token: rep).output.contains("(none)"))
            let approval = try ok(["submit-approval", "--chain", "small", "--subject", "耗材", "--amount", "1000", "--json"], cluster: cluster, token: rep).json()
            let shown = try ok(["get-approval", try #require(approval["id"] as? String)], cluster: cluster, token: rep)
            #expect(shown.output.contains("耗材") && shown.output.contains("manager") && shown.output.contains("M2001"), "\(shown.output)")
            #expect(try ok(["run-scoring"], cluster: cluster, token: admin).output.contains("customer(s)"))
            let health = try ok(["get-customer-health", "H-ZJ-001"], cluster: cluster, token: admin)
            #expect(health.output.contains("H-ZJ-001") && health.output.contains("v2"), "\(health.output)")
            let message = try ok(["upsert-message-template", "--event-type", "workflows.CardCreated", "--title", "{number} {title}", "--body", "{description}"],
                                 cluster: cluster, token: admin)
            #expect(message.output.contains("{number} {title}") && message.output.contains("zh-CN"), "\(message.output)")
            let badItem = try fieldctl(["mark-read", "not-an-item"], cluster: cluster, token: rep)
            #expect(badItem.status == 1 && badItem.errors.hasPrefix("error: invalidArgument") && badItem.errors.contains("item_ids"), "\(badItem.errors)")

            // deliver: an event handed to a service by hand; the same event again changes nothing.
            let event = cluster.logDirectory.appendingPathComponent("event.json")
            try Data("""
                {"id": "\(UUID().uuidString.lowercased())", "type": "visits.DepartmentChanged", "source": "visits",
                 "aggregate_id": "department:academic", "occurred_at": "2026-11-27T08:00:00Z",
                 "department_changed": {"department": {"code": "academic", "name": "学术部", "head_person_id": ""}}}
                """.utf8).write(to: event)
            let service = try await cluster.serviceToken(to: .notifications)
            let delivered = try ok(["deliver", "--service", "notifications", "--event-file", event.path], cluster: cluster, token: service)
            #expect(delivered.output.contains("→ notifications: delivered"), "\(delivered.output)")
            let again = try ok(["deliver", "--service", "notifications", "--event-file", event.path, "--json"], cluster: cluster, token: service)
            #expect(try again.json()["duplicate"] as? Bool == true)

            // A refusal comes back as the server's error, naming the field.
            let refused = try fieldctl(["propose-grade", "--customer", "H-ZJ-001", "--grade", "B"], cluster: cluster, token: rep)
            #expect(refused.status == 1 && refused.errors.hasPrefix("error: invalidArgument") && refused.errors.contains("reason"), "\(refused.output) \(refused.errors)")
        }
    }
}
