import GRPCCore
import ServiceLifecycle

/// Runs a long-lived server stream (e.g. an inbox subscription) until the
/// client goes away or the service begins to drain: then the body is cancelled,
/// the stream ends normally, and the client reconnects — to another replica —
/// with its cursor. Without this, open streams would hold a drain to its limit.
///
/// gRPC reports a client that went away (reset stream, closed connection,
/// deadline) only through its RPC-cancellation handler; it does not cancel the
/// handler's task. A stream that waits for news would otherwise live on, and
/// keep reading the database, until it next writes.
public func untilShutdown(_ body: @escaping @Sendable () async throws -> Void) async throws {
    try await cancelWhenGracefulShutdown {
        let stream = Task { try await body() }
        do {
            try await withTaskCancellationHandler {
                try await withRPCCancellationHandler {
                    try await stream.value
                } onCancelRPC: {
                    stream.cancel()
                }
            } onCancel: {
                stream.cancel()
            }
        } catch is CancellationError {
            return
        }
    }
}
