import GRPCCore
import GRPCNIOTransportHTTP2

/// A server transport that refuses a request message above `maxMessageBytes`
/// with RESOURCE_EXHAUSTED naming the limit.
///
/// The NIO transport's own limit cannot answer with a status: its decoder's
/// RESOURCE_EXHAUSTED becomes "Failed to decode message" and the stream is
/// reset (the client sees CANCELLED, RST_STREAM code 8). So the transport
/// reads up to a larger size (`TransportLimits.readableMessageBytes`) and this
/// wrapper, which sees each message's bytes before deserialisation, refuses
/// the oversized one as a proper status that interceptors log and count.
public struct MessageSizeLimit<Base: ServerTransport>: ServerTransport {
    public typealias Bytes = Base.Bytes
    public let base: Base
    public let maxMessageBytes: Int

    public init(_ base: Base, maxMessageBytes: Int) {
        self.base = base
        self.maxMessageBytes = maxMessageBytes
    }

    // Forwarded: the NIO transport learns the server's methods here.
    public func configure(context: GRPCServerContext) { base.configure(context: context) }

    public func beginGracefulShutdown() { base.beginGracefulShutdown() }

    public func listen(
        streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void
    ) async throws {
        let limit = maxMessageBytes
        try await base.listen { stream, context in
            let checked = stream.inbound.map { part -> RPCRequestPart<Bytes> in
                if case .message(let bytes) = part, bytes.count > limit {
                    throw RPCError(
                        code: .resourceExhausted,
                        message: "request message is \(bytes.count) bytes; the limit (MAX_MESSAGE_BYTES) is \(limit) bytes")
                }
                return part
            }
            await streamHandler(
                RPCStream(descriptor: stream.descriptor, inbound: RPCAsyncSequence(wrapping: checked), outbound: stream.outbound),
                context)
        }
    }
}

extension MessageSizeLimit: ListeningServerTransport where Base: ListeningServerTransport {
    public var listeningAddress: SocketAddress {
        get async throws { try await base.listeningAddress }
    }
}
