import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import PostgresNIO

/// Check-in codes, check-in/out and visit records (SPEC §2.1–2.4, §2.9).
extension VisitsService {
    func issueCheckinCode(_ request: Fieldwork_V1_IssueCheckinCodeRequest) async throws -> Fieldwork_V1_CheckinCode {
        let customerID = try Input.text(request.customerID, field: "customer_id", required: true)
        let department = try Input.text(request.department, field: "department", max: 32)
        let now = environment.clock.now()
        let expiresAt = request.hasExpiresAt ? try request.expiresAt.instant(field: "expires_at") : nil
        if let expiresAt, expiresAt <= now {
            throw DomainError.invalidArgument(field: "expires_at", message: "is in the past")
        }
        let (customer, signer) = try await environment.postgres.withConnection { connection in
            (try await directory.customer(customerID, on: connection), try await keyring.signer(on: connection))
        }
        guard let customer else { throw DomainError.notFound(entity: "customer", id: customerID) }
        // SPEC §8.3: admins print every code; operations staff their own region's.
        let principal = try Principal.required()
        guard principal.has(.admin) || (principal.has(.ops) && !principal.region.isEmpty && customer.0.region == principal.region) else {
            throw DomainError.permissionDenied("check-in codes of \(customer.0.name) are printed by its region's operations staff or an admin")
        }
        if !department.isEmpty, !customer.0.departments.contains(department) {
            throw DomainError.invalidArgument(field: "department", message: "'\(department)' is not a department of \(customer.0.name)")
        }
        let payload = CheckinCodeSigner.Payload(
            customer: customerID, department: department, issuedAt: Int64(now.timeIntervalSince1970),
            expiresAt: expiresAt.map { Int64($0.timeIntervalSince1970) })
        let token = try signer.issue(payload)
        return .with {
            $0.token = token
            $0.keyID = signer.activeKeyID
            $0.customerID = customerID
            $0.department = department
            if request.hasExpiresAt { $0.expiresAt = request.expiresAt }
        }
    }

    func rotateCheckinKey(_ request: Fieldwork_V1_RotateCheckinKeyRequest) async throws -> Fieldwork_V1_RotateCheckinKeyResponse {
        let retire = try request.retireKeyIds.map { try Input.text($0, field: "retire_key_ids", max: 64, required: true) }
        return try await environment.command("RotateCheckinKey", requestID: request.requestID) { connection, principal, now in
            try await keyring.rotate(retire: retire, by: principal, at: now, requestID: request.requestID, on: connection)
        }
    }

    /// Creates the visit at once, stamped with server time and the GPS watermark.
    /// No GPS → VOID; outside the fence → OUT_OF_RANGE with the distance; a repeat
    /// within 10 minutes returns the open visit (SPEC §2.2).
    func checkIn(_ request: Fieldwork_V1_CheckInRequest) async throws -> Fieldwork_V1_Visit {
        let text = try Input.text(request.code, field: "code", max: 2048, required: true)
        let (code, keyID) = try await keyring.verify(text, now: environment.clock.now())
        let position = request.hasLocation ? try request.location.position.validated(field: "location") : nil
        if request.hasDeviceTime { _ = try request.deviceTime.instant(field: "device_time") }
        // Its one write is one statement (`insertUnlessOpen`): no transaction needed.
        return try await environment.command("CheckIn", requestID: request.requestID, inTransaction: false) { connection, principal, now in
            let serverTime = now.roundedToMilliseconds
            guard let site = try await visits.checkInSite(customer: code.customer, keyID: keyID, on: connection) else {
                throw DomainError.notFound(entity: "customer", id: code.customer)
            }
            guard site.keyInForce else { throw CheckinCodeSigner.refused("was signed with an unknown or retired key") }
            let id = UUID.timeOrdered()
            var visit = Fieldwork_V1_Visit()
            visit.id = id.uuidString.lowercased()
            visit.repID = principal.personID
            visit.customerID = site.customerID
            visit.checkinDepartment = code.department
            visit.checkedInAt = .init(serverTime)
            if request.hasDeviceTime { visit.deviceTime = request.deviceTime }
            visit.status = .open
            switch CheckInClassification.classify(position: position, fence: site.fence) {
            case .void(let reason):
                visit.status = .void
                visit.voidReason = reason
            case .outOfRange(let distance):
                visit.outOfRange = true
                visit.distanceM = distance.rounded()
            case .inRange(let distance):
                visit.distanceM = distance.rounded()
            }
            if let position { visit.checkInLocation = .init(position) }
            visit.watermark = visits.watermark.digest(
                visitID: id, personID: principal.personID, customerID: site.customerID, position: position, serverTime: serverTime)
            let audit = AuditRecord(entityType: "visit", entityID: visit.id, action: "check_in", changes: [
                .init("status", "", visit.status.name), .init("customer_id", "", site.customerID),
                .init("distance_m", "", String(visit.distanceM)), .init("out_of_range", "", String(visit.outOfRange)),
            ])
            let open = try await visits.insertUnlessOpen(
                visit, since: serverTime.addingTimeInterval(-CheckInClassification.repeatWindowSeconds), audit: audit,
                by: principal, requestID: request.requestID, on: connection)
            return open ?? visit
        }
    }

