import Foundation
import GRPCCore
import Logging
import Prometheus
import Synchronization

/// Per-RPC facts the outer interceptor logs once the call ends; inner
/// interceptors fill in what they learn (the principal).
final class RPCLogContext: Sendable {
    @TaskLocal static var current: RPCLogContext?

    let requestID: String
    private let principal = Mutex<Principal?>(nil)

    init(requestID: String) { self.requestID = requestID }

    func setPrincipal(_ value: Principal) { principal.withLock { $0 = value } }
    var principalDescription: String { principal.withLock { $0?.description ?? "-" } }
}

/// The outermost interceptor: refuses calls until the service is ready, turns
/// unexpected errors into `INTERNAL` with the request id, writes one structured
/// log line per RPC and records count and latency in Prometheus.
struct RequestLogInterceptor: ServerInterceptor {
    let logger: Logger
    let metrics: RPCMetrics
    let readiness: HealthState

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let start = ContinuousClock.now
        let requestID = request.metadata[stringValues: "x-request-id"].first(where: { !$0.isEmpty && $0.count <= 128 })
            ?? UUID.timeOrdered().uuidString.lowercased()
        let logContext = RPCLogContext(requestID: requestID)
        let method = context.descriptor.fullyQualifiedMethod
        let isHealth = AuthInterceptor.openServices.contains(context.descriptor.service.fullyQualifiedService)

        @Sendable func finish(_ error: (any Error)?) -> RPCError? {
            let mapped = error.map { RPCError.from($0, requestID: requestID) }
            let code = mapped.map { String(describing: $0.code) } ?? "ok"
            let duration = ContinuousClock.now - start
            metrics.record(method: method, status: code, duration: duration)
            if isHealth && mapped == nil { return nil }  // probes would drown the log
            let unexpected = mapped.map { $0.code == .internalError || $0.code == .unknown } ?? false
            // Below the logger's level no line is written, so none is built.
            guard logger.logLevel <= (unexpected ? .error : .info) else { return mapped }
            var metadata: Logger.Metadata = [
                "method": "\(method)", "status": "\(code)", "duration_ms": "\(duration.milliseconds)",
                "principal": "\(logContext.principalDescription)", "request_id": "\(requestID)",
            ]
            if unexpected, let error {
                metadata["error"] = "\(String(reflecting: RPCError.rootCause(of: error)))"
                logger.error("rpc", metadata: metadata)
            } else {
                if let mapped { metadata["message"] = "\(mapped.message)" }
                logger.info("rpc", metadata: metadata)
            }
            return mapped
        }

        guard isHealth || readiness.isServing else {
            throw finish(RPCError(code: .unavailable, message: "service is not ready (starting, database unreachable or draining)"))!
        }
        var response: StreamingServerResponse<Output>
        do {
            response = try await RPCLogContext.$current.withValue(logContext) { try await next(request, context) }
        } catch {
            throw finish(error)!
        }
        switch response.accepted {
        case .failure(let error):
            response.accepted = .failure(finish(error)!)
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await RPCLogContext.$current.withValue(logContext) { try await producer(writer) }
                    _ = finish(nil)
                    return trailers
                } catch {
                    throw finish(error)!
                }
            }
            response.accepted = .success(contents)
        }
        return response
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// RPC count and latency by method and status.
public struct RPCMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    static let buckets: [Duration] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map { .milliseconds(Int64($0 * 1000)) }

    func record(method: String, status: String, duration: Duration) {
        let labels = [("method", method), ("status", status)]
        registry.makeCounter(descriptor: MetricNames.rpcCalls, labels: labels).increment()
        registry.makeDurationHistogram(descriptor: MetricNames.rpcDuration, labels: labels, buckets: Self.buckets)
            .recordNanoseconds(Int64(duration.seconds * 1e9))
    }
}

/// The metric names this runtime exports.
enum MetricNames {
    static var rpcCalls: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "fieldwork", metricName: "rpc", unitName: "total", helpText: "RPCs handled, by method and status")
    }
    static var rpcDuration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "fieldwork", metricName: "rpc_duration", unitName: "seconds", helpText: "RPC latency, by method and status")
    }
    static var outboxPending: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "fieldwork", metricName: "outbox", unitName: "pending", helpText: "outbox rows not yet delivered, by subscriber")
    }
    static var outboxParked: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "fieldwork", metricName: "outbox", unitName: "parked", helpText: "outbox rows parked after repeated refusals, by subscriber")
    }
}
