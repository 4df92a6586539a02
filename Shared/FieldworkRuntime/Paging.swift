import FieldworkDomain
import FieldworkProto
import Foundation

/// Keyset paging: the opaque token carries the last key seen, so pages stay
/// stable while rows are added.
public struct Page: Sendable {
    public static let defaultSize = 50
    public static let maximumSize = 500

    public var size: Int
    /// The key after which this page starts; empty for the first page.
    public var after: String

    public init(_ request: Fieldwork_V1_PageRequest) throws {
        guard request.pageSize >= 0, Int(request.pageSize) <= Self.maximumSize else {
            throw DomainError.invalidArgument(field: "page.page_size", message: "must be within 0–\(Self.maximumSize)")
        }
        size = request.pageSize == 0 ? Self.defaultSize : Int(request.pageSize)
        if request.pageToken.isEmpty {
            after = ""
        } else {
            // Keys are compared in SQL as text: a NUL or other control character
            // would fail there (INTERNAL) instead of here.
            guard let data = Data(base64Encoded: request.pageToken), let text = String(data: data, encoding: .utf8),
                  text.hasPrefix("k:"), !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")
            }
            after = String(text.dropFirst(2))
        }
    }

    /// Fetch `size + 1` rows; this trims the extra one and makes the next token from the last key.
    public func finish<Row>(_ rows: [Row], key: (Row) -> String) -> (rows: [Row], page: Fieldwork_V1_PageResponse) {
        var response = Fieldwork_V1_PageResponse()
        guard rows.count > size else { return (rows, response) }
        let shown = Array(rows.prefix(size))
        response.nextPageToken = Data("k:\(key(shown[shown.count - 1]))".utf8).base64EncodedString()
        return (shown, response)
    }

    public var limit: Int { size + 1 }
}

/// A validated time range; unset ends are open.
public struct TimeWindow: Sendable {
    public var from: Date
    public var to: Date

    public init(from: Date, to: Date) {
        self.from = from
        self.to = to
    }

    public init(_ range: Fieldwork_V1_TimeRange, field: String = "range") throws {
        from = range.hasFrom ? try range.from.instant(field: "\(field).from") : Date.distantPast
        to = range.hasTo ? try range.to.instant(field: "\(field).to") : Date.distantFuture
        guard from <= to else { throw DomainError.invalidArgument(field: "\(field).from", message: "is after \(field).to") }
    }
}

extension Page {
    /// The key of lists paged by (time, id), e.g. newest first: nil on the first page.
    public func timeKey() throws -> (at: Date, id: UUID)? {
        guard !after.isEmpty else { return nil }
        let parts = after.split(separator: "/")
        guard parts.count == 2, let at = Self.instant(parts[0]), let id = UUID(uuidString: String(parts[1])) else {
            throw DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")
        }
        return (at, id)
    }

    /// The key `timeKey()` reads back.
    public static func timeKey(_ at: Date, _ id: String) -> String { "\(at.timeIntervalSince1970)/\(id)" }

    /// The key of lists paged by time alone (one row per instant, e.g. a
    /// customer's health history): nil on the first page.
    public func instantKey() throws -> Date? {
        guard !after.isEmpty else { return nil }
        guard let at = Self.instant(Substring(after)) else {
            throw DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")
        }
        return at
    }

    /// The key `instantKey()` reads back.
    public static func instantKey(_ at: Date) -> String { String(at.timeIntervalSince1970) }

    /// Seconds since 1970 within ±1e12 (about ±31 700 years): a forged time
    /// (nan, inf, 1e300) would trap where PostgresNIO encodes it.
    private static func instant(_ text: Substring) -> Date? {
        guard let seconds = Double(text), abs(seconds) < 1e12 else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }
}

extension Page {
    /// The key of lists paged by id: nil on the first page.
    public func idKey() throws -> UUID? {
        guard !after.isEmpty else { return nil }
        guard let id = UUID(uuidString: after) else {
            throw DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")
        }
        return id
    }
}

extension Page {
    /// The key of lists paged by a sequence number (timelines, queues, cursors):
    /// nil on the first page.
    public func sequenceKey() throws -> Int64? {
        guard !after.isEmpty else { return nil }
        guard let sequence = Int64(after), sequence >= 0 else {
            throw DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")
        }
        return sequence
    }
}

extension Page {
    /// The row offset of lists paged by position: a scoring run's table, which
    /// never changes once written.
    public func offset() throws -> Int {
        guard !after.isEmpty else { return 0 }
        // Bounded so that `offset + size` for the next token cannot overflow.
        guard let offset = Int(after), (0...Int(Int32.max)).contains(offset) else {
            throw DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")
        }
        return offset
    }

    /// Fetch `size + 1` rows from `offset`; this trims the extra one and makes the next token.
    public func finish<Row>(_ rows: [Row], offset: Int) -> (rows: [Row], page: Fieldwork_V1_PageResponse) {
        finish(rows) { _ in String(offset + size) }
    }
}
