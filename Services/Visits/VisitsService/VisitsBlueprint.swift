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
            Setting("OBJECTION_DIGEST_TIME", default: "08:00", help: "local time on Mondays the objection digest goes to marketing"),
        ],
        migrations: VisitsMigrations.all,
        access: [
            "UpsertPerson": [.admin], "UpsertDepartment": [.admin], "UpsertCustomer": [.admin], "UpsertProduct": [.admin],
            "ImportCsv": [.admin], "ExportCsv": [.admin],
            "IssueCheckinCode": [.admin, .manager],
            "RotateCheckinKey": [.admin],
            "CheckIn": [.rep, .academic, .kam, .manager],
            "CheckOut": [.rep, .academic, .kam, .manager],
            "UpdateVisitDraft": [.rep, .academic, .kam, .manager],
            "SubmitVisit": [.rep, .academic, .kam, .manager],
            "AmendVisit": [.rep, .academic, .kam, .manager],
            "SetStage": [.rep, .kam, .manager, .director, .admin],
            "VerifyWatermark": [.admin, .manager, .director, .ops],
            "SetDailyPlan": [.rep, .academic, .kam, .manager, .admin],
            "ProposeGradeChange": [.rep, .kam, .manager, .director, .admin],
            "ConfirmGradeChange": [.manager, .director, .admin],
            "RejectGradeChange": [.manager, .director, .admin],
        ],
        makeService: { environment in
            let service = try VisitsService(environment: environment)
            let check = try clockTime(environment.configuration, "PLAN_CHECK_TIME")
            environment.jobs.register(Job("plan-day-close", schedule: .daily(hour: check.hour, minute: check.minute)) { asOf in
                try await service.closePlanDays(asOf: asOf, checkHour: check.hour, checkMinute: check.minute)
            })
            let digest = try clockTime(environment.configuration, "OBJECTION_DIGEST_TIME")
            environment.jobs.register(Job("objection-digest", schedule: .weekly(weekday: 1, hour: digest.hour, minute: digest.minute)) { asOf in
                try await service.publishObjectionDigest(asOf: asOf)
            })
            return service
        }
    )
}

/// "HH:MM" from a setting.
private func clockTime(_ configuration: ServiceConfiguration, _ name: String) throws -> (hour: Int, minute: Int) {
    let parts = configuration.string(name).split(separator: ":").compactMap { Int($0) }
    guard parts.count == 2, (0..<24).contains(parts[0]), (0..<60).contains(parts[1]) else {
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

    init(environment: ServiceEnvironment) throws {
        self.environment = environment
        directory = DirectoryStore(environment: environment)
        keyring = try CheckinKeyring(environment: environment)
        visits = VisitStore(
            environment: environment, directory: directory,
            watermark: try Watermark(secret: environment.configuration.string("WATERMARK_KEY")))
    }

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
