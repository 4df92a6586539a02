import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import NIOCore
import PostgresNIO
import Synchronization

/// The check-in keys live in the database, so every replica signs and verifies
/// with the same set and a rotation takes effect everywhere at once. The keys in
/// `CHECKIN_KEYS` are added on first use (first listed = newest); later keys come
/// from `RotateCheckinKey`, which can also retire old ones.
struct CheckinKeyring: Sendable {
    let environment: ServiceEnvironment
    let configured: [(id: String, secret: String)]
    /// Secrets by key id as last read. A key's secret never changes (a rotation
    /// adds a key under a new id), so a cached one verifies a code without a
    /// query; whether the key is still active is asked in the check-in's own
    /// transaction (`VisitStore.lockCheckIn`).
    private let secrets = SecretCache()

    private final class SecretCache: Sendable {
        let byKeyID = Mutex<[String: [UInt8]]>([:])
    }

    init(environment: ServiceEnvironment) throws {
        self.environment = environment
        configured = try CheckinCodeSigner.parse(environment.configuration.string("CHECKIN_KEYS"))
    }

    /// The signer for the keys in force now (one small query per call).
    func signer(on connection: PostgresConnection) async throws -> CheckinCodeSigner {
        var keys = try await load(on: connection)
        if keys.isEmpty {
            try await seed(on: connection)
            keys = try await load(on: connection)
        }
        return try CheckinCodeSigner(keys: keys)
    }

    /// A genuine, unexpired code's payload and key id, checked against the cached
    /// secret of the key it names (read from the database when not cached yet).
    /// The caller must still check that the key is active.
    func verify(_ token: String, now: Date) async throws -> (payload: CheckinCodeSigner.Payload, keyID: String) {
        let keyID = CheckinCodeSigner.keyID(of: token)
        guard !keyID.isEmpty else { throw CheckinCodeSigner.refused("is not a Fieldwork check-in code") }
        var secret = secrets.byKeyID.withLock { $0[keyID] }
        if secret == nil {
            let keys = try await environment.postgres.withConnection { connection in
                _ = try await signer(on: connection)   // adds the configured keys on first use
                return try await load(on: connection)
            }
            secrets.byKeyID.withLock { cache in for key in keys { cache[key.id] = key.secret } }
            secret = keys.first { $0.id == keyID }?.secret
        }
        guard let secret else { throw CheckinCodeSigner.refused("was signed with an unknown or retired key") }
        return (try CheckinCodeSigner(keys: [(keyID, secret)]).verify(token, now: now), keyID)
    }

    private func load(on connection: PostgresConnection) async throws -> [(id: String, secret: [UInt8])] {
        var keys: [(String, [UInt8])] = []
        for try await (id, secret) in try await connection.query(
            "SELECT id, secret FROM checkin_keys WHERE retired_at IS NULL ORDER BY created_at DESC, id", logger: environment.logger
        ).decode((String, ByteBuffer).self) { keys.append((id, Array(secret.readableBytesView))) }
        return keys
    }

    /// Adds the configured keys that are not there yet; a retired key stays retired.
    private func seed(on connection: PostgresConnection) async throws {
        let now = environment.clock.now()
        for (index, key) in configured.enumerated() {
            try await connection.query(
                """
                INSERT INTO checkin_keys (id, secret, created_at)
                VALUES (\(key.id), \(ByteBuffer(string: key.secret)), \(now.addingTimeInterval(-Double(index) / 1000)))
                ON CONFLICT (id) DO NOTHING
                """, logger: environment.logger)
        }
    }

    /// A new random key becomes the signing key; `retire` keys stop verifying at once.
    func rotate(retire: [String], by principal: Principal, at now: Date, requestID: String, on connection: PostgresConnection) async throws
        -> Fieldwork_V1_RotateCheckinKeyResponse
    {
        _ = try await signer(on: connection)  // the configured keys are in before any is retired
        var random = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let id = "k\(Int64(now.timeIntervalSince1970))" + (0..<3).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined()
        try await connection.query(
            "INSERT INTO checkin_keys (id, secret, created_at) VALUES (\(id), \(ByteBuffer(bytes: secret)), \(now))", logger: environment.logger)
        for old in retire {
            var found = false
            for try await _ in try await connection.query(
                "UPDATE checkin_keys SET retired_at = \(now) WHERE id = \(old) AND retired_at IS NULL RETURNING id", logger: environment.logger
            ) { found = true }
            guard found else { throw DomainError.invalidArgument(field: "retire_key_ids", message: "'\(old)' is not an active key") }
        }
        try await environment.audit(
            AuditRecord(entityType: "checkin_keys", entityID: "keyring", action: "rotate", changes: [
                .init("active_key", "", id), .init("retired", "", retire.joined(separator: "|")),
            ]),
            by: principal, at: now, requestID: requestID, on: connection)
        let keys = try await load(on: connection)
        return .with {
            $0.activeKeyID = keys.first?.id ?? id
            $0.acceptedKeyIds = keys.map(\.id)
        }
    }
}
