import Foundation
import GRPCNIOTransportHTTP2

/// TLS for a service's gRPC server and for its own calls to other services
/// (event delivery): each side presents the deployment's certificate and
/// verifies the other against the deployment's own CA — never the system trust
/// store, so a certificate from a public CA does not get in.
///
/// Off unless TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE are all set. Without
/// TLS, a server listens only on a loopback address unless ALLOW_PLAINTEXT is on.
public struct TransportSecurity: Sendable, Equatable {
    public var certificateFile: String
    public var keyFile: String
    public var caFile: String
    /// mTLS: a caller must present a certificate the CA signed.
    public var requireClientCertificate: Bool

    public init(certificateFile: String, keyFile: String, caFile: String, requireClientCertificate: Bool) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.requireClientCertificate = requireClientCertificate
    }

    public static let settings = [
        Setting("TLS_CERT_FILE", default: "", help: "PEM certificate chain the server presents (and presents as a client to other services)"),
        Setting("TLS_KEY_FILE", default: "", help: "PEM private key of TLS_CERT_FILE", secret: true),
        Setting("TLS_CA_FILE", default: "", help: "PEM CA certificates of this deployment: peers are verified against these only"),
        Setting("TLS_REQUIRE_CLIENT_CERT", default: "on", help: "with TLS, callers must present a certificate signed by TLS_CA_FILE (mTLS)"),
        Setting("ALLOW_PLAINTEXT", default: "off", help: "serve without TLS on a non-loopback HOST (behind a mesh that encrypts)"),
    ]

    /// The configured TLS, or nil for plaintext — refused on a non-loopback host unless allowed.
    public static func resolve(_ configuration: ServiceConfiguration) throws -> TransportSecurity? {
        let files = ["TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"].map { configuration.string($0) }
        let prefix = configuration.prefix
        if files.allSatisfy(\.isEmpty) {
            try checkPlaintext(host: configuration.string("HOST"), allowed: configuration.bool("ALLOW_PLAINTEXT"), prefix: prefix)
            return nil
        }
        guard files.allSatisfy({ !$0.isEmpty }) else {
            throw ConfigurationError(description: "\(prefix)TLS_CERT_FILE, \(prefix)TLS_KEY_FILE and \(prefix)TLS_CA_FILE go together")
        }
        for (name, path) in zip(["TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"], files) where !FileManager.default.isReadableFile(atPath: path) {
            throw ConfigurationError(description: "\(prefix)\(name): cannot read '\(path)'")
        }
        return TransportSecurity(
            certificateFile: files[0], keyFile: files[1], caFile: files[2],
            requireClientCertificate: configuration.bool("TLS_REQUIRE_CLIENT_CERT"))
    }

    /// Plaintext is for loopback (a developer's machine, the tests) unless an operator says otherwise.
    public static func checkPlaintext(host: String, allowed: Bool, prefix: String) throws {
        guard !allowed, !isLoopback(host) else { return }
        throw ConfigurationError(description:
            "\(prefix)HOST is \(host) and TLS is off: set \(prefix)TLS_CERT_FILE, _KEY_FILE and _CA_FILE, or \(prefix)ALLOW_PLAINTEXT=on")
    }

    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public var server: HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificateFile, format: .pem)], privateKey: .file(path: keyFile, format: .pem)) {
            $0.trustRoots = .certificates([.file(path: caFile, format: .pem)])
            $0.clientCertificateVerification = requireClientCertificate ? .noHostnameVerification : .noVerification
        }
    }

    public var client: HTTP2ClientTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificateFile, format: .pem)], privateKey: .file(path: keyFile, format: .pem)) {
            $0.trustRoots = .certificates([.file(path: caFile, format: .pem)])
            $0.serverCertificateVerification = .fullVerification
        }
    }
}
