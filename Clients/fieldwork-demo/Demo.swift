import ArgumentParser
import FieldworkDomain
import FieldworkRuntime
import Foundation

/// `fieldwork-demo`: the reference customer's months, played against running
/// services (started with SIMULATED_CLOCK=on), then the manager's view.
@main
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldwork-demo",
        abstract: "Simulate the reference customer's months through the public RPCs and print the manager's view.",
        subcommands: [Simulate.self, Report.self], defaultSubcommand: Simulate.self)
}

struct DemoOptions: ParsableArguments {
    @Option(help: "visits, workflows, scoring, notifications addresses") var addresses = "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103,127.0.0.1:7104"
    @Option(help: "PEM file of the ES256 user-token signing key (env FIELDWORK_SIGNING_KEY)") var signingKey: String?
    @Option(help: "its key id in the services' JWKS (env FIELDWORK_SIGNING_KEY_ID)") var keyID: String?
    @Option(help: "first simulated day, a Monday") var start = "2026-04-27"
    @Option(help: "how many weeks to simulate") var weeks = 26

    var startDate: LocalDate {
        get throws {
            guard let date = LocalDate(iso: start), date.isValid, date.isoWeekday == 1 else { throw ValidationError("--start must be a Monday, YYYY-MM-DD") }
            return date
        }
    }

    func connect<Result: Sendable>(_ body: @Sendable (Fieldwork, Organisation) async throws -> Result) async throws -> Result {
        let environment = ProcessInfo.processInfo.environment
        guard let path = signingKey ?? environment["FIELDWORK_SIGNING_KEY"], let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("--signing-key or FIELDWORK_SIGNING_KEY must name a readable PEM file")
        }
        let signer = try await UserTokenSigner(privateKeyPEM: pem, keyID: keyID ?? environment["FIELDWORK_SIGNING_KEY_ID"] ?? "dev")
        let organisation = Organisation()
        let tokens = try await TokenCache(signer: signer, organisation: organisation)
        let list = addresses.split(separator: ",").map(String.init)
        guard list.count == 4 else { throw ValidationError("--addresses needs four host:port, comma-separated") }
        return try await Fieldwork.connect(addresses: list, tokens: tokens) { try await body($0, organisation) }
    }
}

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Play the months, then print the manager's view.")
    @OptionGroup var options: DemoOptions
    @Option(help: "what happens is a function of this number") var seed: UInt64 = 7
    @Option(help: "also write the manager's view to this file") var report: String?

    func run() async throws {
        let settings = Simulation.Settings(seed: seed, start: try options.startDate, weeks: options.weeks)
        let reportPath = report
        try await options.connect { fieldwork, organisation in
            let started = ContinuousClock.now
            print("simulating \(settings.start) … \(settings.end) (seed \(settings.seed)): \(organisation.people.count) people, \(organisation.hospitals.count) hospitals")
            var simulation = Simulation(settings: settings, organisation: organisation, fieldwork: fieldwork) { print($0) }
            try await simulation.run()
            let t = simulation.tally
            let elapsed = ContinuousClock.now - started
            print("""
                simulated in \(elapsed.components.seconds) s with \(t.rpcs)+ RPCs: \(t.visits) visits (\(t.void) without GPS, \(t.outOfRange) out of range, \(t.skipped) planned but missed), \
                \(t.supportRequests) surgery-support requests, \(t.cardsAnswered) cards answered; \(t.purchases) purchases, \(t.trials) trials, \
                \(t.academic) academic participations, \(t.contracts) contracts, \(t.payments) payments
                """)
            let view = try await ManagerView(fieldwork: fieldwork, organisation: organisation, start: settings.start, end: settings.end).render()
            print(view)
            if let reportPath { try Data((view + "\n").utf8).write(to: URL(fileURLWithPath: reportPath)) }
        }
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the manager's view of an earlier simulation.")
    @OptionGroup var options: DemoOptions

    func run() async throws {
        let start = try options.startDate
        let weeks = options.weeks
        try await options.connect { fieldwork, organisation in
            print(try await ManagerView(fieldwork: fieldwork, organisation: organisation, start: start, end: start.adding(days: weeks * 7 - 1)).render())
        }
    }
}
