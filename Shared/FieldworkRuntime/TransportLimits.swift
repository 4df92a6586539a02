import GRPCCore
import GRPCNIOTransportHTTP2

/// What one connection and one call may take from a server (SPEC §11.1),
/// advertised to clients where HTTP/2 can say it.
///
/// The HTTP/2 library enforces 100 concurrent streams per connection even when
/// the server's SETTINGS say nothing, and a client that opens the 101st loses
/// the whole connection. Setting the limit explicitly makes what is enforced
/// what is advertised, so a compliant client queues the extra stream instead.
public struct TransportLimits: Sendable, Equatable {
    public var maxConcurrentStreams: Int
    /// The largest request message answered with RESOURCE_EXHAUSTED naming the limit.
    public var maxMessageBytes: Int
    public var connectionIdle: Duration
    public var connectionMaxAge: Duration
    public var connectionGrace: Duration
    public var keepaliveTime: Duration
    public var keepaliveTimeout: Duration
    public var unaryDeadline: Duration

    /// The transport reads a message up to this size, so that a message above
    /// `maxMessageBytes` still gets a clean status; beyond it the transport
    /// resets the stream (CANCELLED) without reading the body.
    public var readableMessageBytes: Int { maxMessageBytes * 4 }

    public static let settings: [Setting] = [
        Setting("MAX_CONCURRENT_STREAMS", default: "100",
                help: "concurrent RPCs per client connection, advertised in HTTP/2 SETTINGS; a client queues the next one"),
        Setting("MAX_MESSAGE_BYTES", default: "4194304",
                help: "largest request message; a larger one is refused with RESOURCE_EXHAUSTED (up to 4x this size; beyond, the stream is reset)"),
        Setting("CONNECTION_IDLE_SECONDS", default: "300", help: "a connection without RPCs for this long is closed gracefully"),
        Setting("CONNECTION_MAX_AGE_SECONDS", default: "1800",
                help: "a connection is asked to go away after this long, so clients rebalance across replicas"),
        Setting("CONNECTION_GRACE_SECONDS", default: "60",
                help: "how long RPCs may finish on a connection asked to go away (at least UNARY_DEADLINE_SECONDS)"),
        Setting("KEEPALIVE_SECONDS", default: "60", help: "the server pings a connection quiet for this long"),
        Setting("KEEPALIVE_TIMEOUT_SECONDS", default: "20", help: "a connection that does not answer the ping in time is closed"),
        Setting("UNARY_DEADLINE_SECONDS", default: "60",
                help: "longest a unary RPC runs on the server (DEADLINE_EXCEEDED); RunJob, RunScoring and ImportCsv are exempt"),
    ]

    public init(
        maxConcurrentStreams: Int = 100, maxMessageBytes: Int = 4 << 20, connectionIdle: Duration = .seconds(300),
        connectionMaxAge: Duration = .seconds(1800), connectionGrace: Duration = .seconds(60), keepaliveTime: Duration = .seconds(60),
        keepaliveTimeout: Duration = .seconds(20), unaryDeadline: Duration = .seconds(60)
    ) {
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxMessageBytes = maxMessageBytes
        self.connectionIdle = connectionIdle
        self.connectionMaxAge = connectionMaxAge
        self.connectionGrace = connectionGrace
        self.keepaliveTime = keepaliveTime
        self.keepaliveTimeout = keepaliveTimeout
        self.unaryDeadline = unaryDeadline
    }

    public init(_ configuration: ServiceConfiguration) throws {
        func seconds(_ name: String) throws -> Duration {
            let value = try configuration.positiveInt(name)
            guard value <= 31_536_000 else { throw ConfigurationError(description: "\(configuration.prefix)\(name) must be at most a year") }
            return .seconds(value)
        }
        self.init(
            maxConcurrentStreams: try configuration.positiveInt("MAX_CONCURRENT_STREAMS"),
            maxMessageBytes: try configuration.positiveInt("MAX_MESSAGE_BYTES"),
            connectionIdle: try seconds("CONNECTION_IDLE_SECONDS"),
            connectionMaxAge: try seconds("CONNECTION_MAX_AGE_SECONDS"),
            connectionGrace: try seconds("CONNECTION_GRACE_SECONDS"),
            keepaliveTime: try seconds("KEEPALIVE_SECONDS"),
            keepaliveTimeout: try seconds("KEEPALIVE_TIMEOUT_SECONDS"),
            unaryDeadline: try seconds("UNARY_DEADLINE_SECONDS"))
        guard maxMessageBytes <= 256 << 20 else {
            throw ConfigurationError(description: "\(configuration.prefix)MAX_MESSAGE_BYTES must be at most 268435456 (256 MiB)")
        }
        // A call the server still allows must not be cut off by a connection's age.
        guard connectionGrace >= unaryDeadline else {
            throw ConfigurationError(
                description: "\(configuration.prefix)CONNECTION_GRACE_SECONDS must be at least UNARY_DEADLINE_SECONDS (\(unaryDeadline))")
        }
    }

    /// The server transport's configuration for these limits.
    public var serverConfig: HTTP2ServerTransport.Posix.Config {
        .defaults { config in
            config.http2.maxConcurrentStreams = maxConcurrentStreams
            config.rpc.maxRequestPayloadSize = readableMessageBytes
            config.connection.maxIdleTime = connectionIdle
            config.connection.maxAge = connectionMaxAge
            config.connection.maxGraceTime = connectionGrace
            // Clients may ping as often as every 10 s, with or without calls (a phone behind NAT keeps its stream alive so).
            config.connection.keepalive = .init(
                time: keepaliveTime, timeout: keepaliveTimeout,
                clientBehavior: .init(minPingIntervalWithoutCalls: .seconds(10), allowWithoutCalls: true))
        }
    }
}