    func checkOut(_ request: Fieldwork_V1_CheckOutRequest) async throws -> Fieldwork_V1_Visit {
        guard request.hasLocation else {
            throw DomainError.invalidArgument(field: "location", message: "check-out stamps a second GPS point; it is required")
        }
        return try await submit(
            "CheckOut", visitID: request.visitID, requestID: request.requestID,
            record: request.hasRecord ? request.record : nil, location: try request.location.position.validated(field: "location"))
    }

    func submitVisit(_ request: Fieldwork_V1_SubmitVisitRequest) async throws -> Fieldwork_V1_Visit {
        try await submit(
            "SubmitVisit", visitID: request.visitID, requestID: request.requestID,
            record: request.hasRecord ? request.record : nil,
            location: request.hasLocation ? try request.location.position.validated(field: "location") : nil)
    }

    /// Submits an open visit: validates the record (products from the catalogue;
    /// a surgery date not before today), stores it read-only, and publishes
    /// VisitSubmitted and, when the switch is on, SupportRequested — all at once,
    /// so a refused record leaves nothing behind anywhere.
    ///
    /// Optimistic: the visit is read without a lock and stored only if its row is
    /// unchanged since (a double submit, a draft saved meanwhile), else the whole
    /// call goes round again and sees the change. Storing is one statement, so a
    /// transaction is needed only when the record moves funnel stages, whose
    /// writes must commit with it (or when that is not known before the read:
    /// submitting the saved draft).
    private func submit(
        _ method: String, visitID rawID: String, requestID: String, record newRecord: Fieldwork_V1_VisitRecord?, location: GeoPosition?
    ) async throws -> Fieldwork_V1_Visit {
        let id = try visitUUID(rawID, field: "visit_id")
        // Shape checks first; the catalogue is asked for the checked (trimmed, at most 50) ids.
        let checked = try newRecord?.checked()
        let inTransaction = newRecord.map { $0.stageReached != .unspecified } ?? true
        for _ in 1...Self.submitAttempts {
            do {
                return try await environment.command(method, requestID: requestID, inTransaction: inTransaction) { connection, principal, now in
                    try await submitOnce(
                        id, rawID: rawID, requestID: requestID, checked: checked, location: location,
                        by: principal, at: now, on: connection)
                }
            } catch is VisitChangedMeanwhile {
                continue
            }
        }
        throw DomainError.aborted("visit \(rawID) kept changing while it was being submitted; try again")
    }

    private static let submitAttempts = 3

