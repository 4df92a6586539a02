import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// Strategy rules as data (SPEC §4.5): listing them, changing one (a new
/// version, audited, in force from the next evaluation), and reading back
/// every firing with the inputs that explain it.
extension ScoringService {
    var strategy: StrategyEngine { StrategyEngine(environment: environment) }

    func listRules(_ request: Fieldwork_V1_ListRulesRequest) async throws -> Fieldwork_V1_ListRulesResponse {
        let page = try Page(request.page)
        let rules = try await environment.postgres.withConnection { connection in
            try await strategy.rules(after: page.after, limit: page.limit, on: connection)
        }
        let finished = page.finish(rules.map(Fieldwork_V1_Rule.init)) { $0.id }
        return .with { $0.rules = finished.rows; $0.page = finished.page }
    }

    /// Edits a built-in rule: its parameters, switch, name and action. The
    /// condition and trigger are the rule's code and stay as they are.
    func updateRule(_ request: Fieldwork_V1_UpdateRuleRequest) async throws -> Fieldwork_V1_Rule {
        let id = try Input.text(request.rule.id, field: "rule.id", max: 64, required: true)
        let reason = try Input.text(request.reason, field: "reason", max: 1000, required: true)
        guard let builtIn = StrategyRule.builtIn(id) else {
            throw DomainError.notFound(entity: "rule", id: "\(id) (rules are \(StrategyRule.builtIns.map(\.id).joined(separator: ", ")))")
        }
        guard request.rule.hasAction else { throw DomainError.invalidArgument(field: "rule.action", message: "is required") }
        var rule = StrategyRule(request.rule, condition: builtIn.condition)
        if request.rule.trigger.isEmpty { rule.trigger = builtIn.trigger }
        if request.rule.condition.isEmpty { rule.condition = builtIn.condition }
        guard request.rule.condition.isEmpty || request.rule.condition == builtIn.condition.rawValue else {
            throw DomainError.invalidArgument(field: "rule.condition", message: "is \(builtIn.condition.rawValue) for rule \(id) and cannot change")
        }
        try rule.validate(against: builtIn)
        rule.parameters = builtIn.condition.defaults.merging(rule.parameters) { $1 }
        let json = try stableJSON(rule)
        return try await environment.command("UpdateRule", requestID: request.requestID) { connection, principal, now in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("rule:" + id), 0))", logger: environment.logger)
            let current = try await strategy.rules(id: id, on: connection).first
            let version = (current?.version ?? 0) + 1
            try await connection.query(
                """
                INSERT INTO rules (id, version, definition, updated_at, updated_by, reason)
                VALUES (\(id), \(version), \(json)::jsonb, \(now), \(principal.personID), \(reason))
                """, logger: environment.logger)
            let before = try current.map { try stableJSON($0.rule) } ?? ""
            try await environment.audit(
                AuditRecord(entityType: "rule", entityID: id, action: "update", changes: [
                    .init("version", current.map { String($0.version) } ?? "", String(version)), .init("definition", before, json),
                ], reason: reason),
                by: principal, at: now, requestID: request.requestID, on: connection)
            return Fieldwork_V1_Rule(StrategyEngine.StoredRule(rule: rule, version: version, updatedAt: now))
        }
    }

    /// Firings newest first. Managers, directors, ops and admins see all;
    /// anyone else the firings that notified them.
    func listRuleFirings(_ request: Fieldwork_V1_ListRuleFiringsRequest) async throws -> Fieldwork_V1_ListRuleFiringsResponse {
        let page = try Page(request.page)
        let window = try TimeWindow(request.range)
        let rule = try Input.text(request.ruleID, field: "rule_id", max: 64)
        let after = try page.timeKey()
        let firings = try await firings(rule: rule, window: window, after: after, limit: page.limit)
        let finished = page.finish(firings) { Page.timeKey($0.firedAt.date, $0.id) }
        return .with { $0.firings = finished.rows; $0.page = finished.page }
    }

    /// One firing: why it fired (its inputs and explanation) and whom it told.
    func explainFiring(_ request: Fieldwork_V1_ExplainFiringRequest) async throws -> Fieldwork_V1_RuleFiring {
        let raw = try Input.text(request.id, field: "id", max: 64, required: true)
        guard let id = UUID(uuidString: raw) else { throw DomainError.invalidArgument(field: "id", message: "must be a UUID") }
        guard let firing = try await firings(id: id, limit: 1).first else { throw DomainError.notFound(entity: "rule firing", id: raw) }
        return firing
    }

    /// Firings newest first, by id or by rule and time, limited to what the caller may see.
    private func firings(
        id: UUID? = nil, rule: String = "", window: TimeWindow = TimeWindow(from: .distantPast, to: .distantFuture),
        after: (at: Date, id: UUID)? = nil, limit: Int
    ) async throws -> [Fieldwork_V1_RuleFiring] {
        let principal = try Principal.required()
        let reader = principal.hasAny([.admin, .executive, .manager, .director, .ops]) ? "" : principal.personID
        var found: [Fieldwork_V1_RuleFiring] = []
        for try await (id, rule, version, occurrence, firedAt, inputs, explanation, notified) in try await environment.postgres.query(
            """
            SELECT f.id, f.rule_id, f.rule_version, f.occurrence_key, f.fired_at, f.inputs::text, f.explanation, f.notified
            FROM rule_firings f
            WHERE (\(reader) = '' OR \(reader) = ANY (f.notified)) AND (\(id)::uuid IS NULL OR f.id = \(id))
              AND (\(rule) = '' OR f.rule_id = \(rule)) AND f.fired_at >= \(window.from) AND f.fired_at < \(window.to)
              AND (\(after?.at)::timestamptz IS NULL OR (f.fired_at, f.id) < (\(after?.at), \(after?.id)))
            ORDER BY f.fired_at DESC, f.id DESC LIMIT \(limit)
            """, logger: environment.logger
        ).decode((UUID, String, Int32, String, Date, String, String, [String]).self) {
            found.append(.with {
                $0.id = id.uuidString.lowercased()
                $0.ruleID = rule
                $0.ruleVersion = version
                $0.occurrenceKey = occurrence
                $0.firedAt = .init(firedAt)
                $0.inputs = (try? JSONDecoder().decode([String: String].self, from: Data(inputs.utf8))) ?? [:]
                $0.explanation = explanation
                $0.notifiedPersonIds = notified
            })
        }
        return found
    }
}

extension StrategyRule {
    init(_ proto: Fieldwork_V1_Rule, condition: StrategyCondition) {
        self.init(
            id: proto.id, name: proto.name, trigger: proto.trigger, condition: StrategyCondition(rawValue: proto.condition) ?? condition,
            parameters: proto.parameters, notifyPersonIDs: proto.action.notifyPersonIds, notifyRoles: proto.action.notifyRoles,
            template: proto.action.template, contentPackage: proto.action.contentPackage, enabled: proto.enabled)
    }
}

extension Fieldwork_V1_Rule {
    init(_ stored: StrategyEngine.StoredRule) {
        self.init()
        let rule = stored.rule
        id = rule.id
        name = rule.name
        trigger = rule.trigger
        condition = rule.condition.rawValue
        parameters = rule.parameters
        action = .with {
            $0.notifyPersonIds = rule.notifyPersonIDs
            $0.notifyRoles = rule.notifyRoles
            $0.template = rule.template
            $0.contentPackage = rule.contentPackage
        }
        enabled = rule.enabled
        version = Int32(stored.version)
        updatedAt = .init(stored.updatedAt)
    }
}
