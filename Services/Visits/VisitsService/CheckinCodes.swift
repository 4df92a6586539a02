import Crypto
import FieldworkDomain
import Foundation

/// Signed check-in codes, the text a customer's QR code carries (SPEC §2.1):
/// `v1.<key id>.<base64url payload>.<base64url HMAC-SHA256>`. The key id lets
/// keys rotate: every configured key verifies, the first one signs.
struct CheckinCodeSigner: Sendable {
    struct Payload: Codable, Equatable {
        var customer: String
        var department: String
        var issuedAt: Int64          // Unix seconds
        var expiresAt: Int64?
    }

    let keys: [(id: String, key: SymmetricKey)]

    /// `spec`: "kid=secret,kid2=secret2"; the first key signs new codes.
    init(spec: String) throws {
        self.keys = try Self.parse(spec).map { ($0.id, SymmetricKey(data: Data($0.secret.utf8))) }
    }

    /// Keys newest first: the first signs, all verify.
    init(keys: [(id: String, secret: [UInt8])]) throws {
        guard !keys.isEmpty else { throw DomainError.failedPrecondition("no active check-in key; rotate one in") }
        self.keys = keys.map { ($0.id, SymmetricKey(data: $0.secret)) }
    }

    static func parse(_ spec: String) throws -> [(id: String, secret: String)] {
        var keys: [(String, String)] = []
        for entry in spec.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isLetter || $0.isNumber }), parts[1].utf8.count >= 16 else {
                throw DomainError.invalidArgument(field: "CHECKIN_KEYS", message: "entries must be kid=secret, kid alphanumeric, secret ≥ 16 bytes")
            }
            keys.append((parts[0], parts[1]))
        }
        guard !keys.isEmpty else { throw DomainError.invalidArgument(field: "CHECKIN_KEYS", message: "at least one key is required") }
        return keys
    }

    var activeKeyID: String { keys[0].id }

    func issue(_ payload: Payload) throws -> String {
        let body = try JSONEncoder().encode(payload).base64URLEncoded
        let signed = "v1.\(keys[0].id).\(body)"
        return "\(signed).\(Self.mac(signed, key: keys[0].key))"
    }

    /// The key id a code names (before any check: "" when there is none).
    static func keyID(of token: String) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "v1" ? String(parts[1]) : ""
    }

    /// The payload of a genuine, unexpired code; otherwise `invalidArgument` on "code".
    func verify(_ token: String, now: Date) throws -> Payload {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == "v1" else { throw Self.refused("is not a Fieldwork check-in code") }
        guard let key = keys.first(where: { $0.id == parts[1] })?.key else { throw Self.refused("was signed with an unknown or retired key") }
        let signed = parts[0...2].joined(separator: ".")
        guard let given = Data(base64URLEncoded: parts[3]),
              HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Data(signed.utf8), using: key) else {
            throw Self.refused("signature does not match (forged or altered)")
        }
        guard let json = Data(base64URLEncoded: parts[2]), let payload = try? JSONDecoder().decode(Payload.self, from: json) else {
            throw Self.refused("payload is unreadable")
        }
        if let expiresAt = payload.expiresAt, Int64(now.timeIntervalSince1970) >= expiresAt {
            throw Self.refused("expired")
        }
        return payload
    }

    static func refused(_ why: String) -> DomainError { .invalidArgument(field: "code", message: why) }

    static func mac(_ text: String, key: SymmetricKey) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)).base64URLEncoded
    }
}

/// The tamper-evident GPS watermark (SPEC §2.2): an HMAC over the record's id,
/// person, customer, position and server time, recomputed on verification.
struct Watermark: Sendable {
    let key: SymmetricKey

    init(secret: String) throws {
        guard secret.utf8.count >= 16 else {
            throw DomainError.invalidArgument(field: "WATERMARK_KEY", message: "must be at least 16 bytes")
        }
        key = SymmetricKey(data: Data(secret.utf8))
    }

    func digest(visitID: UUID, personID: String, customerID: String, position: GeoPosition?, serverTime: Date) -> String {
        let where_ = position.map { String(format: "%.7f,%.7f,%.1f", $0.latitude, $0.longitude, $0.accuracyMeters) } ?? "none"
        // Milliseconds (the check-in stamps a whole millisecond): the stored value comes
        // back from PostgreSQL within a microsecond of it, and rounding absorbs that.
        let millis = Int64((serverTime.timeIntervalSince1970 * 1000).rounded())
        let text = "\(visitID.uuidString.lowercased())|\(personID)|\(customerID)|\(where_)|\(millis)"
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key))
    }

    /// Lowercase hex, two digits a byte (one `String(format:)` a byte cost more than the HMAC).
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension Data {
    var base64URLEncoded: String {
        String(decoding: base64EncodedData().compactMap { byte -> UInt8? in
            switch byte {
            case UInt8(ascii: "+"): UInt8(ascii: "-")
            case UInt8(ascii: "/"): UInt8(ascii: "_")
            case UInt8(ascii: "="): nil
            default: byte
            }
        }, as: UTF8.self)
    }

    init?(base64URLEncoded text: String) {
        var base64 = text.utf8.map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "-"): UInt8(ascii: "+")
            case UInt8(ascii: "_"): UInt8(ascii: "/")
            default: byte
            }
        }
        base64 += repeatElement(UInt8(ascii: "="), count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: Data(base64))
    }
}