    /// Whether a submitted visit's stage may move its customer's funnel: not out
    /// of range (a VOID visit is never submitted), and by the owning rep or an
    /// academic specialist or key-account manager of the customer's region.
    private func movesFunnel(_ visit: Fieldwork_V1_Visit, _ principal: Principal, on connection: PostgresConnection) async throws -> Bool {
        guard !visit.outOfRange, let customer = try await directory.customer(visit.customerID, on: connection)?.0 else { return false }
        return customer.ownerRepID == visit.repID
            || (principal.hasAny([.academic, .kam]) && !principal.region.isEmpty && customer.region == principal.region)
    }

    /// The visit changed between `submitOnce`'s read and its write.
    private struct VisitChangedMeanwhile: Error {}

    private func submitOnce(
        _ id: UUID, rawID: String, requestID: String, checked newRecord: (record: Fieldwork_V1_VisitRecord, draft: VisitRecordDraft)?,
        location: GeoPosition?, by principal: Principal, at now: Date, on connection: PostgresConnection
    ) async throws -> Fieldwork_V1_Visit {
        let asked = newRecord.map { $0.draft.productIDs + ($0.draft.surgerySupport?.productIDs ?? []) } ?? []
        guard var submission = try await visits.submission(id, products: asked, on: connection) else {
            throw DomainError.notFound(entity: "visit", id: rawID)
        }
        var visit = submission.visit
        guard visit.repID == principal.personID else { throw DomainError.permissionDenied("only the visiting rep submits a visit") }
        switch visit.status {
        case .open: break
        case .void: throw DomainError.failedPrecondition("visit \(rawID) is VOID (\(visit.voidReason)) and cannot be submitted")
        default: throw DomainError.failedPrecondition("visit \(rawID) is already submitted; use AmendVisit with a reason")
        }
        let (record, draft) = try newRecord ?? visit.record.checked()
        if newRecord == nil {
            // Submitting the saved draft: its products were not known before the visit was read.
            submission.catalogue = try await directory.catalogue(draft.productIDs + (draft.surgerySupport?.productIDs ?? []), on: connection)
        }
        let catalogue = submission.catalogue
        try draft.validateForSubmission(knownProducts: Set(catalogue.keys), today: environment.calendar.day(of: now))
        // SPEC §8.3: the record keeps the stage the rep saw, but only a valid visit by
        // the customer's owner (or an academic or kam of its region) moves the funnel.
        let movesFunnel = record.stageReached != .unspecified
            ? try await movesFunnel(visit, principal, on: connection) : false
        if movesFunnel {
            // In the command's transaction (see `submit`): a refused store below rolls these back.
            for line in Set(draft.productIDs.compactMap { catalogue[$0]?.line }).sorted() {
                try await moveStage(customer: visit.customerID, line: line, to: record.stageReached, by: principal, at: now,
                                    requestID: requestID, onlyForward: true, on: connection)
            }
        }

        visit.status = .submitted
        visit.record = record
        visit.checkedOutAt = .init(now)
        if let location { visit.checkOutLocation = .init(location) }
        var events: [(payload: Fieldwork_V1_Event.OneOf_Payload, aggregateID: String)] = [(.visitSubmitted(.with {
            $0.visitID = visit.id
            $0.repID = visit.repID
            $0.customerID = visit.customerID
            $0.department = record.department
            $0.productIds = record.productIds
            $0.objectionType = record.objectionType.name
            $0.intent = String(describing: record.intent)
            $0.stageReached = movesFunnel ? Self.stageName(record.stageReached) : ""
            $0.countsTowardPlan = !visit.outOfRange
            $0.checkedInAt = visit.checkedInAt
        }), "visit:\(visit.id)")]
        if let support = draft.surgerySupport {
            events.append((.supportRequested(.with {
                $0.visitID = visit.id
                $0.repID = visit.repID
                $0.repName = submission.repName.isEmpty ? visit.repID : submission.repName
                $0.customerID = visit.customerID
                $0.customerName = submission.customerName.isEmpty ? visit.customerID : submission.customerName
                $0.region = submission.customerRegion
                $0.department = support.department
                $0.surgeryDate = .init(support.surgeryDate)
                $0.productIds = support.productIDs.isEmpty ? draft.productIDs : support.productIDs
                $0.productNames = $0.productIds.map { catalogue[$0]?.name ?? $0 }
            }), "visit:\(visit.id)"))
        }
        let stored = try await visits.submit(
            id, version: submission.version, record: record, checkout: location, at: now,
            audit: AuditRecord(entityType: "visit", entityID: visit.id, action: "submit", changes: [
                .init("status", "OPEN", "SUBMITTED"), .init("product_ids", "", draft.productIDs.joined(separator: "|")),
                .init("objection_type", "", record.objectionType.name),
                .init("surgery_support", "", draft.surgerySupport.map { "\($0.surgeryDate) \($0.department)" } ?? ""),
            ]),
            events: try Outbox.Batch(events, source: environment.outbox.source, at: now),
            by: principal, requestID: requestID, on: connection)
        guard stored else { throw VisitChangedMeanwhile() }
        return visit
    }

