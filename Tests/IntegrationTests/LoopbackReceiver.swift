import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP/1.1 server on 127.0.0.1 that plays a WeCom robot or a webhook
/// receiver: every request is logged and answered as `behaviour` decides —
/// a status and body, or a stall that ends with the connection closed unanswered.
final class LoopbackReceiver: Sendable {
    struct Request: Sendable {
        var path: String
        var query: [String: String]
        var headers: [String: String]   // lower-cased names
        var body: [UInt8]
        var at: ContinuousClock.Instant

        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
        /// A WeCom robot post's markdown.
        var markdown: String { (json?["markdown"] as? [String: Any])?["content"] as? String ?? "" }
    }

    enum Reply: Sendable {
        case respond(status: Int, body: String)
        case stall(Duration)

        static func weCom(_ errcode: Int, _ message: String = "ok") -> Reply {
            .respond(status: 200, body: #"{"errcode":\#(errcode),"errmsg":"\#(message)"}"#)
        }
    }

    typealias Behaviour = @Sendable (Request) async -> Reply

    let port: Int
    private let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let serving: Task<Void, Never>
    private let log: RequestLog

    private final class RequestLog: Sendable {
        let requests = Mutex<[Request]>([])
        func append(_ request: Request) { requests.withLock { $0.append(request) } }
    }

    private init(
        port: Int, server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>,
        serving: Task<Void, Never>, log: RequestLog
    ) {
        self.port = port
        self.server = server
        self.serving = serving
        self.log = log
    }

    var requests: [Request] { log.requests.withLock { $0 } }

    /// Starts a receiver, runs `body` with it, and stops it.
    static func with<Result>(_ behaviour: @escaping Behaviour, _ body: (LoopbackReceiver) async throws -> Result) async throws -> Result {
        let receiver = try await start(behaviour)
        do {
            let result = try await body(receiver)
            await receiver.stop()
            return result
        } catch {
            await receiver.stop()
            throw error
        }
    }

    static func start(_ behaviour: @escaping Behaviour) async throws -> LoopbackReceiver {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        let log = RequestLog()
        let serving = Task<Void, Never> {
            _ = try? await server.executeThenClose { connections in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in connections {
                            group.addTask { try? await serve(connection, behaviour: behaviour, log: log) }
                        }
                    } catch {}
                    group.cancelAll()
                }
            }
        }
        return LoopbackReceiver(port: server.channel.localAddress!.port!, server: server, serving: serving, log: log)
    }

    func stop() async {
        server.channel.close(promise: nil)
        serving.cancel()
        await serving.value
    }

    private static func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, behaviour: Behaviour, log: RequestLog
    ) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let received):
                    head = received
                    body = []
                case .body(let buffer):
                    body += Array(buffer: buffer)
                case .end:
                    guard let head else { return }
                    let components = URLComponents(string: head.uri)
                    var query: [String: String] = [:]
                    for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
                    var headers: [String: String] = [:]
                    for (name, value) in head.headers { headers[name.lowercased()] = value }
                    let request = Request(path: components?.path ?? head.uri, query: query, headers: headers, body: body, at: .now)
                    log.append(request)
                    switch await behaviour(request) {
                    case .stall(let duration):
                        try? await Task.sleep(for: duration)
                        return   // closes the connection without an answer
                    case .respond(let status, let text):
                        var headers = HTTPHeaders()
                        headers.add(name: "content-type", value: "application/json; charset=utf-8")
                        headers.add(name: "content-length", value: String(text.utf8.count))
                        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: status), headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
                        try await outbound.write(.end(nil))
                    }
                }
            }
        }
    }
}
