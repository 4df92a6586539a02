import FieldworkClientSupport
import ArgumentParser
import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

func scoring(_ options: ClientOptions, _ body: @Sendable (Fieldwork_V1_ScoringService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Void) async throws {
    try await options.with(.scoring) { client, metadata in try await body(Fieldwork_V1_ScoringService.Client(wrapping: client), metadata) }
}

/// "2026-11-20" → a protobuf Date.
func protoDate(_ text: String) throws -> Fieldwork_V1_Date {
    let parts = text.split(separator: "-").compactMap { Int32($0) }
    guard parts.count == 3 else { throw ValidationError("dates are YYYY-MM-DD, got '\(text)'") }
    return .with { $0.year = parts[0]; $0.month = parts[1]; $0.day = parts[2] }
}

func healthTable(_ rows: [Fieldwork_V1_CustomerHealth]) -> String {
    table(["customer", "name", "region", "score", "P", "T", "A", "grade", "red warning", "hint", "model"], rows.map {
        [$0.customerID, $0.customerName, $0.region, String(format: "%.1f", $0.score), String(format: "%.1f", $0.components.purchases),
         String(format: "%.1f", $0.components.trials), String(format: "%.1f", $0.components.academic), $0.grade,
         $0.warnings.joined(separator: " "), $0.cultivationHint ? "worth cultivating" : "", "v\($0.modelVersion)"]
    })
}

struct RecordFact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record-fact", abstract: "Record a purchase, a new-product trial or an academic-event participation.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "purchase, trial or academic", completion: .list(["purchase", "trial", "academic"])) var kind: String
    @Option(help: "the source system's row id (a re-import with the same id changes nothing)") var id: String
    @Option var customer: String
    @Option(help: "YYYY-MM-DD") var date: String
    @Option(help: "purchase: product line") var productLine = ""
    @Option(help: "purchase: amount in CNY") var amount: Double = 0
    @Option(help: "trial: product id") var product = ""
    @Option(help: "academic: event name") var event = ""

    func run() async throws {
        let day = try protoDate(date)
        try await scoring(options) { client, metadata in
            switch kind {
            case "purchase":
                let response = try await client.recordPurchase(.with {
                    $0.purchase = .with {
                        $0.sourceRowID = id
                        $0.customerID = customer
                        $0.productLine = productLine
                        $0.amount.fen = Int64((amount * 100).rounded())
                        $0.date = day
                    }
                }, metadata: metadata, options: callOptions())
                try options.print(response) { "purchase \(response.sourceRowID): \(response.customerID) \(response.productLine) \(Double(response.amount.fen) / 100) CNY" }
            case "trial":
                let response = try await client.recordTrial(.with {
                    $0.trial = .with { $0.sourceRowID = id; $0.customerID = customer; $0.productID = product; $0.date = day }
                }, metadata: metadata, options: callOptions())
                try options.print(response) { "trial \(response.sourceRowID): \(response.customerID) \(response.productID)" }
            case "academic":
                let response = try await client.recordAcademicParticipation(.with {
                    $0.participation = .with { $0.sourceRowID = id; $0.customerID = customer; $0.eventName = event; $0.date = day }
                }, metadata: metadata, options: callOptions())
                try options.print(response) { "academic \(response.sourceRowID): \(response.customerID) \(response.eventName)" }
            default:
                throw ValidationError("kind must be purchase, trial or academic")
            }
        }
    }
}

struct RunScoring: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run-scoring", abstract: "Score every customer now (admin).")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await scoring(options) { client, metadata in
            let run = try await client.runScoring(.init(), metadata: metadata, options: callOptions())
            try options.print(run) {
                "run \(run.id): \(run.customersScored) customer(s), model v\(run.modelVersion), P full at \(Double(run.purchasesP90.fen) / 100) CNY, \(run.hints) hint(s)"
            }
        }
    }
}

