import GRPCCore

/// Ends a unary RPC that runs longer than the server's limit with
/// DEADLINE_EXCEEDED (SPEC §11.1), whatever deadline the client set or left out.
///
/// grpc-swift answers a client's own deadline but only flags the RPC as
/// cancelled; the handler's task runs on. Here the handler runs as a child task
/// that is cancelled when the limit passes. Cancellation is cooperative: the
/// status goes out once the handler's current await (e.g. a query) returns.
///
/// Jobs, scoring runs and CSV imports are exempt: an administrator starts them
/// on purpose and they may take minutes at scale (a relay flush cut short
/// would also count its cancelled deliveries as failures).
struct ServerDeadlineInterceptor: ServerInterceptor {
    let unaryLimit: Duration
    static let exempt: Set<String> = ["RunJob", "RunScoring", "ImportCsv"]

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        // A unary handler's work happens inside `next`; a streaming response's later, in its producer.
        guard context.descriptor.type == .unary, !Self.exempt.contains(context.descriptor.method) else {
            return try await next(request, context)
        }
        let limit = unaryLimit
        return try await withoutActuallyEscaping(next) { next in
            try await withThrowingTaskGroup(of: StreamingServerResponse<Output>?.self) { group in
                group.addTask { try await next(request, context) }
                group.addTask {
                    try await Task.sleep(for: limit)
                    return nil
                }
                defer { group.cancelAll() }
                guard let response = try await group.next()! else {
                    context.cancellation.cancel()
                    throw RPCError(code: .deadlineExceeded, message: "the call ran longer than the server allows (UNARY_DEADLINE_SECONDS: \(limit))")
                }
                return response
            }
        }
    }
}
