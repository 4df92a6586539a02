import Foundation

/// SPEC §8.4: a service refuses to start with a secret that anyone who reads
/// this repository knows — the development and test values committed in it —
/// unless FIELDWORK_ENV=dev says it is a development machine.
public enum PublishedSecrets {
    /// Every secret value committed in this repository (local scripts, the dev
    /// overlay, the Compose example, the tests and benchmarks).
    static let values: Set<String> = [
        // make run, make stories
        "fieldwork-local-development-secret-0123456789", "local-checkin-signing-key-0123456789", "local-gps-watermark-key-0123456789",
        // the k8s dev overlay and the Compose example
        "dev-only-jwt-secret-not-for-production-0123456789", "dev-only-checkin-key-not-for-production-0123456789",
        "dev-only-watermark-key-not-for-production-0123456789", "dev-only-webhook-signing-secret-not-for-production",
        "replace-me-jwt-secret-at-least-32-bytes-long-0000", "replace-me-checkin-signing-key-00000000",
        "replace-me-gps-watermark-key-0000000000", "replace-me-webhook-signing-secret-000000",
        // tests and benchmarks
        "integration-test-secret-0123456789abcdef", "integration-checkin-key-0123456789", "integration-watermark-key-0123456789",
        "integration-webhook-secret-0123456789", "bench-secret-0123456789abcdefghijklmnop", "bench-checkin-key-0123456789",
        "bench-watermark-key-0123456789",
    ]

    /// The settings whose values are keys or secrets (a check-in key list is "kid=secret,…").
    static let settings = ["JWT_SECRET", "WATERMARK_KEY", "CHECKIN_KEYS", "WEBHOOK_SIGNING_SECRET"]

    public static func isDevelopment(_ environment: [String: String]) -> Bool { environment["FIELDWORK_ENV"] == "dev" }

    /// Throws, naming the setting, when a secret is published or the service-token secret is short, outside dev.
    public static func refuse(_ configuration: ServiceConfiguration, environment: [String: String]) throws {
        guard !isDevelopment(environment) else { return }
        for name in settings where configuration.has(name) {
            let value = configuration.string(name)
            let parts = name == "CHECKIN_KEYS" ? value.split(separator: ",").map { String($0.split(separator: "=", maxSplits: 1).last ?? "") } : [value]
            if parts.contains(where: values.contains) {
                throw ConfigurationError(description:
                    "\(configuration.prefix)\(name) is a value published in the Fieldwork repository; set a secret of your own (or FIELDWORK_ENV=dev on a development machine)")
            }
        }
        if configuration.string("JWT_SECRET").utf8.count < 32 {
            throw ConfigurationError(description: "\(configuration.prefix)JWT_SECRET must be at least 32 bytes")
        }
    }
}