struct CustomerHealth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "customer-health", abstract: "Customer health from the latest run, best first (or one customer's history).")
    @OptionGroup var options: ClientOptions
    @Option var region = ""
    @Option(help: "one customer's history across runs") var customer: String?

    func run() async throws {
        try await scoring(options) { client, metadata in
            if let customer {
                let response = try await client.healthHistory(.with { $0.customerID = customer; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
                try options.print(response) { healthTable(response.points) }
            } else {
                let response = try await client.listCustomerHealth(.with { $0.region = region; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
                try options.print(response) { healthTable(response.customers) }
            }
        }
    }
}

struct Model: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The health model's current configuration and its versions.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await scoring(options) { client, metadata in
            let response = try await client.listModelVersions(.with { $0.page.pageSize = 100 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["version", "weights P/T/A", "window", "full marks P/T/A", "grades A/B", "by", "reason"], response.versions.map {
                    ["v\($0.version)", "\($0.weightPurchases)/\($0.weightTrials)/\($0.weightAcademic)", "\($0.windowMonths) months",
                     "p\(Int($0.purchasesFullPercentile))/\($0.trialsFullMarks)/\($0.academicFullMarks)", "\($0.gradeAMin)/\($0.gradeBMin)",
                     $0.createdBy, $0.reason]
                })
            }
        }
    }
}

struct Warnings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Red warnings: customers without activity in a component for N completed weeks.")
    @OptionGroup var options: ClientOptions
    @Option var customer = ""

    func run() async throws {
        try await options.with(.scoring) { client, metadata in
            let response = try await Fieldwork_V1_ScoringService.Client(wrapping: client).listWarnings(
                .with { $0.customerID = customer; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["raised", "customer", "component", "since", "weeks", "notified"], response.warnings.map {
                    [timestamp($0.raisedAt), $0.customerID, $0.component,
                     String(format: "%04d-%02d-%02d", $0.streakStart.year, $0.streakStart.month, $0.streakStart.day),
                     String($0.weeks), $0.notifiedPersonIds.joined(separator: ", ")]
                })
            }
        }
    }
}

struct RecommendationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommendations", abstract: "A run's recommendations (default the latest): customers worth winning per product line.")
    @OptionGroup var options: ClientOptions
    @Option(help: "a run id") var run = ""
    @Option var region = ""

    func run() async throws {
        let (runID, region) = (run, region)
        try await scoring(options) { client, metadata in
            let response = try await client.listRecommendations(
                .with { $0.runID = runID; $0.region = region; $0.page.pageSize = 500 }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["customer", "product line", "score", "why"], response.recommendations.map {
                    [$0.customerID, $0.productLine, String(format: "%.1f", $0.score), $0.reason]
                })
            }
        }
    }
}

struct Effectiveness: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recommended against other customers: conversions in the months after a cohort date (SPEC §4.4).")
    @OptionGroup var options: ClientOptions
    @Option(help: "cohort date, YYYY-MM-DD") var cohort: String
    @Option var months: Int32 = 6

    func run() async throws {
        let (day, months) = (try protoDate(cohort), months)
        try await scoring(options) { client, metadata in
            let report = try await client.effectivenessReport(.with { $0.cohort = day; $0.months = months }, metadata: metadata, options: callOptions())
            try options.print(report) {
                "cohort run \(report.cohortRunID) as of \(timestamp(report.cohortAsOf)), conversions up to \(timestamp(report.windowEnd)) "
                    + "(customer × product line pairs)\n"
                    + table(["customers", "pairs", "converted", "rate"], [
                        ["recommended", String(report.recommended), String(report.recommendedConverted), String(format: "%.1f %%", report.recommendedRate)],
                        ["others", String(report.others), String(report.othersConverted), String(format: "%.1f %%", report.othersRate)],
                    ])
                    + "\ndifference: \(String(format: "%+.1f", report.differencePp)) pp (target ≥ 15)"
            }
        }
    }
}

struct Indicators: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The three hard indicators with attainment (default: this month so far).")
    @OptionGroup var options: ClientOptions
    @Option(help: "period start, RFC 3339 (default: the 1st of this month)") var from: String?
    @Option(help: "period end, RFC 3339 (default: now)") var to: String?

    func run() async throws {
        let period = try timeRange(from: from, to: to)
        try await scoring(options) { client, metadata in
            let response = try await client.hardIndicators(.with { $0.range = period }, metadata: metadata, options: callOptions())
            try options.print(response) {
                table(["indicator", "actual", "target", "attained"], response.indicators.map {
                    [$0.name, "\(String(format: "%.1f", $0.actual)) \($0.unit)", String(format: "%.1f", $0.target), $0.attained ? "yes" : "no"]
                }) + "\nno-plan days (not in process control): \(response.noPlanDays)"
            }
        }
    }
}

