import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import SwiftProtobuf
import Testing

/// Times and page tokens from a client. Before these checks, a timestamp of
/// year 300 000 or a token like "inf/<uuid>" trapped in SwiftProtobuf's or
/// PostgresNIO's arithmetic and took the whole service down.
@Suite struct RequestTimeTests {
    static let id = "0190a0b0-0000-7000-8000-000000000001"

    @Test(arguments: [Int64.min, -62_135_769_601, 253_402_300_800, 10_000_000_000_000, Int64.max])
    func timestampsOutsideYears1To9999AreRefusedByName(_ seconds: Int64) {
        let timestamp = Google_Protobuf_Timestamp(seconds: seconds, nanos: 0)
        #expect(throws: DomainError.invalidArgument(field: "device_time", message: "must be a time in the years 1–9999")) {
            try timestamp.instant(field: "device_time")
        }
    }

    /// Clients send Foundation's sentinels ("as of before anything"); both are in range.
    @Test func foundationsDistantPastAndFutureAreAccepted() throws {
        #expect(try Google_Protobuf_Timestamp(date: .distantPast).instant(field: "as_of") == .distantPast)
        #expect(try Google_Protobuf_Timestamp(date: .distantFuture).instant(field: "as_of") == .distantFuture)
    }

    @Test func nanosOutsideASecondAreRefused() {
        #expect(throws: DomainError.self) { try Google_Protobuf_Timestamp(seconds: 0, nanos: -1).instant(field: "t") }
        #expect(throws: DomainError.self) { try Google_Protobuf_Timestamp(seconds: 0, nanos: 1_000_000_000).instant(field: "t") }
    }

    @Test func timestampsInsideTheRangeAreTheirInstant() throws {
        for seconds: Int64 in [-62_135_769_600, -62_135_596_800, 0, 1_764_950_400, 253_402_300_799] {
            let date = try Google_Protobuf_Timestamp(seconds: seconds, nanos: 500_000_000).instant(field: "t")
            #expect(date.timeIntervalSince1970 == Double(seconds) + 0.5)
        }
    }

    @Test func aTimeRangeNamesTheEndThatIsOutOfRange() {
        var range = Fieldwork_V1_TimeRange()
        range.to = Google_Protobuf_Timestamp(seconds: Int64.max, nanos: 0)
        #expect(throws: DomainError.invalidArgument(field: "range.to", message: "must be a time in the years 1–9999")) {
            try TimeWindow(range)
        }
        range.to = Google_Protobuf_Timestamp(seconds: 0, nanos: 0)
        range.from = Google_Protobuf_Timestamp(seconds: Int64.min, nanos: 0)
        #expect(throws: DomainError.invalidArgument(field: "range.from", message: "must be a time in the years 1–9999")) {
            try TimeWindow(range)
        }
    }

    static func page(token key: String) throws -> Page {
        try Page(.with { $0.pageToken = Data("k:\(key)".utf8).base64EncodedString() })
    }

    @Test(arguments: ["inf/\(id)", "-inf/\(id)", "nan/\(id)", "1e300/\(id)", "1e12/\(id)"])
    func forgedTimeKeysAreRefused(_ key: String) throws {
        let page = try Self.page(token: key)
        #expect(throws: DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")) {
            try page.timeKey()
        }
    }

    @Test func aTimeKeyThisServerIssuedReadsBack() throws {
        let at = Date(timeIntervalSince1970: 1_764_950_400.125)
        let key = try #require(try Self.page(token: Page.timeKey(at, Self.id)).timeKey())
        #expect(key.at == at)
        #expect(key.id == UUID(uuidString: Self.id))
    }

    @Test(arguments: ["\(Int.max)", "-1", "2147483648"])
    func forgedOffsetsAreRefused(_ key: String) throws {
        let page = try Self.page(token: key)
        #expect(throws: DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")) {
            try page.offset()
        }
    }
}
