@testable import FieldworkRuntime
import Foundation
import Testing

@Suite struct TimeOrderedIDTests {
    /// RFC 9562 layout: 48 bits of Unix milliseconds, version 7, variant 10.
    @Test func layout() {
        let at = Date(timeIntervalSince1970: 1_764_201_600.123)   // 2025-11-27 00:00:00.123 UTC
        let id = UUID.timeOrdered(at: at)
        let text = id.uuidString.lowercased()
        #expect(String(text.replacingOccurrences(of: "-", with: "").prefix(12)) == String(1_764_201_600_123, radix: 16).leftPadded(to: 12))
        #expect(Array(text)[14] == "7")
        #expect("89ab".contains(Array(text)[19]))
    }

    /// Ids made later sort later (as PostgreSQL compares uuids: byte by byte), and
    /// two made in the same millisecond still differ.
    @Test func laterIdsSortLater() {
        let start = Date(timeIntervalSince1970: 1_764_201_600)
        // One a millisecond, in the middle of it (a float's rounding must not move it to the next).
        let ids = (0..<1000).map { UUID.timeOrdered(at: start.addingTimeInterval((Double($0) + 0.5) / 1000)) }
        let texts = ids.map { $0.uuidString.lowercased() }
        let inOrder = texts == texts.sorted()
        #expect(inOrder)
        #expect(Set((0..<1000).map { _ in UUID.timeOrdered(at: start) }).count == 1000)
    }
}

private extension String {
    func leftPadded(to length: Int) -> String { String(repeating: "0", count: max(0, length - count)) + self }
}
