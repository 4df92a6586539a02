import FieldworkDomain
import FieldworkProto
import Foundation
import SwiftProtobuf

extension Fieldwork_V1_Date {
    public init(_ date: LocalDate) {
        self.init()
        year = Int32(date.year)
        month = Int32(date.month)
        day = Int32(date.day)
    }

    /// The calendar day, or `invalidArgument` naming `field`.
    public func localDate(field: String) throws -> LocalDate {
        let date = LocalDate(year: Int(year), month: Int(month), day: Int(day))
        guard date.isValid else {
            throw DomainError.invalidArgument(field: field, message: "\(year)-\(month)-\(day) is not a calendar date")
        }
        return date
    }
}

extension Google_Protobuf_Timestamp {
    /// Seconds from Foundation's `Date.distantPast` (0001-01-01, Julian; clients
    /// send it to mean "before anything") to 9999-12-31 23:59:59 UTC: what
    /// Foundation, PostgreSQL and people agree on. Outside it SwiftProtobuf's
    /// `date` and PostgresNIO's encoding overflow and trap, taking the process down.
    static let acceptedSeconds: ClosedRange<Int64> = -62_135_769_600...253_402_300_799

    /// The instant a client sent, or `invalidArgument` naming `field`. Every
    /// timestamp in a request goes through here, never through `date` directly.
    public func instant(field: String) throws -> Date {
        guard Self.acceptedSeconds.contains(seconds), (0..<1_000_000_000).contains(nanos) else {
            throw DomainError.invalidArgument(field: field, message: "must be a time in the years 1–9999")
        }
        return date
    }
}

extension Fieldwork_V1_GeoPoint {
    public init(_ position: GeoPosition) {
        self.init()
        latitude = position.latitude
        longitude = position.longitude
        accuracyM = position.accuracyMeters
    }

    public var position: GeoPosition { GeoPosition(latitude: latitude, longitude: longitude, accuracyMeters: accuracyM) }
}

/// Text limits for free-form request fields, so a confused or hostile client
/// cannot store megabytes in a name.
public enum Input {
    public static func text(_ value: String, field: String, max: Int = 200, required: Bool = false) throws -> String {
        let trimmed = trimmed(value)
        if required && trimmed.isEmpty { throw DomainError.invalidArgument(field: field, message: "is required") }
        // Counted in code points, not in what a reader sees as characters: one
        // letter with a thousand combining marks is one Character.
        guard trimmed.unicodeScalars.count <= max else { throw DomainError.invalidArgument(field: field, message: "at most \(max) characters") }
        // PostgreSQL refuses NUL in text and jsonb (an INTERNAL error, not the
        // client's field); no other control character belongs in a CRM's text.
        if trimmed.unicodeScalars.contains(where: { ($0.value < 0x20 || $0.value == 0x7F) && $0 != "\t" && $0 != "\n" && $0 != "\r" }) {
            throw DomainError.invalidArgument(field: field, message: "must not contain control characters")
        }
        return trimmed
    }

    /// `value` without leading and trailing white space and newlines (Unicode
    /// White_Space, as Foundation's `.whitespacesAndNewlines`, so a full-width
    /// U+3000 from a Chinese keyboard goes too). In Swift, not bridged through
    /// NSString: every text field of every request passes here.
    public static func trimmed(_ value: String) -> String {
        guard let first = value.firstIndex(where: { !$0.isWhitespace }),
              let last = value.lastIndex(where: { !$0.isWhitespace }) else { return "" }
        if first == value.startIndex, value.index(after: last) == value.endIndex { return value }
        return String(value[first...last])
    }

    /// An id an admin chooses for a piece of configuration (a template, chain or
    /// route): 1–64 lower-case letters, digits and '-'.
    public static func slug(_ value: String, field: String) throws -> String {
        let id = try text(value, field: field, max: 64, required: true)
        guard id.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw DomainError.invalidArgument(field: field, message: "use lower-case letters, digits and '-'")
        }
        return id
    }

    /// A client request id for idempotent commands: optional, at most 128 characters.
    public static func requestID(_ value: String) throws -> String {
        try text(value, field: "request_id", max: 128)
    }
}
