import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import GRPCCore

/// The scoring service (SPEC §4): commercial facts, the versioned health model
/// and its nightly runs, strategy rules and their firings, fed by the visits
/// service's events (directory copy, plan-day closes, visits, funnel changes).
public enum ScoringBlueprint {
    public static let blueprint = ServiceBlueprint(
        name: "scoring",
        grpcServiceName: "fieldwork.v1.ScoringService",
        defaultPort: 7103,
        defaultMetricsPort: 9103,
        settings: [
            Setting("SCORING_TIME", default: "02:00", help: "local time of the nightly health scoring run"),
        ],
        migrations: ScoringMigrations.all,
        access: ScoringService.access,
        makeService: { environment in
            // A run reads its components on connections beside its own (ScoringRun.swift).
            guard try environment.configuration.int("DATABASE_POOL_SIZE") >= 2 else {
                throw ConfigurationError(description: "\(environment.configuration.prefix)DATABASE_POOL_SIZE must be at least 2 for scoring runs")
            }
            let service = ScoringService(environment: environment)
            let time = environment.configuration.string("SCORING_TIME").split(separator: ":").compactMap { Int($0) }
            guard time.count == 2, (0..<24).contains(time[0]), (0..<60).contains(time[1]) else {
                throw ConfigurationError(description: "\(environment.configuration.prefix)SCORING_TIME must be HH:MM")
            }
            environment.jobs.register(Job("scoring", schedule: .daily(hour: time[0], minute: time[1])) { asOf in
                try await service.scheduledRun(asOf: asOf)
            })
            return service
        }
    )
}

/// The RPCs of `fieldwork.v1.ScoringService`.
struct ScoringService: RegistrableRPCService {
    typealias Method = Fieldwork_V1_ScoringService.Method

    let environment: ServiceEnvironment
    let runGate = RunGate()

    /// Who may call each RPC (SPEC §8); `registerMethods` below serves them.
    static let access: [MethodDescriptor: AccessRule] = [
        Method.RecordPurchase.descriptor: .only(.ops, .admin),
        Method.RecordTrial.descriptor: .only(.ops, .admin),
        Method.RecordAcademicParticipation.descriptor: .only(.ops, .admin),
        Method.RecordContract.descriptor: .only(.ops, .admin),
        Method.ReviseContractTerms.descriptor: .only(.ops, .admin),
        Method.RecordPayment.descriptor: .only(.ops, .admin),
        Method.ImportCsv.descriptor: .only(.ops, .admin),
        Method.GetModelConfig.descriptor: .people(objects: ""),
        Method.UpdateModelConfig.descriptor: .admin,
        Method.ListModelVersions.descriptor: .people(objects: ""),
        Method.RunScoring.descriptor: .admin,
        Method.GetCustomerHealth.descriptor: .people(objects: "customers owned in the caller's scope (own, team, region; executive, admin all)"),
        Method.ListCustomerHealth.descriptor: .people(objects: "as GetCustomerHealth"),
        Method.HealthHistory.descriptor: .people(objects: "as GetCustomerHealth"),
        Method.ListWarnings.descriptor: .people(objects: "as GetCustomerHealth"),
        Method.ListRecommendations.descriptor: .people(objects: "as GetCustomerHealth"),
        Method.EffectivenessReport.descriptor: .only(
            .manager, .director, .ops, .executive, .admin, objects: "customers owned in the caller's scope (team, region; executive, admin all)"),
        Method.HardIndicators.descriptor: .only(
            .manager, .director, .ops, .executive, .admin,
            objects: "plans, cards asked for and customers of the reps in the caller's scope (team, region; executive, admin all)"),
        Method.ListRules.descriptor: .only(.manager, .director, .ops, .executive, .admin),
        Method.UpdateRule.descriptor: .admin,
        Method.ListRuleFirings.descriptor: .people(objects: "reps, academics, kams, dept heads: firings they were notified of"),
        Method.ExplainFiring.descriptor: .people(objects: "as ListRuleFirings"),
        Method.Deliver.descriptor: .service,
        Method.RunJob.descriptor: .admin,
        Method.ListAudit.descriptor: .only(.manager, .director, .deptHead, .executive, .admin, objects: "model and runs open; rules as ListRules; facts: executive, admin; others' actions: admin"),
    ]

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.unary(Method.RecordPurchase.descriptor) { try await recordPurchase($0) }
        router.unary(Method.RecordTrial.descriptor) { try await recordTrial($0) }
        router.unary(Method.RecordAcademicParticipation.descriptor) { try await recordAcademicParticipation($0) }
        router.unary(Method.RecordContract.descriptor) { try await recordContract($0) }
        router.unary(Method.ReviseContractTerms.descriptor) { try await reviseContractTerms($0) }
        router.unary(Method.RecordPayment.descriptor) { try await recordPayment($0) }
        router.unary(Method.ImportCsv.descriptor) { try await importCsv($0) }
        router.unary(Method.GetModelConfig.descriptor) { try await getModelConfig($0) }
        router.unary(Method.UpdateModelConfig.descriptor) { try await updateModelConfig($0) }
        router.unary(Method.ListModelVersions.descriptor) { try await listModelVersions($0) }
        router.unary(Method.RunScoring.descriptor) { try await runScoring($0) }
        router.unary(Method.GetCustomerHealth.descriptor) { try await getCustomerHealth($0) }
        router.unary(Method.ListCustomerHealth.descriptor) { try await listCustomerHealth($0) }
        router.unary(Method.HealthHistory.descriptor) { try await healthHistory($0) }
        router.unary(Method.ListWarnings.descriptor) { try await listWarnings($0) }
        router.unary(Method.ListRecommendations.descriptor) { try await listRecommendations($0) }
        router.unary(Method.EffectivenessReport.descriptor) { try await effectivenessReport($0) }
        router.unary(Method.HardIndicators.descriptor) { try await hardIndicators($0) }
        router.unary(Method.ListRules.descriptor) { try await listRules($0) }
        router.unary(Method.UpdateRule.descriptor) { try await updateRule($0) }
        router.unary(Method.ListRuleFirings.descriptor) { try await listRuleFirings($0) }
        router.unary(Method.ExplainFiring.descriptor) { try await explainFiring($0) }
        router.unary(Method.Deliver.descriptor) { request in
            try await environment.deliver(request) { event, connection in try await apply(event, on: connection) }
        }
        router.unary(Method.RunJob.descriptor) { try await environment.runJob($0) }
        router.unary(Method.ListAudit.descriptor) { try await listAudit($0) }
    }
}
