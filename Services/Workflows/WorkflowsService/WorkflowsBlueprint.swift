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
        access: [
            "UpsertTemplate": [.admin],
            "UpsertApprovalChain": [.admin],
            "CreateRequest": [.rep, .academic, .kam, .manager, .director, .ops, .admin],
            "SubmitForApproval": [.rep, .academic, .kam, .manager, .director, .ops, .admin],
        ],
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
        router.unary(Method.ListAudit.descriptor) { try await environment.listAudit($0) }
    }
}
