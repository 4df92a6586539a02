import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// `::ffff:a.b.c.d` is the IPv4 address it carries: a check on IPv4 ranges must see through it.
    public var unmapped: IPAddress {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return self }
        return IPAddress(bytes: Array(bytes[12...]))!
    }

    public var description: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        for index in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]), radix: 16)) }
        return groups.joined(separator: ":")
    }
}

/// An address range in CIDR notation ("10.0.0.0/8", "fe80::/10"); a bare address is a range of one.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let address = IPAddress(first) else { return nil }
        let length = parts.count == 2 ? Int(parts[1]) : address.bytes.count * 8
        guard let length, (0...address.bytes.count * 8).contains(length) else { return nil }
        self.address = address
        self.prefixLength = length
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        let candidate = candidate.unmapped
        guard candidate.bytes.count == address.bytes.count else { return false }
        var remaining = prefixLength
        for (mine, theirs) in zip(address.bytes, candidate.bytes) where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if mine & mask != theirs & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// Ranges that are not the public internet: "this" network, private (RFC 1918),
    /// carrier-grade NAT, loopback, link-local (where cloud metadata services live),
    /// benchmarking, multicast and reserved, and their IPv6 counterparts.
    public static let nonPublic: [IPNetwork] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
        // Prefixes that carry an IPv4 address inside (NAT64, 6to4, Teredo): they could reach the ranges above.
        "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32",
    ].map { IPNetwork($0)! }
}

/// Why an outbound HTTP target is refused (SPEC §5.2: no requests to arbitrary hosts).
public enum OutboundRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case scheme(String)
    case hostNotAllowed(String)
    case nonPublicAddress(host: String, address: String)
    case plainHTTP(host: String)

    public var description: String {
        switch self {
        case .malformed(let url): "'\(url)' is not an absolute http(s) URL"
        case .scheme(let scheme): "scheme '\(scheme)' is not allowed; use https"
        case .hostNotAllowed(let host): "host '\(host)' is not on the webhook allow-list"
        case .nonPublicAddress(let host, let address):
            "host '\(host)' resolves to \(address), a private, loopback or link-local address that is not allow-listed"
        case .plainHTTP(let host): "plain http to '\(host)' is allowed only inside an allow-listed private network; use https"
        }
    }
}

/// Where webhooks and robots may post: hosts on an allow-list, resolving only to
/// public addresses — unless a non-public range is itself allow-listed (a test
/// receiver on loopback, a corporate proxy). HTTPS, except inside such a range.
public struct OutboundPolicy: Sendable, Equatable {
    /// Exact host names or IP literals, or "*.example.com" for any subdomain.
    public var allowedHosts: [String]
    public var allowedNetworks: [IPNetwork]

    public init(allowedHosts: [String], allowedNetworks: [IPNetwork]) {
        self.allowedHosts = allowedHosts.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        self.allowedNetworks = allowedNetworks
    }

    public struct Target: Sendable, Equatable {
        public var scheme: String
        public var host: String
        public var port: Int

        public init(scheme: String, host: String, port: Int) {
            self.scheme = scheme
            self.host = host
            self.port = port
        }
    }

    /// The URL's own checks, before any name is resolved. `URL` parses it, as
    /// AsyncHTTPClient does, so the host checked is the host connected to.
    public func check(url text: String) throws(OutboundRefusal) -> Target {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              var host = url.host?.lowercased(), !host.isEmpty, url.user == nil, url.password == nil
        else { throw .malformed(text) }
        guard scheme == "https" || scheme == "http" else { throw .scheme(scheme) }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard isAllowed(host: host) else { throw .hostNotAllowed(host) }
        return Target(scheme: scheme, host: host, port: url.port ?? (scheme == "https" ? 443 : 80))
    }

    /// The addresses a target's host resolved to, checked just before connecting.
    public func check(addresses: [IPAddress], of target: Target) throws(OutboundRefusal) {
        guard !addresses.isEmpty else { throw .malformed(target.host) }
        for address in addresses {
            let insideAllowed = allowedNetworks.contains { $0.contains(address) }
            if !insideAllowed, IPNetwork.nonPublic.contains(where: { $0.contains(address) }) {
                throw .nonPublicAddress(host: target.host, address: address.unmapped.description)
            }
            if !insideAllowed, target.scheme == "http" { throw .plainHTTP(host: target.host) }
        }
    }

    func isAllowed(host: String) -> Bool {
        allowedHosts.contains { pattern in
            if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst(1)) && host.count > pattern.count - 1 }
            return pattern == host
        }
    }
}
