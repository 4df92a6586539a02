import ServiceLifecycle

/// Runs a long-lived server stream (e.g. an inbox subscription) until the
/// client goes away or the service begins to drain: then the body is cancelled,
/// the stream ends normally, and the client reconnects — to another replica —
/// with its cursor. Without this, open streams would hold a drain to its limit.
public func untilShutdown(_ body: @escaping @Sendable () async throws -> Void) async throws {
    try await cancelWhenGracefulShutdown {
        do {
            try await body()
        } catch is CancellationError {
            return
        }
    }
}
