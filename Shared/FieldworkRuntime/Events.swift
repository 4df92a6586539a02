import FieldworkProto
import Foundation
import SwiftProtobuf

extension Fieldwork_V1_Event.OneOf_Payload {
    /// The event type name carried in `Event.type`, e.g. "visits.SupportRequested".
    public var typeName: String {
        switch self {
        case .personChanged: "visits.PersonChanged"
        case .departmentChanged: "visits.DepartmentChanged"
        case .customerChanged: "visits.CustomerChanged"
        case .productChanged: "visits.ProductChanged"
        case .visitSubmitted: "visits.VisitSubmitted"
        case .supportRequested: "visits.SupportRequested"
        case .planDayClosed: "visits.PlanDayClosed"
        case .gradeChanged: "visits.GradeChanged"
        case .funnelStageChanged: "visits.FunnelStageChanged"
        case .objectionDigest: "visits.ObjectionDigest"
        case .requestCreated: "workflows.RequestCreated"
        case .cardCreated: "workflows.CardCreated"
        case .cardStatusChanged: "workflows.CardStatusChanged"
        case .cardEscalated: "workflows.CardEscalated"
        case .requestCompleted: "workflows.RequestCompleted"
        case .approvalStepPending: "workflows.ApprovalStepPending"
        case .approvalDecided: "workflows.ApprovalDecided"
        case .cardFirstResponse: "workflows.CardFirstResponse"
        case .warningRaised: "scoring.WarningRaised"
        case .ruleFired: "scoring.RuleFired"
        case .cultivationHint: "scoring.CultivationHint"
        }
    }
}

extension Google_Protobuf_Timestamp {
    public init(_ date: Date) { self.init(date: date) }
}
