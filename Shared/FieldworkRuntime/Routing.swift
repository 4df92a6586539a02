import GRPCCore
import GRPCProtobuf
import SwiftProtobuf

/// Registers a service's live RPCs one by one. A method of the contract that is
/// not registered answers `UNIMPLEMENTED` from the gRPC server itself, so the
/// router's contents are exactly the live surface.
extension RPCRouter {
    public mutating func unary<Input: Message & Sendable, Output: Message & Sendable>(
        _ descriptor: MethodDescriptor,
        _ handler: @escaping @Sendable (Input) async throws -> Output
    ) {
        registerHandler(
            forMethod: descriptor,
            deserializer: ProtobufDeserializer<Input>(),
            serializer: ProtobufSerializer<Output>()
        ) { request, context in
            let single = try await ServerRequest(stream: request)
            return StreamingServerResponse(single: ServerResponse(message: try await handler(single.message)))
        }
    }

    public mutating func serverStreaming<Input: Message & Sendable, Output: Message & Sendable>(
        _ descriptor: MethodDescriptor,
        _ handler: @escaping @Sendable (Input, RPCWriter<Output>, ServerContext) async throws -> Void
    ) {
        registerHandler(
            forMethod: descriptor,
            deserializer: ProtobufDeserializer<Input>(),
            serializer: ProtobufSerializer<Output>()
        ) { request, context in
            let single = try await ServerRequest(stream: request)
            return StreamingServerResponse { writer in
                try await handler(single.message, writer, context)
                return [:]
            }
        }
    }

    public mutating func clientStreaming<Input: Message & Sendable, Output: Message & Sendable>(
        _ descriptor: MethodDescriptor,
        _ handler: @escaping @Sendable (RPCAsyncSequence<Input, any Error>) async throws -> Output
    ) {
        registerHandler(
            forMethod: descriptor,
            deserializer: ProtobufDeserializer<Input>(),
            serializer: ProtobufSerializer<Output>()
        ) { request, context in
            StreamingServerResponse(single: ServerResponse(message: try await handler(request.messages)))
        }
    }
}
