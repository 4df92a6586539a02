import AsyncHTTPClient
import Crypto
import FieldworkDomain
import Foundation
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Posts JSON to WeCom robots and webhooks (AsyncHTTPClient), only to targets
/// `OutboundPolicy` allows: the URL is checked, the host resolved and every
/// address checked, and the connection then goes to the checked address (a DNS
/// answer that changes in between cannot redirect it; TLS still verifies the
/// host name). Redirects are not followed, and the whole post — connect, send,
/// reply — has one deadline, so a receiver that trickles its answer cannot hold it.
struct OutboundHTTP: Sendable {
    let policy: OutboundPolicy
    let timeout: Duration

    struct Reply: Sendable {
        var status: Int
        var body: [UInt8]
    }

    struct ResolutionFailed: Error, CustomStringConvertible {
        var host: String
        var description: String { "could not resolve '\(host)'" }
    }

    struct DeadlineExceeded: Error, CustomStringConvertible {
        var timeout: Duration
        var description: String { "no complete reply within \(timeout)" }
    }

    /// Throws `OutboundRefusal` for a forbidden target, other errors for transport failures.
    func post(url: String, json: [UInt8], headers: [(String, String)] = []) async throws -> Reply {
        let target = try policy.check(url: url)
        let host = target.host
        let addresses = try await NIOThreadPool.singleton.runIfActive { try Self.resolve(host) }
        try policy.check(addresses: addresses, of: target)

        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(3), read: .init(timeout)))
        if IPAddress(host) == nil { configuration.dnsOverride = [host: addresses[0].description] }
        // A client per post: its only connection goes to the address just checked.
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        do {
            let reply = try await withDeadline {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
                request.headers.add(name: "User-Agent", value: "fieldwork-notifications")
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                request.body = .bytes(ByteBuffer(bytes: json))
                let response = try await client.execute(request, timeout: .init(timeout))
                // 64 KiB is plenty for a reply; a hostile receiver cannot make us hold more.
                let body = try await response.body.collect(upTo: 64 * 1024)
                return Reply(status: Int(response.status.code), body: Array(buffer: body))
            }
            try? await client.shutdown()
            return reply
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func withDeadline(_ body: @escaping @Sendable () async throws -> Reply) async throws -> Reply {
        try await withThrowingTaskGroup(of: Reply?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let reply = try await group.next() ?? nil else { throw DeadlineExceeded(timeout: timeout) }
            return reply
        }
    }

    /// Every address `host` resolves to (an IP literal is itself).
    static func resolve(_ host: String) throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if os(Linux)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { throw ResolutionFailed(host: host) }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if info.pointee.ai_family == AF_INET, let raw = info.pointee.ai_addr {
                var address = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                addresses.append(IPAddress(bytes: withUnsafeBytes(of: &address) { Array($0) })!)
            } else if info.pointee.ai_family == AF_INET6, let raw = info.pointee.ai_addr {
                var address = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                addresses.append(IPAddress(bytes: withUnsafeBytes(of: &address) { Array($0) })!)
            }
            cursor = info.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw ResolutionFailed(host: host) }
        return Array(Set(addresses))
    }
}

/// How a generic webhook is signed: `X-Fieldwork-Signature: sha256=<hex>` over
/// "<X-Fieldwork-Timestamp>.<body>", so a receiver can check origin and freshness;
/// `X-Fieldwork-Delivery` carries the delivery id for the receiver's own dedupe.
enum WebhookSignature {
    static func headers(body: [UInt8], secret: String, deliveryID: String, at date: Date) -> [(String, String)] {
        let timestamp = String(Int(date.timeIntervalSince1970))
        var signed = Array(timestamp.utf8)
        signed.append(UInt8(ascii: "."))
        signed += body
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Data(secret.utf8)))
        return [
            ("X-Fieldwork-Timestamp", timestamp),
            ("X-Fieldwork-Signature", "sha256=" + mac.map { String(format: "%02x", $0) }.joined()),
            ("X-Fieldwork-Delivery", deliveryID),
        ]
    }
}
