import Foundation
import Testing

/// `make run`'s simulation (Clients/fieldwork-demo) against the four real
/// executables on simulated clocks: it plays through the public RPCs only, and
/// the same seed gives the same manager's view on fresh databases.
@Suite(.serialized) struct ShowcaseSimulationTests {
    @Test func theSameSeedPrintsTheSameManagersView() async throws {
        let first = try await simulate(seed: 11)
        let second = try await simulate(seed: 11)
        #expect(first == second, "two runs with seed 11 differ:\n\(first)\n----\n\(second)")

        // The view is about the week that was played, not an empty shell.
        #expect(first.contains("Fieldwork — the manager's view, 2026-04-27 … 2026-05-03"))
        let health = first.split(separator: "\n").filter { $0.hasPrefix("H-") && $0.contains("  ") }
        #expect(health.count >= 62, "every hospital has a health row:\n\(first)")
        #expect(first.contains("grades: A"))
        let plan = try #require(first.range(of: "== Plan completion"))
        #expect(first[plan.upperBound...].contains("杭州"))
        let rules = try #require(first.range(of: "stalled_customer"), "\(first)")
        #expect(!first[rules.lowerBound...].hasPrefix("stalled_customer     客户停滞        0"))
    }

    /// One week with `seed` on fresh databases; returns the manager's view it wrote.
    private func simulate(seed: Int) async throws -> String {
        var view = ""
        try await Cluster.with { cluster in
            for service in Cluster.Service.allCases { try cluster.start(service, extra: ["SIMULATED_CLOCK": "on", "JOBS": "off", "LOG_LEVEL": "info"]) }
            for service in Cluster.Service.allCases { try await cluster.waitUntilServing(service) }
            let report = cluster.logDirectory.appendingPathComponent("manager-view-\(seed).txt")
            let process = Process()
            process.executableURL = Cluster.binDirectory.appendingPathComponent("fieldwork-demo")
            process.arguments = [
                "simulate", "--seed", String(seed), "--weeks", "1", "--report", report.path,
                "--signing-key", cluster.signingKeyFile.path, "--key-id", cluster.signer.keyID,
                "--addresses", Cluster.Service.allCases.map { "127.0.0.1:\(cluster.ports[$0]!)" }.joined(separator: ","),
            ]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            try #require(process.terminationStatus == 0, "fieldwork-demo failed:\n\(printed)")
            #expect(printed.contains("simulated in"), "\(printed)")
            view = try String(contentsOf: report, encoding: .utf8)
        }
        return view
    }
}