    func updateVisitDraft(_ request: Fieldwork_V1_UpdateVisitDraftRequest) async throws -> Fieldwork_V1_Visit {
        let id = try visitUUID(request.visitID, field: "visit_id")
        let record = try request.record.checked().record  // shape checks now; catalogue and dates at submit
        return try await environment.command("UpdateVisitDraft", requestID: request.requestID) { connection, principal, now in
            guard var visit = try await visits.visit(id, on: connection, forUpdate: true) else {
                throw DomainError.notFound(entity: "visit", id: request.visitID)
            }
            guard visit.repID == principal.personID else { throw DomainError.permissionDenied("only the visiting rep edits a visit") }
            guard visit.status == .open else { throw DomainError.failedPrecondition("visit \(request.visitID) is \(visit.status.name), not OPEN") }
            try await visits.saveDraft(id, record: record, on: connection)
            try await environment.audit(
                AuditRecord(entityType: "visit", entityID: visit.id, action: "update_draft",
                            changes: [.init("record", try visit.record.jsonString(), try record.jsonString())]),
                by: principal, at: now, requestID: request.requestID, on: connection)
            visit.record = record
            return visit
        }
    }

    /// A submitted record changes only through an amendment with a reason (SPEC §2.3).
    /// The surgery-support switch is not amendable: its request was sent at submission.
    func amendVisit(_ request: Fieldwork_V1_AmendVisitRequest) async throws -> Fieldwork_V1_Visit {
        let id = try visitUUID(request.visitID, field: "visit_id")
        let reason = try Input.text(request.reason, field: "reason", max: 1000, required: true)
        let (record, draft) = try request.record.checked()
        return try await environment.command("AmendVisit", requestID: request.requestID) { connection, principal, now in
            guard var visit = try await visits.visit(id, on: connection, forUpdate: true) else {
                throw DomainError.notFound(entity: "visit", id: request.visitID)
            }
            guard visit.repID == principal.personID else { throw DomainError.permissionDenied("only the visiting rep amends a visit") }
            guard visit.status == .submitted else { throw DomainError.failedPrecondition("visit \(request.visitID) is \(visit.status.name); only submitted visits are amended") }
            // Compared as checked: records stored before `checked()` existed kept the request's own text.
            let submittedSupport = (try? visit.record.checked().record.surgerySupport) ?? visit.record.surgerySupport
            guard record.surgerySupport == submittedSupport else {
                throw DomainError.failedPrecondition("record.surgery_support: surgery support was requested at submission and cannot be amended")
            }
            let catalogue = try await directory.catalogue(draft.productIDs, on: connection)
            // The surgery date was checked at submission; an amendment does not re-judge it against today.
            var withoutSupport = draft
            withoutSupport.surgerySupport = nil
            try withoutSupport.validateForSubmission(knownProducts: Set(catalogue.keys), today: environment.calendar.day(of: now))
            try await connection.query(
                """
                UPDATE visits SET record = \(try record.jsonString())::jsonb, amendments = amendments + 1,
                    objection_type = \(record.objectionType.name), product_ids = \(record.productIds)
                WHERE id = \(id)
                """, logger: environment.logger)
            try await environment.audit(
                AuditRecord(entityType: "visit", entityID: visit.id, action: "amend",
                            changes: [.init("record", try visit.record.jsonString(), try record.jsonString())], reason: reason),
                by: principal, at: now, requestID: request.requestID, on: connection)
            visit.record = record
            visit.amendments += 1
            return visit
        }
    }

