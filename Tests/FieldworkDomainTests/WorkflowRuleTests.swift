import FieldworkDomain
import Foundation
import Testing

@Suite struct WorkflowRuleTests {
    @Test func cardsMoveOnlyForward() throws {
        #expect(try CardStatus.open.moving(to: .inProgress) == .inProgress)
        #expect(try CardStatus.inProgress.moving(to: .done) == .done)
        #expect(CardStatus.open.canMove(to: .cancelled) && CardStatus.inProgress.canMove(to: .cancelled))
        #expect(!CardStatus.open.canMove(to: .done))            // work starts before it is done
        #expect(!CardStatus.inProgress.canMove(to: .open))
        #expect(!CardStatus.open.canMove(to: .open))
        for closed in [CardStatus.done, .cancelled] {
            #expect(closed.isClosed)
            for next in CardStatus.allCases { #expect(!closed.canMove(to: next)) }
        }
        #expect(throws: DomainError.failedPrecondition("cannot move a card from DONE to IN_PROGRESS: a DONE card is closed")) {
            try CardStatus.done.moving(to: .inProgress)
        }
    }

    @Test func escalationLevelsAreDueAStepApart() {
        let ladder = EscalationLadder(stepHours: 24)
        let due = Date(timeIntervalSince1970: 1_000_000)
        #expect(ladder.nextDue(after: 0, firstResponseDue: due) == due)
        #expect(ladder.nextDue(after: 1, firstResponseDue: due) == due.addingTimeInterval(24 * 3600))
        #expect(ladder.nextDue(after: 2, firstResponseDue: due) == nil)   // the director is the top
        #expect(EscalationLadder(stepHours: 8).nextDue(after: 1, firstResponseDue: due) == due.addingTimeInterval(8 * 3600))
    }

    @Test func attachmentsAreCheckedByTypeSizeSignatureAndName() throws {
        let policy = AttachmentPolicy(maxBytes: 100)
        #expect(try policy.contentType("Image/PNG; charset=binary") == "image/png")
        #expect(throws: DomainError.self) { try policy.contentType("application/x-msdownload") }
        #expect(throws: DomainError.self) { try policy.contentType("") }
        try policy.check(totalBytes: 100)
        #expect(throws: DomainError.self) { try policy.check(totalBytes: 101) }
        try policy.checkSignature(Array("%PDF-1.7".utf8), contentType: "application/pdf")
        #expect(throws: DomainError.self) { try policy.checkSignature([0x4D, 0x5A, 0x90, 0x00], contentType: "image/jpeg") }
        try policy.checkSignature([0x50, 0x4B, 0x03, 0x04, 0x14],
                                  contentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        #expect(try policy.fileName("  器械包照片.jpg ") == "器械包照片.jpg")
        for bad in ["", "../x.png", "a/b.png", "a\\b.png", "..", "a\u{0}.png", String(repeating: "x", count: 201)] {
            #expect(throws: DomainError.self) { try policy.fileName(bad) }
        }
    }

    @Test func theContractChainFollowsTheAmount() throws {
        func approvers(_ yuan: Int64, _ line: String = "spine", chain: [ApprovalStepRule] = ApprovalRules.contract) -> [String] {
            ApprovalRules.steps(of: chain, amountFen: yuan * 100, productLine: line).map(\.approver.rawValue)
        }
        #expect(approvers(99_999) == ["manager"])
        #expect(approvers(100_000) == ["manager", "director"])
        #expect(approvers(999_999) == ["manager", "director"])
        #expect(approvers(1_000_000) == ["manager", "director", "finance", "general_manager"])
        let lab: [ApprovalStepRule] = [.init(approver: .manager), .init(approver: .finance, productLines: ["lab"])]
        #expect(approvers(10, "lab", chain: lab) == ["manager", "finance"])
        #expect(approvers(10, "spine", chain: lab) == ["manager"])
        try ApprovalRules.validate(ApprovalRules.contract)
        #expect(throws: DomainError.self) { try ApprovalRules.validate([]) }
        #expect(throws: DomainError.self) { try ApprovalRules.validate([.init(approver: .manager), .init(approver: .manager)]) }
        #expect(throws: DomainError.self) { try ApprovalRules.validate([.init(approver: .manager, minAmountFen: -1)]) }
    }

    @Test func templatePlaceholdersAreListed() {
        #expect(TemplateText.placeholders(in: "跟台：{customer_name} {surgery_date}") == ["customer_name", "surgery_date"])
        #expect(TemplateText.placeholders(in: "no variables {unclosed") == [])
    }
}
