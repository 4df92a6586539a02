import FieldworkDomain
import Foundation
import PostgresNIO
import Testing
@testable import VisitsService

/// The GPS watermark must re-verify after the visit's time went through PostgreSQL.
@Suite struct WatermarkTests {
    @Test func aStoredCheckInTimeRedigestsExactly() async throws {
        let watermark = try Watermark(secret: "watermark-test-key-0123456789")
        try await TestDatabase.with { database in
            _ = try await database.client.query("CREATE TABLE stamps (id int PRIMARY KEY, at timestamptz NOT NULL)", logger: TestDatabase.logger)
            var stamps: [(Int, Date)] = []
            var instant = Date()
            for id in 0..<2000 {
                // Irregular sub-millisecond offsets, as the wall clock gives them.
                instant = instant.addingTimeInterval(0.000_731 * Double(id % 97) + 0.0137)
                stamps.append((id, instant.roundedToMilliseconds))
            }
            for (id, at) in stamps {
                _ = try await database.client.query("INSERT INTO stamps VALUES (\(id), \(at))", logger: TestDatabase.logger)
            }
            let visit = UUID()
            let position = GeoPosition(latitude: 30.2530, longitude: 120.1785, accuracyMeters: 8)
            var mismatches = 0
            for try await (id, stored) in try await database.client.query("SELECT id, at FROM stamps ORDER BY id", logger: TestDatabase.logger)
                .decode((Int, Date).self)
            {
                let original = watermark.digest(visitID: visit, personID: "E1001", customerID: "H-ZJ-001", position: position, serverTime: stamps[id].1)
                let again = watermark.digest(visitID: visit, personID: "E1001", customerID: "H-ZJ-001", position: position, serverTime: stored)
                if original != again { mismatches += 1 }
            }
            #expect(mismatches == 0)
        }
    }

    /// The digested text and its encoding are a stored format: every watermark
    /// written so far must verify after any change to the code. Expected value
    /// from `openssl dgst -sha256 -hmac` over the same text.
    @Test func theDigestOfAKnownVisitIsStable() throws {
        let watermark = try Watermark(secret: "watermark-test-key-0123456789")
        let digest = watermark.digest(
            visitID: UUID(uuidString: "6F1C2A34-8D2B-4C55-9A0E-0123456789AB")!, personID: "E1001", customerID: "H-ZJ-001",
            position: GeoPosition(latitude: 30.25, longitude: 120.15, accuracyMeters: 5),
            serverTime: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(digest == "88b6df84fffeb7fe037c44b7750c9bf12986f874554e8a20e3cb9d7254838c15")
    }

    @Test func anyChangeToTheStampedFactsBreaksTheWatermark() throws {
        let watermark = try Watermark(secret: "watermark-test-key-0123456789")
        let visit = UUID()
        let at = Date().roundedToMilliseconds
        let position = GeoPosition(latitude: 30.2530, longitude: 120.1785, accuracyMeters: 8)
        let genuine = watermark.digest(visitID: visit, personID: "E1001", customerID: "H-ZJ-001", position: position, serverTime: at)
        #expect(genuine != watermark.digest(visitID: visit, personID: "E1002", customerID: "H-ZJ-001", position: position, serverTime: at))
        #expect(genuine != watermark.digest(visitID: visit, personID: "E1001", customerID: "H-ZJ-002", position: position, serverTime: at))
        #expect(genuine != watermark.digest(visitID: visit, personID: "E1001", customerID: "H-ZJ-001",
                                            position: GeoPosition(latitude: 30.2531, longitude: 120.1785, accuracyMeters: 8), serverTime: at))
        #expect(genuine != watermark.digest(visitID: visit, personID: "E1001", customerID: "H-ZJ-001", position: position, serverTime: at.addingTimeInterval(1)))
        #expect(genuine != watermark.digest(visitID: visit, personID: "E1001", customerID: "H-ZJ-001", position: nil, serverTime: at))
        let otherKey = try Watermark(secret: "another-watermark-key-01234567")
        #expect(genuine != otherKey.digest(visitID: visit, personID: "E1001", customerID: "H-ZJ-001", position: position, serverTime: at))
    }

    @Test func checkInCodesRefuseForgeryTamperingExpiryAndRetiredKeys() throws {
        let old = try CheckinCodeSigner(spec: "k1=first-checkin-key-0123456789")
        let rotated = try CheckinCodeSigner(spec: "k2=second-checkin-key-012345678,k1=first-checkin-key-0123456789")
        let retired = try CheckinCodeSigner(spec: "k2=second-checkin-key-012345678")
        let now = Date()
        let code = try old.issue(.init(customer: "H-ZJ-001", department: "", issuedAt: Int64(now.timeIntervalSince1970), expiresAt: nil))
        #expect(try rotated.verify(code, now: now).customer == "H-ZJ-001")  // old key still accepted after rotation
        #expect(throws: DomainError.self) { try retired.verify(code, now: now) }  // until it is retired
        var parts = code.split(separator: ".").map(String.init)
        parts[3] = String(parts[3].reversed())
        #expect(throws: DomainError.self) { try old.verify(parts.joined(separator: "."), now: now) }
        let expiring = try old.issue(.init(customer: "H-ZJ-001", department: "", issuedAt: 0, expiresAt: Int64(now.timeIntervalSince1970) + 60))
        #expect(try old.verify(expiring, now: now).customer == "H-ZJ-001")
        #expect(throws: DomainError.self) { try old.verify(expiring, now: now.addingTimeInterval(61)) }
    }
}
