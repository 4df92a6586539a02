import FieldworkRuntime
import GRPCNIOTransportHTTP2
import Testing

/// The transport limits a service reads from its settings, and what reaches the NIO transport.
struct TransportLimitsConfigurationTests {
    func configuration(_ environment: [String: String]) throws -> ServiceConfiguration {
        try ServiceConfiguration(
            service: "visits", settings: TransportLimits.settings,
            arguments: [], environment: environment)
    }

    @Test func theDefaultsAreAdvertisedAndBounded() throws {
        let limits = try TransportLimits(try configuration([:]))
        #expect(limits == TransportLimits())
        let config = limits.serverConfig
        #expect(config.http2.maxConcurrentStreams == 100)
        #expect(config.rpc.maxRequestPayloadSize == 16 << 20)   // read to 4x, so 4 MiB + 1 gets a status
        #expect(config.connection.maxIdleTime == .seconds(300) && config.connection.maxAge == .seconds(1800))
        #expect(config.connection.maxGraceTime == .seconds(60))
        #expect(config.connection.keepalive.time == .seconds(60) && config.connection.keepalive.timeout == .seconds(20))
        #expect(config.connection.keepalive.clientBehavior.allowWithoutCalls)
    }

    @Test func settingsChangeThemAndNonsenseIsRefusedByName() throws {
        let limits = try TransportLimits(try configuration([
            "FIELDWORK_VISITS_MAX_CONCURRENT_STREAMS": "8", "FIELDWORK_VISITS_MAX_MESSAGE_BYTES": "1048576",
            "FIELDWORK_VISITS_UNARY_DEADLINE_SECONDS": "5",
        ]))
        #expect(limits.maxConcurrentStreams == 8 && limits.readableMessageBytes == 4 << 20 && limits.unaryDeadline == .seconds(5))
        for (name, value) in [("MAX_CONCURRENT_STREAMS", "0"), ("MAX_MESSAGE_BYTES", "-1"), ("MAX_MESSAGE_BYTES", "268435457"),
                              ("KEEPALIVE_SECONDS", "soon"), ("UNARY_DEADLINE_SECONDS", "0"), ("CONNECTION_MAX_AGE_SECONDS", "31536001"),
                              ("CONNECTION_GRACE_SECONDS", "59")] {
            let error = #expect(throws: ConfigurationError.self) {
                _ = try TransportLimits(try configuration(["FIELDWORK_VISITS_\(name)": value]))
            }
            #expect(error?.description.contains("FIELDWORK_VISITS_\(name)") == true, "\(String(describing: error))")
        }
    }
}
