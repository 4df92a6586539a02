import FieldworkDomain
import Testing

@Suite struct VisitRecordTests {
    let today = LocalDate(year: 2026, month: 3, day: 5)
    let catalogue: Set<String> = ["SP-NEW-01", "TR-201"]

    func record(products: [String] = ["SP-NEW-01"], surgery: LocalDate? = nil) -> VisitRecordDraft {
        VisitRecordDraft(
            productIDs: products, objection: .price, objectionNote: "价格高",
            surgerySupport: surgery.map { SurgerySupportRequest(surgeryDate: $0, department: "骨科", productIDs: ["TR-201"]) })
    }

    func field(of error: any Error) -> String? {
        guard case DomainError.invalidArgument(let field, _) = error else { return nil }
        return field
    }

    @Test func aCompleteRecordPasses() throws {
        try record(products: ["SP-NEW-01", "TR-201"], surgery: LocalDate(year: 2026, month: 3, day: 12))
            .validateForSubmission(knownProducts: catalogue, today: today)
        // Today itself is allowed: "not before today".
        try record(surgery: today).validateForSubmission(knownProducts: catalogue, today: today)
    }

    @Test func atLeastOneProduct() {
        #expect { try record(products: []).validateForSubmission(knownProducts: catalogue, today: today) } throws: {
            field(of: $0) == "record.product_ids"
        }
    }

    @Test func productsComeFromTheCatalogue() {
        #expect { try record(products: ["NOPE"]).validateForSubmission(knownProducts: catalogue, today: today) } throws: {
            field(of: $0) == "record.product_ids"
        }
    }

    @Test func aSurgeryDateBeforeTodayIsRefused() {
        #expect {
            try record(surgery: LocalDate(year: 2026, month: 3, day: 4)).validateForSubmission(knownProducts: catalogue, today: today)
        } throws: { field(of: $0) == "record.surgery_support.surgery_date" }
    }

    @Test func aNoteNeedsAnObjectionType() {
        var draft = record()
        draft.objection = nil
        #expect { try draft.validateForSubmission(knownProducts: catalogue, today: today) } throws: {
            field(of: $0) == "record.objection_note"
        }
    }
}
