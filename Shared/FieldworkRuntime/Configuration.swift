import Foundation
import GRPCNIOTransportHTTP2

/// One configurable value of a service: read from `--kebab-name value` on the
/// command line, else from `FIELDWORK_<SERVICE>_<SNAKE_NAME>` in the environment,
/// else the default. `fieldwork-<service> --help` lists them all.
public struct Setting: Sendable {
    public var name: String          // SNAKE_CASE, e.g. "DATABASE_URL"
    public var defaultValue: String?  // nil → required
    public var help: String
    public var secret: Bool

    public init(_ name: String, default defaultValue: String?, help: String, secret: Bool = false) {
        self.name = name
        self.defaultValue = defaultValue
        self.help = help
        self.secret = secret
    }

    public var flag: String { "--" + name.lowercased().replacingOccurrences(of: "_", with: "-") }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) { self.description = description }
}

/// The resolved settings of one service process.
public struct ServiceConfiguration: Sendable {
    /// Settings every service has; a blueprint adds its own.
    public static func commonSettings(defaultPort: Int, defaultMetricsPort: Int, database: String) -> [Setting] {
        [
            Setting("HOST", default: "127.0.0.1", help: "address the gRPC server binds"),
            Setting("PORT", default: String(defaultPort), help: "gRPC port (0: any free port, printed at start)"),
            Setting("METRICS_PORT", default: String(defaultMetricsPort), help: "Prometheus /metrics HTTP port (0: any, -1: off)"),
            Setting("HEALTH_PORT", default: "-1",
                    help: "plaintext port serving only grpc.health.v1, for probes that cannot speak TLS (kubelet's gRPC probes); -1: off"),
            Setting("DATABASE_URL", default: "postgres://\(database)@127.0.0.1:5432/\(database)",
                    help: "PostgreSQL URL: postgres://user[:password]@host:port/database", secret: true),
            Setting("DATABASE_POOL_SIZE", default: "10", help: "maximum PostgreSQL connections"),
            Setting("DATABASE_STATEMENT_TIMEOUT_MS", default: "30000",
                    help: "PostgreSQL ends a statement running longer (the call gets DEADLINE_EXCEEDED); migrations are exempt"),
            Setting("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", default: "60000",
                    help: "PostgreSQL closes a connection whose transaction sat idle this long"),
            Setting("JWKS_FILE", default: "",
                    help: "the user-token issuer's public keys (JSON Web Key Set, ES256 keys with kid; two during a rotation); or JWKS_URL"),
            Setting("JWKS_URL", default: "",
                    help: "https URL of the user-token issuer's JWKS (http only to a loopback address); or JWKS_FILE"),
            Setting("JWKS_REFRESH_SECONDS", default: "300",
                    help: "how often the JWKS is read again (and at once, at most every 30 s, for a token with an unknown kid)"),
            Setting("JWT_SECRET", default: nil,
                    help: "HS256 secret of service-to-service tokens (Deliver), shared by the services only; at least 32 bytes", secret: true),
            Setting("JWT_ISSUER", default: "fieldwork", help: "expected JWT issuer (iss)"),
            Setting("JWT_AUDIENCE", default: "fieldwork", help: "expected audience (aud) of user tokens"),
            Setting("TIME_ZONE", default: "Asia/Shanghai", help: "business time zone for days, schedules and 'today'"),
            Setting("SUBSCRIBERS", default: "",
                    help: "event consumers: name=host:port,… (names: visits, workflows, scoring, notifications)"),
            Setting("RELAY_INTERVAL_MS", default: "250", help: "outbox relay poll interval"),
            Setting("RELAY_BACKOFF_BASE_MS", default: "200", help: "first retry delay of a failed delivery"),
            Setting("RELAY_BACKOFF_CAP_MS", default: "30000", help: "longest retry delay of a failed delivery"),
            Setting("RELAY_MAX_REJECTIONS", default: "8",
                    help: "deliveries a consumer may refuse before the row is parked (an unreachable consumer is retried forever)"),
            Setting("OUTBOX_RETENTION_DAYS", default: "7",
                    help: "delivered outbox rows are deleted this many days after delivery (daily job outbox-purge, 03:30)"),
            Setting("INBOX_RETENTION_DAYS", default: "90",
                    help: "consumed event ids are remembered this long (daily job retention-purge, 03:40); an older redelivery would apply again"),
            Setting("IDEMPOTENCY_RETENTION_DAYS", default: "30",
                    help: "a command's stored answer for its request_id is kept this long; a retry after that runs the command again"),
            Setting("DRAIN_SECONDS", default: "20", help: "how long SIGTERM waits for in-flight RPCs"),
            Setting("JOBS", default: "on", help: "run scheduled jobs in this process (on/off); RunJob works either way"),
            Setting("SIMULATED_CLOCK", default: "off",
                    help: "development only: business time stands still until SimulationClock/SetTime sets it (the showcase)"),
            Setting("LOG_LEVEL", default: "info", help: "trace, debug, info, notice, warning, error"),
        ] + TransportSecurity.settings + TransportLimits.settings
    }

