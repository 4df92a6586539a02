import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation

/// First-response metrics (SPEC §3.5) over the cards created in a period, per
/// department: mean, median and p90 of the minutes to first response, and the
/// share answered within the 2 h target. A card still unanswered after 2 h
/// counts as a miss; one younger than that is not yet judged. Also the mean
/// time from request to completion for requests completed in the period.
extension WorkflowsService {
    static let responseTarget: TimeInterval = 2 * 3600

    func responseMetrics(_ request: Fieldwork_V1_ResponseMetricsRequest) async throws -> Fieldwork_V1_ResponseMetricsResponse {
        let principal = try Principal.required()
        let window = try TimeWindow(request.range)
        var department = try Input.text(request.department, field: "department", max: 32)
        // Directors and admins compare departments; everyone else sees their own.
        if !principal.hasAny([.admin, .director]) {
            guard !principal.department.isEmpty, department.isEmpty || department == principal.department else {
                throw DomainError.permissionDenied("response metrics of \(department) are for its members, directors and admins")
            }
            department = principal.department
        }
        let judgedBefore = environment.clock.now().addingTimeInterval(-Self.responseTarget)
        let rows = try await environment.postgres.query(
            """
            SELECT department, count(*)::int8, count(first_response_at)::int8,
                   coalesce(avg(extract(epoch FROM first_response_at - created_at) / 60)::float8, 0),
                   coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at) / 60)::float8, 0),
                   coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at) / 60)::float8, 0),
                   count(*) FILTER (WHERE first_response_at - created_at <= make_interval(secs => \(Self.responseTarget)))::int8,
                   count(*) FILTER (WHERE first_response_at IS NOT NULL OR created_at <= \(judgedBefore))::int8
            FROM cards
            WHERE created_at >= \(window.from) AND created_at < \(window.to) AND (\(department) = '' OR department = \(department))
            GROUP BY department ORDER BY department
            """, logger: environment.logger)
        var response = Fieldwork_V1_ResponseMetricsResponse()
        for try await (name, cards, responded, mean, median, p90, withinTarget, judged) in rows.decode(
            (String, Int64, Int64, Double, Double, Double, Int64, Int64).self)
        {
            response.departments.append(.with {
                $0.department = name
                $0.cards = Int32(cards)
                $0.responded = Int32(responded)
                $0.meanMinutes = mean
                $0.medianMinutes = median
                $0.p90Minutes = p90
                $0.shareWithinTarget = judged == 0 ? 0 : Double(withinTarget) / Double(judged)
            })
        }
        for try await (count, hours) in try await environment.postgres.query(
            """
            SELECT count(*)::int8, coalesce(avg(extract(epoch FROM completed_at - created_at) / 3600)::float8, 0) FROM requests r
            WHERE status = 'COMPLETED' AND completed_at >= \(window.from) AND completed_at < \(window.to)
              AND (\(department) = '' OR EXISTS (SELECT 1 FROM cards c WHERE c.request_id = r.id AND c.department = \(department)))
            """, logger: environment.logger
        ).decode((Int64, Double).self) {
            response.completedRequests = Int32(count)
            response.meanRequestCompletionHours = hours
        }
        return response
    }
}