struct GetCustomerHealth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-customer-health", abstract: "One customer's health from the latest run.")
    @OptionGroup var options: ClientOptions
    @Argument var customer: String

    func run() async throws {
        try await scoring(options) { client, metadata in
            let health = try await client.getCustomerHealth(.with { $0.customerID = customer }, metadata: metadata, options: callOptions())
            try options.print(health) { healthTable([health]) + "\n\nrun \(health.runID) as of \(timestamp(health.asOf))" }
        }
    }
}

func modelConfigTable(_ c: Fieldwork_V1_ModelConfig) -> String {
    "model v\(c.version), \(timestamp(c.createdAt, present: c.hasCreatedAt)) by \(c.createdBy)\(c.reason.isEmpty ? "" : ": \(c.reason)")\n"
        + table(["parameter", "value"], [
            ["weight_purchases", "\(c.weightPurchases)"], ["weight_trials", "\(c.weightTrials)"], ["weight_academic", "\(c.weightAcademic)"],
            ["window_months", "\(c.windowMonths)"], ["purchases_full_percentile", "\(c.purchasesFullPercentile)"],
            ["trials_full_marks", "\(c.trialsFullMarks)"], ["academic_full_marks", "\(c.academicFullMarks)"],
            ["grade_a_min", "\(c.gradeAMin)"], ["grade_b_min", "\(c.gradeBMin)"], ["zero_streak_weeks", "\(c.zeroStreakWeeks)"],
            ["cultivation_max_score", "\(c.cultivationMaxScore)"], ["recommendation_top_share", "\(c.recommendationTopShare)"],
        ])
}

struct ModelConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model-config", abstract: "The health model's parameters (current, or one version).")
    @OptionGroup var options: ClientOptions
    @Option(help: "a version (default: the current one)") var version: Int32 = 0

    func run() async throws {
        try await scoring(options) { client, metadata in
            let config = try await client.getModelConfig(.with { $0.version = version }, metadata: metadata, options: callOptions())
            try options.print(config) { modelConfigTable(config) }
        }
    }
}

struct UpdateModelConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update-model-config", abstract: "Change the health model's parameters (admin; a new version, audited; the next run uses it).")
    @OptionGroup var options: ClientOptions
    @Option var weightPurchases: Double?
    @Option var weightTrials: Double?
    @Option var weightAcademic: Double?
    @Option var windowMonths: Int32?
    @Option var purchasesFullPercentile: Double?
    @Option var trialsFullMarks: Int32?
    @Option var academicFullMarks: Int32?
    @Option var gradeAMin: Double?
    @Option var gradeBMin: Double?
    @Option var zeroStreakWeeks: Int32?
    @Option var cultivationMaxScore: Double?
    @Option var recommendationTopShare: Double?
    @Option var reason: String
    @Option(help: "idempotency key") var requestID = ""

    func run() async throws {
        try await scoring(options) { client, metadata in
            var config = try await client.getModelConfig(.init(), metadata: metadata, options: callOptions())
            if let weightPurchases { config.weightPurchases = weightPurchases }
            if let weightTrials { config.weightTrials = weightTrials }
            if let weightAcademic { config.weightAcademic = weightAcademic }
            if let windowMonths { config.windowMonths = windowMonths }
            if let purchasesFullPercentile { config.purchasesFullPercentile = purchasesFullPercentile }
            if let trialsFullMarks { config.trialsFullMarks = trialsFullMarks }
            if let academicFullMarks { config.academicFullMarks = academicFullMarks }
            if let gradeAMin { config.gradeAMin = gradeAMin }
            if let gradeBMin { config.gradeBMin = gradeBMin }
            if let zeroStreakWeeks { config.zeroStreakWeeks = zeroStreakWeeks }
            if let cultivationMaxScore { config.cultivationMaxScore = cultivationMaxScore }
            if let recommendationTopShare { config.recommendationTopShare = recommendationTopShare }
            let edited = config
            let saved = try await client.updateModelConfig(
                .with { $0.config = edited; $0.reason = reason; $0.requestID = requestID }, metadata: metadata, options: callOptions())
            try options.print(saved) { modelConfigTable(saved) }
        }
    }
}
