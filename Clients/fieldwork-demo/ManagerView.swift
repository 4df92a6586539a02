import FieldworkClientSupport
import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore

/// What the general manager (the read-only `executive` role, whose scope is the
/// whole company) reads after the months: the three hard indicators,
/// the health table, the objections, the departments' response times, the
/// escalations, the rule firings and the recommendations' effectiveness.
/// Only figures that follow from the seed: no ids or wall-clock times, so the
/// same seed prints the same view.
struct ManagerView {
    let fieldwork: Fieldwork
    let organisation: Organisation
    let start: LocalDate
    let end: LocalDate
    let calendar = BusinessCalendar(timeZoneIdentifier: "Asia/Shanghai")!

    func render() async throws -> String {
        let executive = try await fieldwork.caller("GM01")
        let admin = try await fieldwork.caller("A0001")
        let options = fieldwork.options
        var out: [String] = []
        func section(_ title: String) { out.append("\n== \(title)") }
        let names = Dictionary(uniqueKeysWithValues: organisation.hospitals.map { ($0.id, $0.name) })
        let lastMonth = LocalDate(year: end.year, month: end.month, day: 1)
        let period = range(lastMonth, end)

        out.append("Fieldwork — the manager's view, \(start) … \(end)")

        section("Hard indicators (SPEC §4.6), \(lastMonth) … \(end)")
        let indicators = try await fieldwork.scoring.hardIndicators(.with { $0.range = period }, metadata: executive, options: options)
        out.append(table(["indicator", "actual", "target", "attained"], indicators.indicators.map {
            [$0.name, "\(format($0.actual)) \($0.unit)", "\(format($0.target)) \($0.unit)", $0.attained ? "yes" : "NO"]
        }))

        section("Customer health, latest nightly run (score = 0.4·P + 0.3·T + 0.3·A)")
        let health = try await everyPage { token in
            let page = try await fieldwork.scoring.listCustomerHealth(
                .with { $0.sort = "score"; $0.page.pageSize = 500; $0.page.pageToken = token }, metadata: executive, options: options)
            return (page.customers, page.page.nextPageToken)
        }
        out.append(table(["customer", "name", "region", "score", "P", "T", "A", "grade", "red warnings", "hint"], health.map {
            [$0.customerID, $0.customerName, $0.region, format($0.score), format($0.components.purchases), format($0.components.trials),
             format($0.components.academic), $0.grade, $0.warnings.joined(separator: " "), $0.cultivationHint ? "cultivate" : ""]
        }))
        let grades = Dictionary(grouping: health, by: \.grade).mapValues(\.count)
        out.append("grades: A \(grades["A"] ?? 0), B \(grades["B"] ?? 0), C \(grades["C"] ?? 0); with red warnings: \(health.filter { !$0.warnings.isEmpty }.count); cultivation hints: \(health.filter(\.cultivationHint).count)")

        section("TOP 3 objections (SPEC §2.7)")
        for (label, from) in [("first month", start), ("last month", lastMonth)] {
            let to = label == "first month" ? min(start.adding(days: 27), end) : end
            let top = try await fieldwork.visits.topObjections(.with { $0.range = range(from, to) }, metadata: executive, options: options)
            out.append("\(label) (\(from) … \(to)): " + top.top.map { "\($0.objectionType) \($0.count)" }.joined(separator: ", "))
            for objection in top.top {
                var seen = Set<String>()
                let notes = objection.exampleNotes.filter { seen.insert($0).inserted }.prefix(3)
                out.append("  \(objection.objectionType): \(notes.joined(separator: "；"))")
            }
        }

        section("Plan completion on \(lastWorkday()) by region (valid / planned)")
        var completion: [[String]] = []
        for region in Organisation.regions {
            let result = try await fieldwork.visits.planCompletion(
                .with { $0.scope = .region; $0.subject = region.name; $0.day = .init(lastWorkday()) }, metadata: admin, options: options)
            completion.append([region.name, "\(result.valid) / \(result.planned)", "\(format(result.rate * 100)) %"])
        }
        out.append(table(["region", "valid / planned", "rate"], completion))

        section("First response per department (SPEC §3.5; target 2 h): the first month against the last")
        var responseRows: [[String]] = []
        for (label, from, to) in [("first month", start, min(start.adding(days: 27), end)), ("last month", lastMonth, end)] {
            let metrics = try await fieldwork.workflows.responseMetrics(.with { $0.range = range(from, to) }, metadata: executive, options: options)
            responseRows += metrics.departments.map {
                [label, $0.department, "\($0.cards)", "\($0.responded)", hours($0.meanMinutes), hours($0.medianMinutes), hours($0.p90Minutes),
                 "\(format($0.shareWithinTarget * 100)) %"]
            }
        }
        out.append(table(["period", "department", "cards", "answered", "mean", "median", "p90", "within 2 h"], responseRows))
        let metrics = try await fieldwork.workflows.responseMetrics(.with { $0.range = range(start, end) }, metadata: executive, options: options)
        out.append("requests completed: \(metrics.completedRequests), mean \(format(metrics.meanRequestCompletionHours)) h from switch to last card done")

        section("Escalations (no first response after 24 h → head; after 48 h → director)")
        let escalated = try await everyPage { token in
            let page = try await fieldwork.workflows.listCards(
                .with { $0.escalatedOnly = true; $0.page.pageSize = 500; $0.page.pageToken = token }, metadata: admin, options: options)
            return (page.cards, page.page.nextPageToken)
        }
        let byDepartment = Dictionary(grouping: escalated, by: \.department)
        out.append(table(["department", "to the head", "to the director"], byDepartment.keys.sorted().map { department in
            let cards = byDepartment[department]!
            return [department, "\(cards.filter { $0.escalationLevel == 1 }.count)", "\(cards.filter { $0.escalationLevel >= 2 }.count)"]
        }))
        let examples = escalated.sorted { $0.number < $1.number }.prefix(3)
        out.append("e.g. " + examples.map { "\($0.number) (\($0.department), level \($0.escalationLevel))" }.joined(separator: ", "))

        section("Strategy rules that fired (SPEC §4.5), with the latest reason")
        let rules = try await fieldwork.scoring.listRules(.init(), metadata: admin, options: options)
        var firingRows: [[String]] = []
        var reasons: [String] = []
        for rule in rules.rules.sorted(by: { $0.id < $1.id }) {
            let firings = try await everyPage { token in
                let page = try await fieldwork.scoring.listRuleFirings(
                    .with { $0.ruleID = rule.id; $0.page.pageSize = 500; $0.page.pageToken = token }, metadata: admin, options: options)
                return (page.firings, page.page.nextPageToken)
            }
            firingRows.append([rule.id, rule.name, "\(firings.count)"])
            if let latest = firings.max(by: { ($0.firedAt.date, $0.occurrenceKey) < ($1.firedAt.date, $1.occurrenceKey) }) {
                reasons.append("\(rule.id): \(latest.explanation)")
            }
        }
        out.append(table(["rule", "name", "firings"], firingRows))
        out += reasons.map { "  \($0)" }

        section("Grade changes (SPEC §2.6)")
        let changes = try await fieldwork.visits.listGradeChanges(.with { $0.page.pageSize = 100 }, metadata: admin, options: options)
        out.append(table(["customer", "name", "from → to", "proposed by", "status", "decided by", "reason"], changes.changes.sorted { $0.customerID < $1.customerID }.map {
            [$0.customerID, names[$0.customerID] ?? "", "\($0.fromGrade) → \($0.toGrade)", $0.proposedBy, "\($0.status)", $0.decidedBy, $0.decisionReason]
        }))

        section("Who was told (in-app inbox, by event type)")
        var inboxes: [[String]] = []
        for person in ["E1001", "M2001", "O4001", "LG01", "MK01", "CP01", "D3001"] {
            let caller = try await fieldwork.caller(person)
            let unread = try await fieldwork.notifications.unreadCount(.with { $0.personID = person }, metadata: caller, options: options).unread
            let items = try await everyPage { token in
                let page = try await fieldwork.notifications.listInbox(
                    .with { $0.personID = person; $0.page.pageSize = 500; $0.page.pageToken = token }, metadata: caller, options: options)
                return (page.items, page.page.nextPageToken)
            }
            let counts = Dictionary(grouping: items, by: \.eventType).mapValues(\.count)
            let role = organisation.people.first { $0.id == person }.map { "\($0.name) (\($0.roles.joined(separator: ", ")), \($0.department))" } ?? person
            inboxes.append([person, role, "\(unread)", counts.keys.sorted().map { "\($0.split(separator: ".").last ?? "") \(counts[$0]!)" }.joined(separator: ", ")])
        }
        out.append(table(["person", "who", "unread", "items"], inboxes))

        section("Recommendations of the latest run and their effectiveness (SPEC §4.4)")
        let recommendations = try await fieldwork.scoring.listRecommendations(.with { $0.page.pageSize = 500 }, metadata: executive, options: options)
        out.append("\(recommendations.recommendations.count) recommended: " + recommendations.recommendations.prefix(5).map {
            "\(names[$0.customerID] ?? $0.customerID) \($0.productLine) (\(format($0.score)), \($0.reason))"
        }.joined(separator: "; ") + (recommendations.recommendations.count > 5 ? " …" : ""))
        let cohort = start.adding(days: 1)
        let effectiveness = try await fieldwork.scoring.effectivenessReport(.with { $0.cohort = .init(cohort); $0.months = 6 }, metadata: executive, options: options)
        out.append("cohort \(cohort): recommended \(effectiveness.recommendedConverted)/\(effectiveness.recommended) converted (\(format(effectiveness.recommendedRate)) %), "
            + "others \(effectiveness.othersConverted)/\(effectiveness.others) (\(format(effectiveness.othersRate)) %), difference \(format(effectiveness.differencePp)) pp")
        return out.joined(separator: "\n")
    }

    /// Every item of a paged list RPC: `page` gets a page token and returns the
    /// page's items and the next token (empty on the last page).
    private func everyPage<Item>(_ page: (String) async throws -> ([Item], String)) async throws -> [Item] {
        var items: [Item] = []
        var token = ""
        repeat {
            let (more, next) = try await page(token)
            items += more
            token = next
        } while !token.isEmpty
        return items
    }

    private func lastWorkday() -> LocalDate {
        var day = end
        while day.isoWeekday > 5 { day = day.adding(days: -1) }
        return day
    }

    private func range(_ from: LocalDate, _ to: LocalDate) -> Fieldwork_V1_TimeRange {
        .with { $0.from = .init(date: calendar.instant(from)); $0.to = .init(date: calendar.instant(to.adding(days: 1))) }
    }

    private func format(_ value: Double) -> String { String(format: "%.1f", value) }

    private func hours(_ minutes: Double) -> String { minutes < 120 ? "\(Int(minutes.rounded())) min" : String(format: "%.1f h", minutes / 60) }
}
