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
}
