import FieldworkClientSupport
import ArgumentParser
import FieldworkProto
import Foundation
import GRPCCore

/// Contracts, payments and strategy rules (SPEC §4.1, §4.5).
struct RecordContract: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record-contract", abstract: "Record a contract, revise its payment terms, or record a payment against it.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "contract, revise-terms or payment", completion: .list(["contract", "revise-terms", "payment"])) var kind: String
    @Option(help: "contract number (contract, revise-terms) or the payment's source row id") var id: String
    @Option(help: "contract: customer id") var customer = ""
    @Option(help: "contract: region (default: the customer's)") var region = ""
    @Option(help: "contract or payment: amount in CNY") var amount: Double = 0
    @Option(help: "contract, revise-terms: payment terms in days") var terms: Int32 = 0
    @Option(help: "contract: signed, YYYY-MM-DD; revise-terms: effective, YYYY-MM-DD") var date = ""
    @Option(help: "revise-terms: why") var reason = ""
    @Option(help: "payment: the contract it pays") var contract = ""
    @Option(help: "payment: invoice date, YYYY-MM-DD") var invoiced = ""
    @Option(help: "payment: paid date, YYYY-MM-DD") var paid = ""

    func run() async throws {
        try await scoring(options) { client, metadata in
            switch kind {
            case "contract":
                let signed = try protoDate(date)
                let response = try await client.recordContract(.with {
                    $0.contract = .with {
                        $0.id = id; $0.customerID = customer; $0.region = region; $0.amount.fen = Int64((amount * 100).rounded())
                        $0.paymentTermsDays = terms; $0.signed = signed
                    }
                }, metadata: metadata, options: callOptions())
                try options.print(response) { contractLine(response) }
            case "revise-terms":
                let effective = try protoDate(date)
                let response = try await client.reviseContractTerms(.with {
                    $0.contractID = id; $0.paymentTermsDays = terms; $0.effective = effective; $0.reason = reason
                }, metadata: metadata, options: callOptions())
                try options.print(response) { contractLine(response) }
            case "payment":
                let (invoice, paidOn) = (try protoDate(invoiced), try protoDate(paid))
                let response = try await client.recordPayment(.with {
                    $0.payment = .with {
                        $0.sourceRowID = id; $0.contractID = contract; $0.amount.fen = Int64((amount * 100).rounded())
                        $0.invoiceDate = invoice; $0.paidDate = paidOn
                    }
                }, metadata: metadata, options: callOptions())
                try options.print(response) { "payment \(response.sourceRowID) on \(response.contractID): \(Double(response.amount.fen) / 100) CNY" }
            default:
                throw ValidationError("kind must be contract, revise-terms or payment")
            }
        }
    }

    private func contractLine(_ contract: Fieldwork_V1_Contract) -> String {
        let history = contract.revisions.map { "\($0.fromDays)→\($0.toDays) (\($0.reason))" }.joined(separator: ", ")
        return "contract \(contract.id): \(contract.customerID) \(contract.region) \(Double(contract.amount.fen) / 100) CNY, "
            + "terms \(contract.paymentTermsDays) days" + (history.isEmpty ? "" : "; revisions \(history)")
    }
}

struct Rules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Strategy rules in force: trigger, parameters, whom they notify.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await scoring(options) { client, metadata in
            let response = try await client.listRules(.with { $0.page.pageSize = 100 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["rule", "name", "on", "trigger", "parameters", "notifies", "version"], response.rules.map {
                    [$0.id, $0.name, $0.enabled ? "on" : "off", $0.trigger,
                     $0.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                     ($0.action.notifyRoles + $0.action.notifyPersonIds).joined(separator: ", "), "v\($0.version)"]
                })
            }
        }
    }
}

struct UpdateRule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update-rule", abstract: "Change a rule's parameters or switch it on or off (admin; a new version, audited).")
    @OptionGroup var options: ClientOptions
    @Argument var rule: String
    @Option(name: .customLong("set"), help: "a parameter, name=value (repeatable)") var parameters: [String] = []
    @Option(help: "on or off", completion: .list(["on", "off"])) var enabled: String?
    @Option var reason: String

    func run() async throws {
        var changes: [String: String] = [:]
        for pair in parameters {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--set takes name=value, got '\(pair)'") }
            changes[parts[0]] = parts[1]
        }
        guard enabled == nil || ["on", "off"].contains(enabled!) else { throw ValidationError("--enabled is on or off") }
        let (ruleID, switchTo, reason, changed) = (rule, enabled, reason, changes)
        try await scoring(options) { client, metadata in
            let rules = try await client.listRules(.with { $0.page.pageSize = 100 }, metadata: metadata, options: callOptions()).rules
            guard var current = rules.first(where: { $0.id == ruleID }) else { throw ValidationError("no rule '\(ruleID)'") }
            current.parameters.merge(changed) { $1 }
            if let switchTo { current.enabled = switchTo == "on" }
            let edited = current
            let saved = try await client.updateRule(.with { $0.rule = edited; $0.reason = reason }, metadata: metadata, options: callOptions())
            try options.print(saved) { "rule \(saved.id) v\(saved.version) \(saved.enabled ? "on" : "off"): \(saved.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))" }
        }
    }
}

struct Firings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rule firings, newest first, with why each fired (or one with --id).")
    @OptionGroup var options: ClientOptions
    @Option var rule = ""
    @Option(help: "explain one firing") var id: String?

    func run() async throws {
        try await scoring(options) { client, metadata in
            if let id {
                let firing = try await client.explainFiring(.with { $0.id = id }, metadata: metadata, options: callOptions())
                try options.print(firing) {
                    "\(firing.ruleID) v\(firing.ruleVersion) fired \(timestamp(firing.firedAt)) for \(firing.occurrenceKey)\n\(firing.explanation)\n"
                        + table(["input", "value"], firing.inputs.sorted { $0.key < $1.key }.map { [$0.key, $0.value] })
                        + "\nnotified: \(firing.notifiedPersonIds.joined(separator: ", "))"
                }
            } else {
                let response = try await client.listRuleFirings(.with { $0.ruleID = rule; $0.page.pageSize = 200 }, metadata: metadata, options: callOptions())
                try options.print(response) {
                    table(["fired", "rule", "occurrence", "why", "notified", "id"], response.firings.map {
                        [timestamp($0.firedAt), $0.ruleID, $0.occurrenceKey, $0.explanation, $0.notifiedPersonIds.joined(separator: ", "), $0.id]
                    })
                }
            }
        }
    }
}