    func getVisit(_ request: Fieldwork_V1_GetVisitRequest) async throws -> Fieldwork_V1_Visit {
        let id = try visitUUID(request.id, field: "id")
        let principal = try Principal.required()
        return try await environment.postgres.withConnection { connection in
            guard let visit = try await visits.visit(id, on: connection) else { throw DomainError.notFound(entity: "visit", id: request.id) }
            guard try await mayView(visit, principal, on: connection) else {
                throw DomainError.permissionDenied("visit \(request.id) belongs to someone outside your team or region")
            }
            return visit
        }
    }

    func listVisits(_ request: Fieldwork_V1_ListVisitsRequest) async throws -> Fieldwork_V1_ListVisitsResponse {
        let page = try Page(request.page)
        if case .UNRECOGNIZED(let value) = request.status {
            throw DomainError.invalidArgument(field: "status", message: "unknown value \(value)")
        }
        let principal = try Principal.required()
        let list = try await visits.list(
            visibleTo: try await scope(of: principal), rep: try Input.text(request.repID, field: "rep_id"),
            customer: try Input.text(request.customerID, field: "customer_id"),
            status: request.status == .unspecified ? "" : request.status.name, window: try TimeWindow(request.range), page: page)
        let finished = page.finish(list) { $0.id }
        return .with { $0.visits = finished.rows; $0.page = finished.page }
    }

    func verifyWatermark(_ request: Fieldwork_V1_VerifyWatermarkRequest) async throws -> Fieldwork_V1_VerifyWatermarkResponse {
        let id = try visitUUID(request.visitID, field: "visit_id")
        let visit = try await environment.postgres.withConnection { try await visits.visit(id, on: $0) }
        guard let visit else { throw DomainError.notFound(entity: "visit", id: request.visitID) }
        let expected = visits.watermark.digest(
            visitID: id, personID: visit.repID, customerID: visit.customerID,
            position: visit.hasCheckInLocation ? visit.checkInLocation.position : nil, serverTime: visit.checkedInAt.date)
        return .with { $0.visitID = visit.id; $0.valid = expected == visit.watermark }
    }

    /// SPEC §8.2: own records; a manager their whole team; a director their region; executive and admin all.
    private func mayView(_ visit: Fieldwork_V1_Visit, _ principal: Principal, on connection: PostgresConnection) async throws -> Bool {
        try await mayView(person: visit.repID, principal, on: connection)
    }

    /// Whether `principal` may see what belongs to `personID` (records, plans).
    func mayView(person personID: String, _ principal: Principal, on connection: PostgresConnection) async throws -> Bool {
        if personID == principal.personID { return true }
        return try await scope(of: principal, on: connection).includes(personID)
    }

    /// The people whose visit records and plans `principal` may see (SPEC §8.2).
    func scope(of principal: Principal) async throws -> Scope {
        try await Scope.of(principal, reach: Scope.reach(of: principal), directory: .people, on: environment.postgres, logger: environment.logger)
    }

    func scope(of principal: Principal, on connection: PostgresConnection) async throws -> Scope {
        try await Scope.of(principal, reach: Scope.reach(of: principal), directory: .people, on: connection, logger: environment.logger)
    }

