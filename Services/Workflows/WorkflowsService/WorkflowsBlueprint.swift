import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import GRPCCore

/// The workflows service: request templates, task cards, attachments,
/// escalation, response metrics and approval chains (SPEC §3).
public enum WorkflowsBlueprint {
    public static let blueprint = ServiceBlueprint(
        name: "workflows",
        grpcServiceName: "fieldwork.v1.WorkflowsService",
        defaultPort: 7102,
        defaultMetricsPort: 9102,
        settings: [
            Setting("ESCALATION_STEP_HOURS", default: "24", help: "hours from the department head's escalation to the director's"),
            Setting("ESCALATION_INTERVAL_SECONDS", default: "60", help: "how often the escalation sweep runs"),
            Setting("ESCALATION_BATCH", default: "1000", help: "cards claimed per escalation transaction (a sweep takes as many as are due)"),
            Setting("ATTACHMENT_MAX_BYTES", default: String(AttachmentPolicy.defaultMaxBytes), help: "largest attachment accepted, in bytes"),
        ],
        migrations: WorkflowsMigrations.all,
        access: WorkflowsService.access,
        makeService: { environment in
            let service = try WorkflowsService(environment: environment)
            let interval = try environment.configuration.positiveInt("ESCALATION_INTERVAL_SECONDS")
            environment.jobs.register(Job("escalation", schedule: .every(.seconds(interval))) { asOf in
                try await service.escalate(asOf: asOf)
            })
            return service
        }
    )
}

/// The RPCs of `fieldwork.v1.WorkflowsService`.
struct WorkflowsService: RegistrableRPCService {
    typealias Method = Fieldwork_V1_WorkflowsService.Method

    let environment: ServiceEnvironment
    let store: CardStore
    let ladder: EscalationLadder
    let escalationBatch: Int
    let attachmentPolicy: AttachmentPolicy

    init(environment: ServiceEnvironment) throws {
        self.environment = environment
        store = CardStore(environment: environment)
        ladder = EscalationLadder(stepHours: try environment.configuration.positiveInt("ESCALATION_STEP_HOURS"))
        escalationBatch = try environment.configuration.positiveInt("ESCALATION_BATCH")
        attachmentPolicy = AttachmentPolicy(maxBytes: try environment.configuration.positiveInt("ATTACHMENT_MAX_BYTES"))
    }

    /// Who may call each RPC (SPEC §8); `registerMethods` below serves them.
    static let access: [MethodDescriptor: AccessRule] = [
        Method.UpsertTemplate.descriptor: .admin,
        Method.ListTemplates.descriptor: .people(objects: ""),
        Method.CreateRequest.descriptor: .only(.rep, .academic, .kam, .manager, .director, .ops, .admin),
        Method.GetRequest.descriptor: .people(objects: "the requester, its cards' departments, directors, executive, admin"),
        Method.ListRequests.descriptor: .people(objects: "as GetRequest"),
        Method.GetCard.descriptor: .people(objects: "its department, the requester, directors, executive, admin; others NOT_FOUND"),
        Method.ListCards.descriptor: .people(objects: "as GetCard"),
        Method.AcknowledgeCard.descriptor: .writers(objects: "its department's members, admin"),
        Method.AddNote.descriptor: .writers(objects: "its department's members, the requester, admin"),
        Method.AssignCard.descriptor: .writers(objects: "as AcknowledgeCard"),
        Method.SetCardStatus.descriptor: .writers(objects: "as AcknowledgeCard"),
        Method.CardTimeline.descriptor: .people(objects: "as GetCard"),
        Method.UploadAttachment.descriptor: .writers(objects: "as AddNote"),
        Method.DownloadAttachment.descriptor: .people(objects: "as GetCard"),
        Method.ListAttachments.descriptor: .people(objects: "as GetCard"),
        Method.ResponseMetrics.descriptor: .people(objects: ""),
        Method.UpsertApprovalChain.descriptor: .admin,
        Method.ListApprovalChains.descriptor: .people(objects: ""),
        Method.SubmitForApproval.descriptor: .only(.rep, .academic, .kam, .manager, .director, .ops, .admin),
        Method.Approve.descriptor: .writers(objects: "the approver named for the current step"),
        Method.Reject.descriptor: .writers(objects: "as Approve"),
        Method.GetApproval.descriptor: .people(objects: "the submitter, its approvers, directors, executive, admin"),
        Method.ListApprovals.descriptor: .people(objects: "as GetApproval"),
        Method.Deliver.descriptor: .service,
        Method.RunJob.descriptor: .admin,
        Method.ListAudit.descriptor: .only(.manager, .director, .deptHead, .executive, .admin, objects: "a card's, request's or approval's entries as the thing itself; templates, chains open; others' actions: admin"),
    ]

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.unary(Method.UpsertTemplate.descriptor) { try await upsertTemplate($0) }
        router.unary(Method.ListTemplates.descriptor) { try await listTemplates($0) }
        router.unary(Method.CreateRequest.descriptor) { try await createRequest($0) }
        router.unary(Method.GetRequest.descriptor) { try await getRequest($0) }
        router.unary(Method.ListRequests.descriptor) { try await listRequests($0) }

        router.unary(Method.GetCard.descriptor) { try await getCard($0) }
        router.unary(Method.ListCards.descriptor) { try await listCards($0) }
        router.unary(Method.AcknowledgeCard.descriptor) { try await acknowledgeCard($0) }
        router.unary(Method.AddNote.descriptor) { try await addNote($0) }
        router.unary(Method.AssignCard.descriptor) { try await assignCard($0) }
        router.unary(Method.SetCardStatus.descriptor) { try await setCardStatus($0) }
        router.unary(Method.CardTimeline.descriptor) { try await cardTimeline($0) }

        router.clientStreaming(Method.UploadAttachment.descriptor) { try await uploadAttachment($0) }
        router.serverStreaming(Method.DownloadAttachment.descriptor) { request, writer, _ in try await downloadAttachment(request, writer: writer) }
        router.unary(Method.ListAttachments.descriptor) { try await listAttachments($0) }

        router.unary(Method.ResponseMetrics.descriptor) { try await responseMetrics($0) }

        router.unary(Method.UpsertApprovalChain.descriptor) { try await upsertApprovalChain($0) }
        router.unary(Method.ListApprovalChains.descriptor) { try await listApprovalChains($0) }
        router.unary(Method.SubmitForApproval.descriptor) { try await submitForApproval($0) }
        router.unary(Method.Approve.descriptor) { try await approve($0) }
        router.unary(Method.Reject.descriptor) { try await reject($0) }
        router.unary(Method.GetApproval.descriptor) { try await getApproval($0) }
        router.unary(Method.ListApprovals.descriptor) { try await listApprovals($0) }

        router.unary(Method.Deliver.descriptor) { request in
            try await environment.deliver(request) { event, connection in
                if try await DirectoryReplica.apply(event, on: connection, logger: environment.logger) { return }
                try await store.createRequest(for: event, on: connection)
            }
        }
        router.unary(Method.RunJob.descriptor) { try await environment.runJob($0) }
        router.unary(Method.ListAudit.descriptor) { try await listAudit($0) }
    }
}
