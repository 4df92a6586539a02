import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import GRPCCore

/// The visits service: directory, check-in and visit records (SPEC §1–2).
public enum VisitsBlueprint {
    public static let blueprint = ServiceBlueprint(
        name: "visits",
        grpcServiceName: "fieldwork.v1.VisitsService",
        defaultPort: 7101,
        defaultMetricsPort: 9101,
        settings: [
            Setting("CHECKIN_KEYS", default: nil,
                    help: "initial check-in code keys 'kid=secret,…' (first = signing key); later keys come from RotateCheckinKey", secret: true),
            Setting("WATERMARK_KEY", default: nil, help: "HMAC key of the GPS watermark on visit records", secret: true),
            Setting("PLAN_CHECK_TIME", default: "18:00", help: "local time the plan-day-close job closes each rep's day"),
            Setting("PLAN_CUTOFF", default: "09:30", help: "local time after which a day's plan can no longer be created or changed (24:00: none)"),
            Setting("PLAN_WORKDAYS", default: "1,2,3,4,5",
                    help: "ISO weekdays (1 = Monday) a planner without a plan closes as a 'no plan' day (empty: none)"),
            Setting("OBJECTION_DIGEST_TIME", default: "08:00", help: "local time on Mondays the objection digest goes to marketing"),
        ],
        migrations: VisitsMigrations.all,
        access: VisitsService.access,
        makeService: { environment in
            let service = try VisitsService(environment: environment)
            let check = try clockTime(environment.configuration, "PLAN_CHECK_TIME")
            let workdays = try weekdays(environment.configuration, "PLAN_WORKDAYS")
            environment.jobs.register(Job("plan-day-close", schedule: .daily(hour: check.hour, minute: check.minute)) { asOf in
                try await service.closePlanDays(asOf: asOf, checkHour: check.hour, checkMinute: check.minute, workdays: workdays)
            })
            let digest = try clockTime(environment.configuration, "OBJECTION_DIGEST_TIME")
            environment.jobs.register(Job("objection-digest", schedule: .weekly(weekday: 1, hour: digest.hour, minute: digest.minute)) { asOf in
                try await service.publishObjectionDigest(asOf: asOf)
            })
            return service
        }
    )
}

/// ISO weekdays "1,2,3,4,5" from a setting.
private func weekdays(_ configuration: ServiceConfiguration, _ name: String) throws -> Set<Int> {
    let text = configuration.string(name)
    let days = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard days.allSatisfy({ $0.map { (1...7).contains($0) } ?? false }) else {
        throw ConfigurationError(description: "\(configuration.prefix)\(name) must list ISO weekdays 1–7, got '\(text)'")
    }
    return Set(days.compactMap { $0 })
}

/// "HH:MM" from a setting; with `endOfDay`, "24:00" too (midnight at the day's end).
private func clockTime(_ configuration: ServiceConfiguration, _ name: String, endOfDay: Bool = false) throws -> (hour: Int, minute: Int) {
    let parts = configuration.string(name).split(separator: ":").compactMap { Int($0) }
    guard parts.count == 2, (0..<24).contains(parts[0]) && (0..<60).contains(parts[1]) || (endOfDay && parts == [24, 0]) else {
        throw ConfigurationError(description: "\(configuration.prefix)\(name) must be HH:MM, got '\(configuration.string(name))'")
    }
    return (parts[0], parts[1])
}

/// The live RPCs of `fieldwork.v1.VisitsService`; the rest of the contract
/// answers UNIMPLEMENTED until it is built (see README).
struct VisitsService: RegistrableRPCService {
    typealias Method = Fieldwork_V1_VisitsService.Method

    let environment: ServiceEnvironment
    let directory: DirectoryStore
    let visits: VisitStore
    let keyring: CheckinKeyring
    /// SPEC §8.3: a day's plan is set by this local time that day, or not at all.
    let planCutoff: (hour: Int, minute: Int)

    init(environment: ServiceEnvironment) throws {
        self.environment = environment
        planCutoff = try clockTime(environment.configuration, "PLAN_CUTOFF", endOfDay: true)
        directory = DirectoryStore(environment: environment)
        keyring = try CheckinKeyring(environment: environment)
        visits = VisitStore(
            environment: environment, directory: directory,
            watermark: try Watermark(secret: environment.configuration.string("WATERMARK_KEY")))
    }

