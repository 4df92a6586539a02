/// Objection types a rep can record (SPEC §2.3).
public enum ObjectionType: String, CaseIterable, Sendable {
    case price = "PRICE", delivery = "DELIVERY", qualification = "QUALIFICATION"
}

/// The rep's "needs surgery support" switch (SPEC §2.4).
public struct SurgerySupportRequest: Equatable, Sendable {
    public var surgeryDate: LocalDate
    public var department: String
    public var productIDs: [String]

    public init(surgeryDate: LocalDate, department: String, productIDs: [String]) {
        self.surgeryDate = surgeryDate
        self.department = department
        self.productIDs = productIDs
    }
}

/// The structured part of a visit, as submitted at check-out (SPEC §2.3).
public struct VisitRecordDraft: Equatable, Sendable {
    public var department: String
    public var contactsMet: [String]
    public var productIDs: [String]
    public var topics: [String]
    public var commitments: [String]
    public var objection: ObjectionType?
    public var objectionNote: String
    public var intent: String
    public var stageReached: String
    public var nextStep: String
    public var surgerySupport: SurgerySupportRequest?

    public init(
        department: String = "", contactsMet: [String] = [], productIDs: [String] = [], topics: [String] = [],
        commitments: [String] = [], objection: ObjectionType? = nil, objectionNote: String = "", intent: String = "",
        stageReached: String = "", nextStep: String = "", surgerySupport: SurgerySupportRequest? = nil
    ) {
        self.department = department
        self.contactsMet = contactsMet
        self.productIDs = productIDs
        self.topics = topics
        self.commitments = commitments
        self.objection = objection
        self.objectionNote = objectionNote
        self.intent = intent
        self.stageReached = stageReached
        self.nextStep = nextStep
        self.surgerySupport = surgerySupport
    }

    /// Checks what a submitted record must satisfy. `knownProducts` is the
    /// catalogue; `today` is the business-time-zone day of the submission.
    public func validateForSubmission(knownProducts: Set<String>, today: LocalDate) throws {
        guard !productIDs.isEmpty else {
            throw DomainError.invalidArgument(field: "record.product_ids", message: "at least one product is required")
        }
        if let unknown = productIDs.first(where: { !knownProducts.contains($0) }) {
            throw DomainError.invalidArgument(field: "record.product_ids", message: "'\(unknown)' is not in the product catalogue")
        }
        if objection == nil, !objectionNote.isEmpty {
            throw DomainError.invalidArgument(field: "record.objection_note", message: "a note needs an objection type")
        }
        for (field, text, limit) in [("record.objection_note", objectionNote, 2000), ("record.next_step", nextStep, 2000)]
        where text.count > limit {
            throw DomainError.invalidArgument(field: field, message: "at most \(limit) characters")
        }
        if let support = surgerySupport {
            guard support.surgeryDate.isValid else {
                throw DomainError.invalidArgument(field: "record.surgery_support.surgery_date", message: "not a calendar date")
            }
            guard support.surgeryDate >= today else {
                throw DomainError.invalidArgument(
                    field: "record.surgery_support.surgery_date",
                    message: "\(support.surgeryDate) is before today (\(today))"
                )
            }
            guard !support.department.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw DomainError.invalidArgument(field: "record.surgery_support.department", message: "is required")
            }
            if let unknown = support.productIDs.first(where: { !knownProducts.contains($0) }) {
                throw DomainError.invalidArgument(field: "record.surgery_support.product_ids", message: "'\(unknown)' is not in the product catalogue")
            }
        }
    }
}
