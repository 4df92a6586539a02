import FieldworkDomain
import FieldworkRuntime
import Foundation
import Testing

/// `Input.text`: every free-text request field is trimmed and length-checked.
@Suite struct InputTextTests {
    /// The same white space Foundation's `.whitespacesAndNewlines` trims, with
    /// the full-width space a Chinese keyboard types among it.
    @Test(arguments: [
        ("  骨科 ", "骨科"), ("\u{3000}骨科\u{3000}\n", "骨科"), ("\t\r\nSP-NEW-01\u{00A0}", "SP-NEW-01"),
        ("器械科 主任", "器械科 主任"), ("", ""), (" \u{2028}\u{3000} ", ""), ("e\u{301} ", "e\u{301}"),
    ])
    func trimsLikeFoundation(_ value: String, _ expected: String) throws {
        #expect(Input.trimmed(value) == expected)
        #expect(Input.trimmed(value) == value.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try Input.text(value, field: "f") == expected)
    }

    @Test func blankRequiredTextNamesItsField() throws {
        #expect(throws: DomainError.invalidArgument(field: "record.department", message: "is required")) {
            try Input.text(" \u{3000} ", field: "record.department", required: true)
        }
        #expect(throws: DomainError.invalidArgument(field: "name", message: "at most 3 characters")) {
            try Input.text(" 四个汉字 ", field: "name", max: 3)
        }
        #expect(try Input.text(" 三个字 ", field: "name", max: 3) == "三个字")
    }

    /// PostgreSQL refuses NUL in text and jsonb: without this check the client
    /// got INTERNAL instead of the field's name.
    @Test(arguments: ["a\u{0}b", "SP\u{1}", "x\u{7F}", "\u{1B}[31mred"])
    func controlCharactersAreRefusedByName(_ value: String) {
        #expect(throws: DomainError.invalidArgument(field: "record.department", message: "must not contain control characters")) {
            try Input.text(value, field: "record.department")
        }
    }

    @Test func tabsAndNewlinesInsideTextAreKept() throws {
        #expect(try Input.text("第一行\n第二行\t完", field: "note", max: 100) == "第一行\n第二行\t完")
    }

    /// One letter with a thousand combining marks is one Character but a
    /// thousand and one code points: the limit counts code points.
    @Test func theLimitCountsCodePointsNotCharacters() {
        let stacked = "e" + String(repeating: "\u{301}", count: 1000)
        #expect(stacked.count == 1)
        #expect(throws: DomainError.invalidArgument(field: "name", message: "at most 200 characters")) {
            try Input.text(stacked, field: "name")
        }
    }
}