    private func visitUUID(_ text: String, field: String) throws -> UUID {
        guard let id = UUID(uuidString: text) else { throw DomainError.invalidArgument(field: field, message: "'\(text)' is not a visit id") }
        return id
    }
}

extension Fieldwork_V1_VisitRecord {
    /// The record as `domain()` checked it, with its draft: texts trimmed, the
    /// surgery-support fields kept only when support is needed. This, not the
    /// request's own record, is what is stored, audited and published.
    func checked() throws -> (record: Fieldwork_V1_VisitRecord, draft: VisitRecordDraft) {
        let draft = try domain()
        var record = self
        record.department = draft.department
        record.contactsMet = draft.contactsMet
        record.productIds = draft.productIDs
        record.topics = draft.topics
        record.commitments = draft.commitments
        record.objectionNote = draft.objectionNote
        record.nextStep = draft.nextStep
        if let support = draft.surgerySupport {
            record.surgerySupport.department = support.department
            record.surgerySupport.productIds = support.productIDs
        } else {
            record.clearSurgerySupport()
        }
        return (record, draft)
    }

    /// The domain draft, with the shape checks a record needs before any lookup.
    func domain() throws -> VisitRecordDraft {
        func texts(_ values: [String], _ field: String) throws -> [String] {
            guard values.count <= 50 else { throw DomainError.invalidArgument(field: "record.\(field)", message: "at most 50 entries") }
            return try values.map { try Input.text($0, field: "record.\(field)", max: 500) }
        }
        /// A product named twice would count twice in objections and summaries.
        func products(_ values: [String], _ field: String) throws -> [String] {
            let ids = try texts(values, field)
            var seen = Set<String>()
            if let repeated = ids.first(where: { !seen.insert($0).inserted }) {
                throw DomainError.invalidArgument(field: "record.\(field)", message: "'\(repeated)' is listed twice")
            }
            return ids
        }
        var support: SurgerySupportRequest?
        if surgerySupport.needed {
            guard surgerySupport.hasSurgeryDate else {
                throw DomainError.invalidArgument(field: "record.surgery_support.surgery_date", message: "is required when surgery support is needed")
            }
            support = SurgerySupportRequest(
                surgeryDate: try surgerySupport.surgeryDate.localDate(field: "record.surgery_support.surgery_date"),
                department: try Input.text(surgerySupport.department, field: "record.surgery_support.department", max: 32),
                productIDs: try products(surgerySupport.productIds, "surgery_support.product_ids"))
        }
        if case .UNRECOGNIZED(let value) = objectionType {
            throw DomainError.invalidArgument(field: "record.objection_type", message: "unknown value \(value)")
        }
        if case .UNRECOGNIZED(let value) = intent {
            throw DomainError.invalidArgument(field: "record.intent", message: "unknown value \(value)")
        }
        if case .UNRECOGNIZED(let value) = stageReached {
            throw DomainError.invalidArgument(field: "record.stage_reached", message: "unknown value \(value)")
        }
        return VisitRecordDraft(
            department: try Input.text(department, field: "record.department", max: 32),
            contactsMet: try texts(contactsMet, "contacts_met"), productIDs: try products(productIds, "product_ids"),
            topics: try texts(topics, "topics"), commitments: try texts(commitments, "commitments"),
            objection: objectionType.domain,
            objectionNote: try Input.text(objectionNote, field: "record.objection_note", max: 2000), intent: String(describing: intent),
            stageReached: String(describing: stageReached), nextStep: try Input.text(nextStep, field: "record.next_step", max: 2000),
            surgerySupport: support)
    }
}

extension Date {
    /// A whole number of milliseconds: survives the trip through PostgreSQL's
    /// microseconds and floating point, so a stored time re-digests exactly.
    var roundedToMilliseconds: Date { Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded() / 1000) }
}
