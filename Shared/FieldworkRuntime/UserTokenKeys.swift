import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The user-token issuer's public keys (a JSON Web Key Set of P-256 keys with
/// `kid`s), replaceable while the service runs. A rotation publishes the new key
/// beside the old one; services read the set again every `JWKS_REFRESH_SECONDS`,
/// and at once when a token names a key id they do not know (at most once per
/// `unknownKeyInterval`, so a stream of forged kids cannot hammer the issuer).
/// A key removed from the set stops verifying at the next reload.
public final class UserTokenKeys: Sendable {
    /// One version of the set.
    struct Loaded: Sendable {
        var collection: JWTKeyCollection
        var ids: Set<String>
        var text: String
        /// Bumped on every change, so tokens verified under an older set are checked again.
        var generation: Int
    }

    public static let unknownKeyInterval: Duration = .seconds(30)

    private let loaded: Mutex<Loaded>
    private let source: JWKSSource?
    private let lastUnknownKeyReload = Mutex<ContinuousClock.Instant?>(nil)

    /// A fixed set, never reloaded (tests, tools).
    public convenience init(jwks: String) async throws {
        try await self.init(loaded: Self.load(jwks, generation: 0), source: nil)
    }

    /// The set at `source`, read now (failing start-up when it cannot be read) and on every `reload()`.
    public convenience init(source: JWKSSource) async throws {
        try await self.init(loaded: Self.load(try await source.read(), generation: 0), source: source)
    }

    private init(loaded: Loaded, source: JWKSSource?) {
        self.loaded = Mutex(loaded)
        self.source = source
    }

    var current: Loaded { loaded.withLock { $0 } }

    /// Reads the source again; true when the set changed. A set that cannot be
    /// read or is not valid leaves the current one in place and throws.
    @discardableResult
    public func reload() async throws -> Bool {
        guard let source else { return false }
        let text = try await source.read()
        guard text != current.text else { return false }
        let next = try await Self.load(text, generation: current.generation + 1)
        loaded.withLock { $0 = next }
        return true
    }

    /// A token named a key id this set lacks: reload, unless that was done
    /// within `unknownKeyInterval`. True when the set changed.
    func reloadForUnknownKey() async -> Bool {
        let now = ContinuousClock.now
        let due = lastUnknownKeyReload.withLock { last in
            guard last.map({ now - $0 >= Self.unknownKeyInterval }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return false }
        return (try? await reload()) ?? false
    }

    static func load(_ jwks: String, generation: Int) async throws -> Loaded {
        let set: JWKS
        do {
            set = try JSONDecoder().decode(JWKS.self, from: Data(jwks.utf8))
        } catch {
            throw ConfigurationError(description: "the user-token JWKS is not a JSON Web Key Set: \(error)")
        }
        var ids: Set<String> = []
        for key in set.keys {
            guard let id = key.keyIdentifier?.string, !id.isEmpty else {
                throw ConfigurationError(description: "every key of the user-token JWKS needs a kid")
            }
            guard key.keyType == .ecdsa, key.curve == .ecdsa(.p256) else {
                throw ConfigurationError(description: "JWKS key '\(id)' is not a P-256 (ES256) key")
            }
            ids.insert(id)
        }
        guard !ids.isEmpty else { throw ConfigurationError(description: "the user-token JWKS has no keys") }
        let collection = JWTKeyCollection()
        try await collection.add(jwks: set)
        return Loaded(collection: collection, ids: ids, text: jwks, generation: generation)
    }
}

/// Where the user-token public keys are published: a file (a mounted ConfigMap)
/// or an https URL (the issuer's `jwks.json`; plain http only to a loopback address).
public enum JWKSSource: Sendable, CustomStringConvertible {
    case file(String)
    case url(URL)

    /// A JWKS is a few keys: anything larger is not one.
    static let maximumBytes = 256 * 1024

    /// JWKS_FILE or JWKS_URL, exactly one.
    public init(file: String, url: String) throws {
        switch (file.isEmpty, url.isEmpty) {
        case (false, true):
            self = .file(file)
        case (true, false):
            guard let parsed = URL(string: url), let host = parsed.host, !host.isEmpty,
                  parsed.scheme == "https" || (parsed.scheme == "http" && Self.isLoopback(host)) else {
                throw ConfigurationError(description: "JWKS_URL: '\(url)' is not an https URL (http only to a loopback address)")
            }
            self = .url(parsed)
        case (true, true):
            throw ConfigurationError(description: "JWKS_FILE or JWKS_URL is required: the user-token issuer's public keys")
        case (false, false):
            throw ConfigurationError(description: "JWKS_FILE and JWKS_URL are both set: choose one")
        }
    }

    static func isLoopback(_ host: String) -> Bool { host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.") }

    public var description: String {
        switch self {
        case .file(let path): "file \(path)"
        case .url(let url): url.absoluteString
        }
    }

    public func read() async throws -> String {
        switch self {
        case .file(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(description: "JWKS_FILE: cannot read '\(path)'")
            }
            return text
        case .url(let url):
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url.absoluteString), timeout: .seconds(10))
            guard response.status == .ok else {
                throw ConfigurationError(description: "JWKS_URL: \(url.absoluteString) answered \(response.status.code)")
            }
            return String(buffer: try await response.body.collect(upTo: Self.maximumBytes))
        }
    }
}

/// Reloads the user-token keys every `interval` while the service runs.
struct UserTokenKeysRefresher: Service {
    let keys: UserTokenKeys
    let source: JWKSSource
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled else { return }
                do {
                    if try await keys.reload() {
                        logger.notice("user-token keys reloaded", metadata: ["source": "\(source)", "kids": "\(keys.current.ids.sorted())"])
                    }
                } catch {
                    // The keys in hand stay valid; the next round tries again.
                    logger.warning("user-token keys not reloaded", metadata: ["source": "\(source)", "error": "\(error)"])
                }
            }
        }
    }
}
