import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import Logging
import PostgresNIO

/// The strategy engine (SPEC §4.5): reads the rules in force and records each
/// firing once per occurrence, with the inputs that made it fire, then tells
/// the notifications service whom to reach. Conditions are evaluated by their
/// callers (event handlers and the scoring run) with the pure rules in
/// `FieldworkDomain/StrategyRules.swift`.
struct StrategyEngine: Sendable {
    let environment: ServiceEnvironment
    var logger: Logger { environment.logger }

    struct StoredRule: Sendable {
        var rule: StrategyRule
        var version: Int
        var updatedAt: Date
    }

    /// The department a role belongs to when several departments hold it
    /// (an `ops` in logistics is not the operations supervisor).
    static let roleDepartments = ["ops": "operations", "director": "management"]

    /// Who a firing is about; the rule's roles are found from it.
    struct Subject: Sendable {
        /// "rep:r1", "customer:c1", "region:杭州" … kept with the firing.
        var key: String
        var repID = ""
        var region = ""
    }

    /// The latest version of one rule, or of every rule after `after` in id order.
    func rules(id: String? = nil, after: String = "", limit: Int = 500, on connection: PostgresConnection) async throws -> [StoredRule] {
        var found: [StoredRule] = []
        for try await (version, definition, updatedAt) in try await connection.query(
            """
            SELECT DISTINCT ON (id) version, definition::text, updated_at FROM rules
            WHERE (\(id)::text IS NULL OR id = \(id)) AND id > \(after)
            ORDER BY id, version DESC LIMIT \(limit)
            """, logger: logger
        ).decode((Int32, String, Date).self) {
            let rule = try JSONDecoder().decode(StrategyRule.self, from: Data(definition.utf8))
            found.append(StoredRule(rule: rule, version: Int(version), updatedAt: updatedAt))
        }
        return found
    }

    /// The rule in force with `id` when it is switched on.
    func enabledRule(_ id: String, on connection: PostgresConnection) async throws -> StoredRule? {
        guard let stored = try await rules(id: id, on: connection).first, stored.rule.enabled else { return nil }
        return stored
    }

    /// Records a firing unless this occurrence fired before. Returns the firing
    /// id when it is new. With `notified`, the caller has told people already
    /// (a red warning); otherwise the rule's recipients get a RuleFired event.
    @discardableResult
    func fire(
        _ stored: StoredRule, occurrence: String, subject: Subject, inputs rawInputs: [String: String], explanation: String,
        notified: [String]? = nil, at firedAt: Date, on connection: PostgresConnection
    ) async throws -> UUID? {
        let rule = stored.rule
        var inputs = rawInputs
        if !rule.contentPackage.isEmpty { inputs["content_package"] = rule.contentPackage }
        let recipients: [String]
        if let notified { recipients = notified } else { recipients = try await self.recipients(of: rule, subject: subject, on: connection) }
        let id = UUID()
        let json = try stableJSON(inputs)
        var inserted = false
        for try await _ in try await connection.query(
            """
            INSERT INTO rule_firings (id, rule_id, rule_version, occurrence_key, subject, fired_at, inputs, explanation, notified)
            VALUES (\(id), \(rule.id), \(stored.version), \(occurrence), \(subject.key), \(firedAt), \(json)::jsonb, \(explanation), \(recipients))
            ON CONFLICT (rule_id, occurrence_key) DO NOTHING RETURNING 1
            """, logger: logger) { inserted = true }
        guard inserted else { return nil }
        if notified == nil {
            if recipients.isEmpty {
                logger.warning("rule fired but reaches nobody in the directory copy", metadata: ["rule": "\(rule.id)", "subject": "\(subject.key)"])
            }
            try await environment.publish(.ruleFired(.with {
                $0.firingID = id.uuidString.lowercased()
                $0.ruleID = rule.id
                $0.ruleName = rule.name
                $0.notifyPersonIds = recipients
                $0.notifyRoles = rule.notifyRoles
                $0.message = TemplateText.render(rule.template, inputs)
                $0.contentPackage = rule.contentPackage
            }), aggregateID: "rule:\(rule.id)", at: firedAt, on: connection)
        }
        return id
    }

    /// A firing whose people were told by other means (a red warning's own event).
    struct Firing: Sendable {
        var occurrence: String
        var subject: String
        var inputs: [String: String]
        var explanation: String
        var notified: [String]
    }

    /// Records many such firings in one statement, each once per occurrence.
    func record(_ stored: StoredRule, firings: [Firing], at firedAt: Date, on connection: PostgresConnection) async throws {
        guard !firings.isEmpty else { return }
        let encoder = stableJSONEncoder()
        let inputs = try firings.map { try stableJSON($0.inputs, encoder: encoder) }
        // A text[] cannot hold ragged arrays: each list travels as one JSON array.
        let notified = try firings.map { try stableJSON($0.notified, encoder: encoder) }
        try await connection.query(
            """
            INSERT INTO rule_firings (id, rule_id, rule_version, occurrence_key, subject, fired_at, inputs, explanation, notified)
            SELECT gen_random_uuid(), \(stored.rule.id), \(stored.version), x.o, x.s, \(firedAt), x.i::jsonb, x.e,
                   ARRAY(SELECT jsonb_array_elements_text(x.n::jsonb))
            FROM unnest(\(firings.map(\.occurrence))::text[], \(firings.map(\.subject))::text[], \(inputs)::text[],
                        \(firings.map(\.explanation))::text[], \(notified)::text[]) AS x (o, s, i, e, n)
            ON CONFLICT (rule_id, occurrence_key) DO NOTHING
            """, logger: logger)
    }

    /// The rule's persons plus its roles found from the subject: `rep` is the
    /// subject's rep, `manager` the rep's supervisor, `director` and `ops` the
    /// active people with that role in the subject's region (or anywhere when
    /// the region has none), of the role's own department when some are.
    func recipients(of rule: StrategyRule, subject: Subject, on connection: PostgresConnection) async throws -> [String] {
        var people = Set(rule.notifyPersonIDs)
        var region = subject.region
        var supervisor = ""
        if !subject.repID.isEmpty {
            for try await (personRegion, supervisorID) in try await connection.query(
                "SELECT region, supervisor_id FROM directory_people WHERE id = \(subject.repID)", logger: logger
            ).decode((String, String).self) {
                if region.isEmpty { region = personRegion }
                supervisor = supervisorID
            }
        }
        for role in rule.notifyRoles {
            switch role {
            case "rep": if !subject.repID.isEmpty { people.insert(subject.repID) }
            case "manager": if !supervisor.isEmpty { people.insert(supervisor) }
            default:
                var holders: [(id: String, region: String, department: String)] = []
                for try await holder in try await connection.query(
                    "SELECT id, region, department FROM directory_people WHERE active AND \(role) = ANY (roles) ORDER BY id", logger: logger
                ).decode((String, String, String).self) { holders.append(holder) }
                let inRegion = holders.filter { $0.region == region }
                let candidates = inRegion.isEmpty ? holders : inRegion
                let ownDepartment = candidates.filter { $0.department == Self.roleDepartments[role] }
                people.formUnion((ownDepartment.isEmpty ? candidates : ownDepartment).map(\.id))
            }
        }
        return people.sorted()
    }
}

/// JSON text with sorted keys, so stored JSON compares and reads the same every time.
func stableJSON(_ value: some Encodable, encoder: JSONEncoder = stableJSONEncoder()) throws -> String {
    String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Sorted keys, unescaped slashes. Make one per batch: making one per value costs more than encoding it.
func stableJSONEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}
