import FieldworkProto
import Foundation

/// What each event that reaches people offers to routes and templates: the
/// variables by name. Recipient placeholders (`{department}`, `{escalated_to}` …)
/// and message texts (`{number}`, `{title}` …) draw on the same set.
enum EventMessages {
    static let variableNames: [String: Set<String>] = [
        "workflows.CardCreated": [
            "number", "title", "description", "department", "customer_name", "due_at", "card_id", "request_id", "requester_id",
        ],
        "workflows.CardEscalated": ["number", "department", "card_id", "level_name", "overdue_since", "escalated_to"],
        "workflows.RequestCompleted": ["request_id", "completed_at", "requester_id"],
        "workflows.ApprovalStepPending": ["approval_id", "subject", "step", "approver_id"],
        "workflows.ApprovalDecided": ["approval_id", "outcome_name", "submitter_id"],
        "scoring.WarningRaised": [
            "warning_id", "customer_id", "customer_name", "component_name", "weeks", "rep_id", "manager_id", "notify_person_ids",
        ],
        "scoring.RuleFired": ["firing_id", "rule_id", "rule_name", "message", "content_package", "content_package_line", "notify_person_ids"],
        Send.eventType: ["title", "body", "link"],
    ]

    /// The variables of an event, or nil for events that reach nobody's inbox.
    static func variables(of event: Fieldwork_V1_Event, dayAndTime: (Date) -> String) -> [String: String]? {
        switch event.payload {
        case .cardCreated(let card):
            [
                "number": card.number, "title": card.title, "description": card.description_p, "department": card.department,
                "customer_name": card.customerName, "due_at": dayAndTime(card.dueAt.date), "card_id": card.cardID,
                "request_id": card.requestID, "requester_id": card.requesterID,
            ]
        case .cardEscalated(let escalation):
            [
                "number": escalation.number, "department": escalation.department, "card_id": escalation.cardID,
                "level_name": escalation.level == 1 ? "部门负责人" : "总监", "overdue_since": dayAndTime(escalation.overdueSince.date),
                "escalated_to": escalation.escalatedTo,
            ]
        case .requestCompleted(let completed):
            ["request_id": completed.requestID, "completed_at": dayAndTime(completed.completedAt.date), "requester_id": completed.requesterID]
        case .approvalStepPending(let pending):
            ["approval_id": pending.approvalID, "subject": pending.subject, "step": String(pending.step + 1), "approver_id": pending.approverID]
        case .approvalDecided(let decided):
            ["approval_id": decided.approvalID, "outcome_name": decided.outcome == "APPROVED" ? "通过" : "驳回", "submitter_id": decided.submitterID]
        case .warningRaised(let warning):
            [
                "warning_id": warning.warningID, "customer_id": warning.customerID,
                "component_name": ["P": "采购", "T": "新品试用", "A": "学术活动"][warning.component] ?? warning.component,
                "weeks": String(warning.weeks), "rep_id": warning.notifyPersonIds.first ?? "",
                "manager_id": warning.notifyPersonIds.dropFirst().first ?? "",
                "notify_person_ids": warning.notifyPersonIds.joined(separator: ","),
            ]
        case .ruleFired(let firing):
            [
                "firing_id": firing.firingID, "rule_id": firing.ruleID, "rule_name": firing.ruleName, "message": firing.message,
                "content_package": firing.contentPackage,
                "content_package_line": firing.contentPackage.isEmpty ? "" : "附：内容包「\(firing.contentPackage)」",
                // A list: route placeholders that hold commas name several people.
                "notify_person_ids": firing.notifyPersonIds.joined(separator: ","),
            ]
        default:
            nil
        }
    }

    /// Messages sent by hand (`Send`) are stored under this event type.
    enum Send {
        static let eventType = "notifications.Send"
    }
}
