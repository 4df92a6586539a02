import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §3.6 over TCP: the contract approval chain, end to end.
@Suite(.serialized) struct WorkflowsApprovalTests {
    @Test func theContractChainFollowsTheAmountAndOnlyTheNamedApproverDecides() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let rep = try await story.token("E1001")
            let submit: @Sendable (Int64) async throws -> Fieldwork_V1_Approval = { yuan in
                try await cluster.workflows(rep) { client, metadata in
                    try await client.submitForApproval(.with {
                        $0.chainID = "contract"
                        $0.subject = "浙一 脊柱产品年度合同 \(yuan) 元"
                        $0.amount.fen = yuan * 100
                        $0.productLine = "spine"
                        $0.customerID = "H-ZJ-001"
                    }, metadata: metadata)
                }
            }
            let decide: @Sendable (String, Fieldwork_V1_Approval, Bool, String) async throws -> Fieldwork_V1_Approval = { person, approval, approve, comment in
                let token = try await story.token(person)
                return try await cluster.workflows(token) { client, metadata in
                    let request = Fieldwork_V1_DecideApprovalRequest.with { $0.approvalID = approval.id; $0.comment = comment }
                    return approve ? try await client.approve(request, metadata: metadata) : try await client.reject(request, metadata: metadata)
                }
            }

            // The steps follow the amount: the manager; + the director from 100 000; + finance and the GM from 1 000 000.
            let small = try await submit(50_000)
            #expect(small.steps.map(\.approverID) == ["M2001"])
            let medium = try await submit(100_000)
            #expect(medium.steps.map(\.role) == ["manager", "director"])
            #expect(medium.steps.map(\.approverID) == ["M2001", "D3001"])
            let large = try await submit(1_200_000)
            #expect(large.steps.map(\.role) == ["manager", "director", "finance", "general_manager"])
            #expect(large.steps.map(\.approverID) == ["M2001", "D3001", "FN01", "GM01"])
            #expect(large.status == .pending && large.currentStep == 0)

            // In order, and only the named approver: not the submitter, not the next approver, not an admin.
            #expect(await rpcCode { _ = try await decide("E1001", large, true, "") } == .permissionDenied)
            #expect(await rpcCode { _ = try await decide("D3001", large, true, "") } == .permissionDenied)
            #expect(await rpcCode {
                _ = try await cluster.workflows(story.admin) { client, metadata in
                    try await client.approve(.with { $0.approvalID = large.id }, metadata: metadata)
                }
            } == .permissionDenied)
            // A rejection needs a comment.
            #expect(await rpcCode { _ = try await decide("M2001", large, false, "") } == .invalidArgument)

            var progress = try await decide("M2001", large, true, "价格已核")
            #expect(progress.currentStep == 1 && progress.status == .pending)
            progress = try await decide("D3001", progress, true, "同意")
            progress = try await decide("FN01", progress, true, "账期 60 天可接受")
            #expect(progress.currentStep == 3)
            progress = try await decide("GM01", progress, true, "")
            #expect(progress.status == .approved)
            #expect(progress.steps.allSatisfy { $0.status == .approved && $0.hasDecidedAt })
            #expect(progress.steps[2].comment == "账期 60 天可接受")
            #expect(await rpcCode { _ = try await decide("GM01", progress, true, "") } == .failedPrecondition)

            // A rejected step ends the chain: the director is never asked.
            let rejected = try await decide("M2001", medium, false, "折扣超出权限")
            #expect(rejected.status == .rejected)
            #expect(rejected.steps.map(\.status) == [.rejected, .pending])
            #expect(await rpcCode { _ = try await decide("D3001", rejected, true, "") } == .failedPrecondition)

            // Each step was notified: every approver when their step came up, the submitter of each outcome.
            try await cluster.eventually("approval notices") {
                let gm = try await story.inbox("GM01").filter { $0.eventType == "workflows.ApprovalStepPending" }
                let outcomes = try await story.inbox("E1001").filter { $0.eventType == "workflows.ApprovalDecided" }
                return gm.count == 1 && outcomes.count == 2
            }
            #expect(try await story.inbox("M2001").filter { $0.eventType == "workflows.ApprovalStepPending" }.count == 3)
            #expect(try await story.inbox("D3001").filter { $0.eventType == "workflows.ApprovalStepPending" }.count == 1)

            // The approver's queue, and visibility: another rep sees none of these.
            let queue = try await cluster.workflows(try await story.token("M2001")) { client, metadata in
                try await client.listApprovals(.with { $0.approverID = "M2001"; $0.status = .pending }, metadata: metadata).approvals
            }
            #expect(queue.map(\.id) == [small.id])
            let other = try await cluster.workflows(try await story.token("E1002")) { client, metadata in
                try await client.listApprovals(.init(), metadata: metadata).approvals
            }
            #expect(other.isEmpty)
            #expect(await rpcCode {
                _ = try await cluster.workflows(try await story.token("E1002")) { client, metadata in
                    try await client.getApproval(.with { $0.id = small.id }, metadata: metadata)
                }
            } == .notFound)

            // Chains are data: a new version with a product-line rule applies to new submissions only.
            let revised = try await cluster.workflows(story.admin) { client, metadata in
                try await client.upsertApprovalChain(.with {
                    $0.chain = .with {
                        $0.id = "contract"
                        $0.name = "合同审批"
                        $0.steps = [
                            .with { $0.role = "manager" },
                            .with { $0.role = "director"; $0.minAmountFen = 100_000_00 },
                            .with { $0.role = "finance"; $0.minAmountFen = 0; $0.productLines = ["lab"] },
                        ]
                    }
                }, metadata: metadata)
            }
            #expect(revised.version == 2)
            #expect(try await submit(50_000).steps.map(\.role) == ["manager"])   // spine: the lab rule does not apply
            // An unknown or missing product line cannot slip past a product-line step.
            for line in ["gold", ""] {
                #expect(await rpcCode {
                    _ = try await cluster.workflows(rep) { client, metadata in
                        try await client.submitForApproval(.with { $0.subject = "x"; $0.amount.fen = 100; $0.productLine = line }, metadata: metadata)
                    }
                } == .invalidArgument)
            }
            #expect(await rpcCode {
                _ = try await cluster.workflows(story.admin) { client, metadata in
                    try await client.upsertApprovalChain(.with {
                        $0.chain = .with { $0.id = "contract"; $0.name = "x"; $0.steps = [.with { $0.role = "cfo" }] }
                    }, metadata: metadata)
                }
            } == .invalidArgument)
            let audit = try await cluster.workflows(story.admin) { client, metadata in
                try await client.listAudit(.with { $0.entityType = "approval"; $0.entityID = large.id }, metadata: metadata).entries
            }
            #expect(audit.map(\.action) == ["submit", "approve", "approve", "approve", "approve"])
        }
    }
}