    /// Who may call each RPC (SPEC §8); `registerMethods` below serves them.
    static let access: [MethodDescriptor: AccessRule] = [
        Method.UpsertPerson.descriptor: .admin,
        Method.GetPerson.descriptor: .people(objects: "phone and WeCom id: self, supervisor chain, department head, admin"),
        Method.ListPeople.descriptor: .people(objects: "as GetPerson"),
        Method.UpsertDepartment.descriptor: .admin,
        Method.ListDepartments.descriptor: .people(objects: ""),
        Method.UpsertCustomer.descriptor: .admin,
        Method.GetCustomer.descriptor: .people(objects: "contacts: owner's chain, region's director, admin; fence: ops, admin"),
        Method.ListCustomers.descriptor: .people(objects: "as GetCustomer"),
        Method.UpsertProduct.descriptor: .admin,
        Method.ListProducts.descriptor: .people(objects: ""),
        Method.ImportCsv.descriptor: .admin,
        Method.ExportCsv.descriptor: .admin,
        Method.IssueCheckinCode.descriptor: .only(.ops, .admin, objects: "ops: their region's customers"),
        Method.RotateCheckinKey.descriptor: .admin,
        Method.CheckIn.descriptor: .only(.rep, .academic, .kam, .manager),
        Method.CheckOut.descriptor: .only(.rep, .academic, .kam, .manager, objects: "the visiting rep"),
        Method.VerifyWatermark.descriptor: .only(.manager, .director, .ops, .executive, .admin),
        Method.GetVisit.descriptor: .people(objects: "own; team; region; executive and admin all"),
        Method.ListVisits.descriptor: .people(objects: "as GetVisit, others' left out"),
        Method.UpdateVisitDraft.descriptor: .only(.rep, .academic, .kam, .manager, objects: "the visiting rep"),
        Method.SubmitVisit.descriptor: .only(.rep, .academic, .kam, .manager, objects: "the visiting rep; the stage moves the funnel only from a valid visit by the owner"),
        Method.AmendVisit.descriptor: .only(.rep, .academic, .kam, .manager, objects: "the visiting rep"),
        Method.VisitSummary.descriptor: .people(objects: "as GetVisit"),
        Method.SetDailyPlan.descriptor: .only(.rep, .academic, .kam, .manager, .admin, objects: "own; the rep's supervisor; admin; until PLAN_CUTOFF that day"),
        Method.GetDailyPlan.descriptor: .people(objects: "as GetVisit"),
        Method.PlanCompletion.descriptor: .people(objects: "as GetVisit"),
        Method.ProposeGradeChange.descriptor: .only(.rep, .kam, .manager, .director, .admin, objects: "the owning rep, the owner's manager chain, the region's director, admin"),
        Method.ConfirmGradeChange.descriptor: .only(.manager, .director, .admin, objects: "the proposer's supervisor, or admin"),
        Method.RejectGradeChange.descriptor: .only(.manager, .director, .admin, objects: "as ConfirmGradeChange"),
        Method.ListGradeChanges.descriptor: .people(objects: "proposals by people the caller may see, and those the caller decides"),
        Method.TopObjections.descriptor: .people(objects: "counted over the visits the caller may read"),
        Method.SetStage.descriptor: .only(.manager, .director, .admin, objects: "the owner's manager chain, the region's director, admin"),
        Method.GetFunnel.descriptor: .people(objects: ""),
        Method.FunnelReport.descriptor: .people(objects: ""),
        Method.Deliver.descriptor: .service,
        Method.RunJob.descriptor: .admin,
        Method.ListAudit.descriptor: .only(.manager, .director, .deptHead, .executive, .admin, objects: "an entry when its entity is visible"),
    ]

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.unary(Method.UpsertPerson.descriptor) { try await upsertPerson($0) }
        router.unary(Method.GetPerson.descriptor) { try await getPerson($0) }
        router.unary(Method.ListPeople.descriptor) { try await listPeople($0) }
        router.unary(Method.UpsertDepartment.descriptor) { try await upsertDepartment($0) }
        router.unary(Method.ListDepartments.descriptor) { try await listDepartments($0) }
        router.unary(Method.UpsertCustomer.descriptor) { try await upsertCustomer($0) }
        router.unary(Method.GetCustomer.descriptor) { try await getCustomer($0) }
        router.unary(Method.ListCustomers.descriptor) { try await listCustomers($0) }
        router.unary(Method.UpsertProduct.descriptor) { try await upsertProduct($0) }
        router.unary(Method.ListProducts.descriptor) { try await listProducts($0) }
        router.unary(Method.ImportCsv.descriptor) { try await importCsv($0) }
        router.unary(Method.ExportCsv.descriptor) { try await exportCsv($0) }

        router.unary(Method.IssueCheckinCode.descriptor) { try await issueCheckinCode($0) }
        router.unary(Method.RotateCheckinKey.descriptor) { try await rotateCheckinKey($0) }
        router.unary(Method.CheckIn.descriptor) { try await checkIn($0) }
        router.unary(Method.CheckOut.descriptor) { try await checkOut($0) }
        router.unary(Method.VerifyWatermark.descriptor) { try await verifyWatermark($0) }
        router.unary(Method.GetVisit.descriptor) { try await getVisit($0) }
        router.unary(Method.ListVisits.descriptor) { try await listVisits($0) }
        router.unary(Method.UpdateVisitDraft.descriptor) { try await updateVisitDraft($0) }
        router.unary(Method.SubmitVisit.descriptor) { try await submitVisit($0) }

        router.unary(Method.SetDailyPlan.descriptor) { try await setDailyPlan($0) }
        router.unary(Method.GetDailyPlan.descriptor) { try await getDailyPlan($0) }
        router.unary(Method.PlanCompletion.descriptor) { try await planCompletion($0) }
        router.unary(Method.ProposeGradeChange.descriptor) { try await proposeGradeChange($0) }
        router.unary(Method.ConfirmGradeChange.descriptor) { try await confirmGradeChange($0) }
        router.unary(Method.RejectGradeChange.descriptor) { try await rejectGradeChange($0) }
        router.unary(Method.ListGradeChanges.descriptor) { try await listGradeChanges($0) }
        router.unary(Method.TopObjections.descriptor) { try await topObjections($0) }
        router.unary(Method.SetStage.descriptor) { try await setStage($0) }
        router.unary(Method.GetFunnel.descriptor) { try await getFunnel($0) }
        router.unary(Method.FunnelReport.descriptor) { try await funnelReport($0) }
        router.unary(Method.AmendVisit.descriptor) { try await amendVisit($0) }
        router.unary(Method.VisitSummary.descriptor) { try await visitSummary($0) }

        router.unary(Method.Deliver.descriptor) { request in
            // Visits consumes no other service's events yet; deliveries are recorded (deduplicated) and acknowledged.
            try await environment.deliver(request) { _, _ in }
        }
        router.unary(Method.RunJob.descriptor) { request in try await environment.runJob(request) }
        router.unary(Method.ListAudit.descriptor) { try await listAudit($0) }
    }
}
