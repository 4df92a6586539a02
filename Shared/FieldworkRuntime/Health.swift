import FieldworkProto
import GRPCCore
import Synchronization

/// Whether this process should receive traffic: not before migrations ran and
/// the database answers, not while draining. Watchers see every change.
public final class HealthState: Sendable {
    private struct State {
        var serving = false
        var draining = false
        var migrated = false
        var watchers: [Int: AsyncStream<Bool>.Continuation] = [:]
        var nextWatcher = 0
    }

    private let state = Mutex(State())

    public init() {}

    public var isServing: Bool { state.withLock { $0.serving && !$0.draining } }

    /// True once migrations ran; from then on the schema can be used (also while draining).
    public var isMigrated: Bool { state.withLock { $0.migrated } }

    /// Reports the database check; ignored once draining started.
    public func setServing(_ serving: Bool) {
        state.withLock { state in
            if serving { state.migrated = true }
            guard !state.draining, state.serving != serving else { return }
            state.serving = serving
            for watcher in state.watchers.values { watcher.yield(serving) }
        }
    }

    /// Stops serving for good: watchers get NOT_SERVING and their streams end,
    /// so open Watch calls do not hold up the graceful shutdown.
    public func beginDraining() {
        state.withLock { state in
            state.draining = true
            for watcher in state.watchers.values {
                watcher.yield(false)
                watcher.finish()
            }
            state.watchers = [:]
        }
    }

    /// The current status first, then every change; `stop` ends the stream.
    func updates() -> (stream: AsyncStream<Bool>, stop: @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream<Bool>.makeStream(bufferingPolicy: .bufferingNewest(8))
        state.withLock { state in
            continuation.yield(state.serving && !state.draining)
            if state.draining {
                continuation.finish()
                return
            }
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = continuation
            continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) } }
        }
        return (stream, { continuation.finish() })
    }
}

/// `grpc.health.v1.Health`: the overall status under "" and under the service's
/// own name (e.g. "fieldwork.v1.VisitsService"); other names are NOT_FOUND.
struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    let state: HealthState
    let serviceNames: Set<String>

    private func status(_ serving: Bool) -> Grpc_Health_V1_HealthCheckResponse {
        .with { $0.status = serving ? .serving : .notServing }
    }

    func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard request.service.isEmpty || serviceNames.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
        }
        return status(state.isServing)
    }

    func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        guard request.service.isEmpty || serviceNames.contains(request.service) else {
            try await response.write(.with { $0.status = .serviceUnknown })
            return
        }
        let updates = state.updates()
        try await withRPCCancellationHandler {
            var last: Bool?
            for await serving in updates.stream where serving != last {
                try await response.write(status(serving))
                last = serving
            }
        } onCancelRPC: {
            updates.stop()  // the client went away: end the loop above
        }
    }
}