    public let service: String
    public let prefix: String
    private let values: [String: String]

    /// Resolves `settings` from `arguments` (without the program name) and `environment`.
    public init(service: String, settings: [Setting], arguments: [String], environment: [String: String]) throws {
        self.service = service
        self.prefix = "FIELDWORK_\(service.uppercased())_"
        let byFlag = Dictionary(uniqueKeysWithValues: settings.map { ($0.flag, $0) })
        var fromFlags: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let (flag, inline) = argument.split(separator: "=", maxSplits: 1).map(String.init).splitPair
            guard let setting = byFlag[flag] else { throw ConfigurationError(description: "unknown option \(argument); see --help") }
            if let inline {
                fromFlags[setting.name] = inline
            } else {
                guard index + 1 < arguments.count else { throw ConfigurationError(description: "\(flag) needs a value") }
                index += 1
                fromFlags[setting.name] = arguments[index]
            }
            index += 1
        }
        var values: [String: String] = [:]
        for setting in settings {
            if let value = fromFlags[setting.name] ?? environment[prefix + setting.name] ?? setting.defaultValue {
                values[setting.name] = value
            } else {
                throw ConfigurationError(description: "\(setting.flag) or \(prefix + setting.name) is required: \(setting.help)")
            }
        }
        self.values = values
    }

    public static func usage(service: String, settings: [Setting]) -> String {
        let prefix = "FIELDWORK_\(service.uppercased())_"
        var lines = ["usage: fieldwork-\(service) [--option value]…", "", "Every option can also be set as an environment variable:"]
        for setting in settings {
            let shown = setting.secret ? (setting.defaultValue == nil ? "required" : "default hidden") : "default: \(setting.defaultValue ?? "required")"
            lines.append("  \(setting.flag.padding(toLength: 26, withPad: " ", startingAt: 0)) \(prefix + setting.name)")
            lines.append("      \(setting.help) (\(shown))")
        }
        return lines.joined(separator: "\n")
    }

    public func string(_ name: String) -> String { values[name] ?? "" }

    /// Whether this service has the setting `name` at all (some are one service's own).
    public func has(_ name: String) -> Bool { values[name] != nil }

    public func int(_ name: String) throws -> Int {
        guard let value = Int(string(name)) else {
            throw ConfigurationError(description: "\(prefix + name) must be a whole number, got '\(string(name))'")
        }
        return value
    }

    public func positiveInt(_ name: String) throws -> Int {
        let value = try int(name)
        guard value > 0 else { throw ConfigurationError(description: "\(prefix + name) must be positive, got \(value)") }
        return value
    }

    /// A retention in days, 1 to 3650.
    public func days(_ name: String) throws -> Int {
        let value = try int(name)
        guard (1...3650).contains(value) else { throw ConfigurationError(description: "\(prefix + name) must be between 1 and 3650, got \(value)") }
        return value
    }

    /// A positive number of milliseconds PostgreSQL accepts as a setting (at most 2^31 − 1, about 24 days).
    public func milliseconds32(_ name: String) throws -> Int {
        let value = try positiveInt(name)
        guard value <= Int(Int32.max) else { throw ConfigurationError(description: "\(prefix + name) must be at most \(Int32.max)") }
        return value
    }

    public func bool(_ name: String) -> Bool { ["1", "on", "true", "yes"].contains(string(name).lowercased()) }

    public func milliseconds(_ name: String) throws -> Duration { .milliseconds(try int(name)) }

    /// `SUBSCRIBERS`: "workflows=127.0.0.1:7102,notifications=127.0.0.1:7104".
    public func subscribers() throws -> [Subscriber] {
        try string("SUBSCRIBERS").split(separator: ",").map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let endpoint = Endpoint(parts[1]), !parts[0].isEmpty else {
                throw ConfigurationError(description: "\(prefix)SUBSCRIBERS: '\(entry)' is not name=host:port")
            }
            return Subscriber(name: parts[0], endpoint: endpoint)
        }
    }
}

/// A host and port.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// Where a gRPC client connects: an IP literal as an address (TLS does not send
    /// an IP as the server name; the certificate's IP entries are checked instead),
    /// anything else as a DNS name.
    public var grpcTarget: any ResolvableTarget {
        if host.contains(":") { return .ipv6(address: host, port: port) }
        if host.split(separator: ".").count == 4, host.split(separator: ".").allSatisfy({ UInt8($0) != nil }) {
            return .ipv4(address: host, port: port)
        }
        return .dns(host: host, port: port)
    }

    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { "\(host):\(port)" }
}

/// A service that receives this service's events on its `Deliver` RPC.
public struct Subscriber: Sendable, Hashable {
    public var name: String
    public var endpoint: Endpoint

    /// The gRPC service name of the subscriber, e.g. "fieldwork.v1.WorkflowsService".
    public var grpcService: String { "fieldwork.v1.\(name.prefix(1).uppercased())\(name.dropFirst())Service" }
}

extension Array where Element == String {
    fileprivate var splitPair: (String, String?) { (self.first ?? "", self.count > 1 ? self[1] : nil) }
}
