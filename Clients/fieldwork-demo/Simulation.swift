import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore

/// Plays the reference customer's months through the public RPCs only: each
/// simulated day sets the services' business clock, lets every rep check in and
/// submit visits, lets the departments answer (or not) their cards, records the
/// ERP's purchases, trials, academic events, contracts and payments, and runs the
/// day's jobs with `RunJob(as_of)`. Everything random comes from one seed.
struct Simulation {
    struct Settings {
        var seed: UInt64
        var start: LocalDate   // a Monday
        var weeks: Int
        var end: LocalDate { start.adding(days: weeks * 7 - 1) }
        /// The last (calendar) month of the run: the payment-cycle story plays there.
        var finalMonthStart: LocalDate { LocalDate(year: end.year, month: end.month, day: 1) }
    }

    let settings: Settings
    let organisation: Organisation
    let fieldwork: Fieldwork
    let calendar = BusinessCalendar(timeZoneIdentifier: "Asia/Shanghai")!
    let log: @Sendable (String) -> Void

    private var random: SeededRandom
    private var codes: [String: String] = [:]                 // hospital → check-in code
    private var stages: [String: Fieldwork_V1_FunnelStage] = [:]  // "hospital|line" → stage
    private var cards: [String: CardPlan] = [:]               // card id → what the department will do
    private var contracts: [ContractPlan] = []
    private var plans: [String: [String]] = [:]               // rep → today's planned hospitals
    private var proposals: [String: String] = [:]             // story 6: label → proposal id
    private(set) var tally = Tally()
    private var businessTime: Date?                            // what the services' clocks were last set to

    struct Tally {
        var visits = 0, void = 0, outOfRange = 0, skipped = 0, supportRequests = 0, trials = 0, contracts = 0, payments = 0
        var purchases = 0, academic = 0, cardsAnswered = 0, rpcs = 0
    }

    struct CardPlan {
        var id, number, department: String
        var created: Date
        var respondAt: Date
        var doneAt: Date
        var responded = false
    }

    struct ContractPlan {
        var id, hospital, region: String
        var amountFen: Int64
        var terms: Int
        var signed: LocalDate
        var revised = false
    }

    init(settings: Settings, organisation: Organisation, fieldwork: Fieldwork, log: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.organisation = organisation
        self.fieldwork = fieldwork
        self.log = log
        random = SeededRandom(seed: settings.seed)
    }

    // MARK: The run

    mutating func run() async throws {
        let eve = settings.start.adding(days: -1)
        try await setTime(at(eve, 8, 0))
        try await loadDirectory()
        try await recordHistory(before: settings.start)
        try await planDay(settings.start, at: at(eve, 20, 0))
        var day = settings.start
        while day <= settings.end {
            try await play(day)
            if day.day == 1 || day == settings.start { log("  \(day)  visits \(tally.visits)  cards answered \(tally.cardsAnswered)  facts \(tally.purchases + tally.trials + tally.academic + tally.payments)") }
            day = day.adding(days: 1)
        }
    }

    private mutating func play(_ day: LocalDate) async throws {
        let workday = day.isoWeekday <= 5
        if day.isoWeekday == 1 {
            try await setTime(at(day, 8, 0))
            try await job(.visits, "objection-digest", at(day, 8, 0))
            // Last week's ERP export (the history already holds the week before the first day).
            if day > settings.start { try await importPurchases(week: day.adding(days: -7)..<day, at: at(day, 8, 30)) }
        }
        if workday {
            // Visits at 09:30, 13:30 and 15:30 (submitted 50 minutes later); the
            // departments look at their cards at the top of every hour in between.
            try await tick(at(day, 9, 0), working: true)
            try await visitSlot(0, day: day, checkIn: at(day, 9, 30))
            for hour in [11, 12] { try await tick(at(day, hour, 0), working: true) }
            try await visitSlot(1, day: day, checkIn: at(day, 13, 30))
            try await tick(at(day, 15, 0), working: true)
            try await visitSlot(2, day: day, checkIn: at(day, 15, 30))
            try await tick(at(day, 17, 0), working: true)
            try await storyGradeChanges(day)
        } else {
            try await tick(at(day, 10, 0), working: false)
        }
        try await recordDayFacts(day, at: at(day, 17, 30))
        try await tick(at(day, 18, 0), working: workday)
        if workday {
            try await job(.visits, "plan-day-close", at(day, 18, 0))
            try await tick(at(day, 19, 0), working: true)
        }
        try await settle()
        let next = day.adding(days: 1)
        if next <= settings.end { try await planDay(nextWorkday(after: day), at: at(day, 20, 0)) }
        try await setTime(at(next, 2, 0))
        try await job(.scoring, "scoring", at(next, 2, 0))
        try await settle()
        try await followRecommendations()
    }

    /// The reps work the nightly run's recommendation list: a recommended product
    /// line joins what they talk about at that hospital, and moves faster there.
    private mutating func followRecommendations() async throws {
        let list = try await fieldwork.scoring.listRecommendations(
            .with { $0.page.pageSize = 500 }, metadata: try await fieldwork.caller("D3001"), options: fieldwork.options)
        recommended = Set(list.recommendations.map { "\($0.customerID)|\($0.productLine)" })
        for recommendation in list.recommendations { extraLines[recommendation.customerID, default: []].insert(recommendation.productLine) }
        tally.rpcs += 1
    }

    /// A generator of its own for one subject (a card, a hospital's day), fixed by
    /// the seed alone: what happens to it does not depend on what was drawn before.
    private func draw(_ label: String) -> SeededRandom { SeededRandom(seed: settings.seed).derived(label) }

    private func nextWorkday(after day: LocalDate) -> LocalDate {
        var next = day.adding(days: 1)
        while next.isoWeekday > 5 { next = next.adding(days: 1) }
        return next
    }

    // MARK: Directory and history

    private mutating func loadDirectory() async throws {
        let admin = try await fieldwork.caller("A0001")
        for (kind, csv) in [(Fieldwork_V1_CsvKind.people, organisation.peopleCSV), (.customers, organisation.customersCSV),
                            (.products, organisation.productsCSV)] {
            let response = try await fieldwork.visits.importCsv(
                .with { $0.kind = kind; $0.content = Data(csv.utf8); $0.requestID = "demo-directory-\(kind.rawValue)" },
                metadata: admin, options: fieldwork.options)
            log("  imported \(kind): \(response.rowsCreated) created, \(response.rowsUpdated) updated")
        }
        for department in Organisation.departments {
            _ = try await fieldwork.visits.upsertDepartment(
                .with { $0.department = .with { $0.code = department.code; $0.name = department.name; $0.headPersonID = department.head } },
                metadata: admin, options: fieldwork.options)
        }
        // The QR code on each hospital's reception desk; no expiry.
        for hospital in organisation.hospitals {
            let code = try await fieldwork.visits.issueCheckinCode(.with { $0.customerID = hospital.id }, metadata: admin, options: fieldwork.options)
            codes[hospital.id] = code.token
        }
        tally.rpcs += 12 + organisation.hospitals.count
        try await settle()   // the other services' directory copies
    }

    /// Thirteen weeks of ERP purchases and the contracts already running, so the
    /// first nightly run has a full window.
    private mutating func recordHistory(before start: LocalDate) async throws {
        try await importPurchases(week: start.adding(days: -91)..<start, at: nil)
        let ops = try await fieldwork.caller("O4001")
        for (index, region) in Organisation.regions.enumerated() {
            let hospitals = organisation.hospitals.filter { $0.region == region.name }.prefix(5)
            for (n, hospital) in hospitals.enumerated() {
                let contract = ContractPlan(
                    id: "HT-2026-\(String(format: "%04d", index * 10 + n + 1))", hospital: hospital.id, region: region.name,
                    amountFen: Int64(random.int(20...120)) * 10_000_00, terms: 45,
                    signed: LocalDate(year: 2026, month: 1, day: 6).adding(days: n * 9 + index * 3))
                try await recordContract(contract, caller: ops)
            }
        }
        try await recordPayments(paidIn: LocalDate(year: 2026, month: 1, day: 1)..<start)
        // Academic salons and trials of the same thirteen weeks.
        var day = start.adding(days: -91)
        while day < start {
            if day.isoWeekday == 4, [2, 4].contains((day.day - 1) / 7 + 1) { try await academicEvents(day, caller: ops) }
            day = day.adding(days: 1)
        }
        for hospital in organisation.hospitals {
            var dice = draw("trial history \(hospital.id)")
            for _ in 0..<dice.int(0...Int(hospital.engagement * 4)) {
                let line = dice.pick(focusLines(of: hospital))
                try await recordTrial(hospital, product: Organisation.products.first { $0.line == line }!.id,
                                      day: start.adding(days: -dice.int(1...91)), caller: ops)
            }
        }
    }

    // MARK: Plans and visits

    private mutating func planDay(_ day: LocalDate, at time: Date) async throws {
        try await setTime(time)
        var plans: [String: [String]] = [:]
        for rep in organisation.reps {
            plans[rep.id] = organisation.hospitals(ownedBy: rep.id).prefix(3).map(\.id)
        }
        self.plans = plans
        let fieldwork = fieldwork
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (rep, hospitals) in plans {
                group.addTask {
                    _ = try await fieldwork.visits.setDailyPlan(
                        .with {
                            $0.requestID = "demo-plan-\(rep)-\(day)"
                            $0.repID = rep
                            $0.day = .init(day)
                            $0.visits = hospitals.enumerated().map { index, id in .with { $0.customerID = id; $0.slot = ["09:30", "13:30", "15:30"][index] } }
                        }, metadata: try await fieldwork.caller(rep), options: fieldwork.options)
                }
            }
            try await group.waitForAll()
        }
        tally.rpcs += plans.count
    }

    private enum Position { case inside, none, far }

    private struct PlannedVisit: Sendable {
        var rep: String
        var hospital: Organisation.Hospital
        var code: String
        var position: Position
        var retryWithGPS: Bool
        var record: Fieldwork_V1_VisitRecord
        var requestID: String
    }

    private mutating func visitSlot(_ slot: Int, day: LocalDate, checkIn: Date) async throws {
        var planned: [PlannedVisit] = []
        for rep in organisation.reps {
            guard let id = plans[rep.id], slot < id.count, let hospital = organisation.hospitals.first(where: { $0.id == id[slot] }) else { continue }
            if random.chance(0.04) { tally.skipped += 1; continue }   // an emergency elsewhere: the plan is missed
            let roll = Double.random(in: 0..<1, using: &random)
            let position: Position = roll < 0.015 ? .none : (roll < 0.03 ? .far : .inside)
            planned.append(PlannedVisit(
                rep: rep.id, hospital: hospital, code: codes[hospital.id]!, position: position, retryWithGPS: random.chance(0.5),
                record: record(for: hospital, day: day), requestID: "demo-\(settings.seed)-\(day)-\(rep.id)-\(slot)"))
        }
        try await setTime(checkIn)
        let fieldwork = fieldwork
        var jitter = random
        let checkedIn: [(PlannedVisit, String?)] = try await withThrowingTaskGroup(of: (PlannedVisit, String?).self) { group in
            for visit in planned {
                let (dLat, dLon) = (Double.random(in: -0.0004...0.0004, using: &jitter), Double.random(in: -0.0004...0.0004, using: &jitter))
                group.addTask {
                    let caller = try await fieldwork.caller(visit.rep)
                    func checkIn(_ position: Position, suffix: String) async throws -> Fieldwork_V1_Visit {
                        try await fieldwork.visits.checkIn(.with {
                            $0.requestID = visit.requestID + suffix
                            $0.code = visit.code
                            switch position {
                            case .none: break
                            case .inside: $0.location = .with { $0.latitude = visit.hospital.latitude + dLat; $0.longitude = visit.hospital.longitude + dLon; $0.accuracyM = 10 }
                            case .far: $0.location = .with { $0.latitude = visit.hospital.latitude + 0.018; $0.longitude = visit.hospital.longitude; $0.accuracyM = 12 }
                            }
                        }, metadata: caller, options: fieldwork.options)
                    }
                    var result = try await checkIn(visit.position, suffix: "")
                    if result.status == .void {
                        guard visit.retryWithGPS else { return (visit, nil) }
                        result = try await checkIn(.inside, suffix: "-retry")   // location services switched on, scanned again
                    }
                    return (visit, result.id)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        random = jitter
        tally.void += planned.filter { $0.position == .none }.count
        tally.outOfRange += planned.filter { $0.position == .far }.count

        try await setTime(checkIn.addingTimeInterval(50 * 60))
        let open = checkedIn.compactMap { visit, id in id.map { (visit, $0) } }.sorted { $0.0.requestID < $1.0.requestID }
        // Plain visits in parallel; those that switch on surgery support one by one,
        // so the cards' numbers come out in the same order on every run.
        let plain = open.filter { !$0.0.record.surgerySupport.needed }
        let support = open.filter { $0.0.record.surgerySupport.needed }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (visit, id) in plain { group.addTask { try await Self.submit(visit, id, fieldwork) } }
            try await group.waitForAll()
        }
        for (visit, id) in support { try await Self.submit(visit, id, fieldwork) }
        tally.visits += open.count
        tally.supportRequests += support.count
        tally.rpcs += planned.count * 2
        try await settle()
        try await tick(checkIn.addingTimeInterval(50 * 60), working: true)
    }

    private static func submit(_ visit: PlannedVisit, _ id: String, _ fieldwork: Fieldwork) async throws {
        _ = try await fieldwork.visits.submitVisit(.with {
            $0.requestID = visit.requestID + "-submit"
            $0.visitID = id
            $0.location = .with { $0.latitude = visit.hospital.latitude; $0.longitude = visit.hospital.longitude; $0.accuracyM = 10 }
            $0.record = visit.record
        }, metadata: try await fieldwork.caller(visit.rep), options: fieldwork.options)
    }

    private static let notes: [Fieldwork_V1_ObjectionType: [String]] = [
        .price: ["价格高于竞品约8%", "科室预算收紧，要求降价", "集采后价格压力大", "希望提供阶梯折扣"],
        .delivery: ["上次跟台器械晚到半小时", "急诊备货不足", "配送周期太长", "周末无法送货"],
        .qualification: ["注册证有效期待更新", "缺少进院资质文件", "授权书需重新盖章", "院内评审材料不全"],
    ]

    /// What the rep records: one product line per visit, the stage it reached, an
    /// objection, and now and then a surgery that needs support.
    private mutating func record(for hospital: Organisation.Hospital, day: LocalDate) -> Fieldwork_V1_VisitRecord {
        let lines = focusLines(of: hospital) + (extraLines[hospital.id] ?? []).sorted()
        let favoured = lines.filter { recommended.contains("\(hospital.id)|\($0)") }
        let line = !favoured.isEmpty && random.chance(0.5) ? random.pick(favoured) : random.pick(lines)
        let key = "\(hospital.id)|\(line)"
        let boost = recommended.contains(key) ? 1.8 : 1
        var stage = stages[key] ?? .lead
        if stage == .lead { stage = .visited }
        else if stage.rawValue < Fieldwork_V1_FunnelStage.won.rawValue, random.chance((0.03 + 0.09 * hospital.engagement) * boost) {
            stage = Fieldwork_V1_FunnelStage(rawValue: stage.rawValue + 1) ?? stage
        }
        stages[key] = stage
        let products = Organisation.products.filter { $0.line == line }
        let late = day >= settings.end.adding(days: -60)
        // A delivery problem in 温州 and 宁波 over the last two months moves DELIVERY up the TOP 3.
        let deliveryWeight = late && (hospital.region == "温州" || hospital.region == "宁波") ? 0.45 : 0.18
        let roll = Double.random(in: 0..<1, using: &random)
        let objection: Fieldwork_V1_ObjectionType =
            roll < 0.30 ? .price : roll < 0.30 + deliveryWeight ? .delivery : roll < 0.45 + deliveryWeight ? .qualification : .unspecified
        return .with {
            $0.department = random.pick(hospital.departments)
            $0.productIds = [random.pick(products).id]
            $0.objectionType = objection
            if objection != .unspecified { $0.objectionNote = random.pick(Self.notes[objection]!) }
            $0.intent = switch stage {
            case .won, .trial: .trial
            case .quoted: .high
            case .needsConfirmed: .medium
            default: .low
            }
            $0.stageReached = stage
            $0.nextStep = stage.rawValue >= Fieldwork_V1_FunnelStage.quoted.rawValue ? "跟进报价与试用安排" : "约科主任确认需求"
            if line != "lab", stage.rawValue >= Fieldwork_V1_FunnelStage.quoted.rawValue, random.chance(0.05) {
                $0.surgerySupport = .with {
                    $0.needed = true
                    $0.surgeryDate = .init(day.adding(days: random.int(3...7)))
                    $0.department = "骨科"
                    $0.productIds = products.prefix(2).map(\.id)
                }
            }
        }
    }

    /// The two product lines a hospital's orthopaedics or lab already buys.
    private func focusLines(of hospital: Organisation.Hospital) -> [String] {
        let number = Int(hospital.id.suffix(3)) ?? 0
        let lines = Organisation.productLines
        return [lines[number % lines.count], lines[(number + 1) % lines.count]]
    }

    // MARK: Cards: who answers, and when

    /// Between visits: new cards get their (seeded) answer times, due answers and
    /// completions happen, and the escalation sweep runs as of now.
    private mutating func tick(_ now: Date, working: Bool) async throws {
        try await setTime(now)
        let admin = try await fieldwork.caller("A0001")
        let open = try await fieldwork.workflows.listCards(
            .with { $0.status = .open; $0.page.pageSize = 500 }, metadata: admin, options: fieldwork.options)
        for card in open.cards where cards[card.id] == nil {
            var dice = draw(card.number)
            let created = card.createdAt.date
            // The departments get used to the cards: more answer quickly as the months go by.
            let learned = Double(calendar.day(of: created).dayNumber - settings.start.dayNumber) / Double(settings.weeks * 7)
            let minutes: Int = switch card.department {
            case "logistics": dice.chance(0.6 + 0.3 * learned) ? dice.int(15...100) : dice.int(240...1800)
            case "marketing": dice.chance(0.4 + 0.4 * learned) ? dice.int(20...110) : (dice.chance(0.6) ? dice.int(240...1200) : dice.int(1560...3000))
            default: dice.chance(0.2 + 0.45 * learned) ? dice.int(30...115) : (dice.chance(0.5) ? dice.int(480...1200) : dice.int(1500...3100))
            }
            let respondAt = created.addingTimeInterval(Double(minutes * 60))
            cards[card.id] = CardPlan(id: card.id, number: card.number, department: card.department, created: created,
                                      respondAt: respondAt, doneAt: respondAt.addingTimeInterval(Double(dice.int(20...40) * 3600)))
        }
        if working {
            for id in cards.keys.sorted(by: { cards[$0]!.number < cards[$1]!.number }) {
                guard var plan = cards[id] else { continue }
                let member = Self.members[plan.department] ?? "A0001"
                if !plan.responded, plan.respondAt <= now {
                    let caller = try await fieldwork.caller(member)
                    _ = try await fieldwork.workflows.acknowledgeCard(.with { $0.cardID = id; $0.requestID = "demo-ack-\(id)" }, metadata: caller, options: fieldwork.options)
                    _ = try await fieldwork.workflows.setCardStatus(
                        .with { $0.cardID = id; $0.status = .inProgress; $0.requestID = "demo-start-\(id)" }, metadata: caller, options: fieldwork.options)
                    plan.responded = true
                    tally.cardsAnswered += 1
                    cards[id] = plan
                } else if plan.responded, plan.doneAt <= now {
                    _ = try await fieldwork.workflows.setCardStatus(
                        .with { $0.cardID = id; $0.status = .done; $0.requestID = "demo-done-\(id)" },
                        metadata: try await fieldwork.caller(member), options: fieldwork.options)
                    cards[id] = nil
                }
            }
        }
        try await job(.workflows, "escalation", now)
        try await settle()
    }

    private static let members = ["logistics": "LG02", "marketing": "MK02", "compliance": "CP02"]

    // MARK: Facts

    private mutating func importPurchases(week: Range<LocalDate>, at time: Date?) async throws {
        var rows = ["source_row_id,customer_id,product_line,amount,date"]
        var day = week.lowerBound
        while day < week.upperBound {
            for hospital in organisation.hospitals {
                var dice = draw("purchase \(hospital.id) \(day)")
                guard dice.chance(0.16 * engagement(of: hospital)) else { continue }
                // An orthopaedic specialty hospital buys consumables like a large general one.
                let base = hospital.level == "三级甲等" || hospital.isPrivate ? 60_000 : (hospital.level == "三级乙等" ? 30_000 : 12_000)
                let amount = base / 2 + dice.int(0...base)
                // The ERP's Excel export: thousands separators and slashed dates.
                let formatted = amount.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US")))
                rows.append("ERP-\(day.compact)-\(hospital.id),\(hospital.id),\(dice.pick(focusLines(of: hospital) + wonLines(of: hospital))),\"\(formatted).00\",\(day.year)/\(day.month)/\(day.day)")
                tally.purchases += 1
            }
            day = day.adding(days: 1)
        }
        if let time { try await setTime(time) }
        _ = try await fieldwork.scoring.importCsv(
            .with { $0.kind = .purchases; $0.content = Data((rows.joined(separator: "\n") + "\n").utf8); $0.requestID = "demo-erp-\(week.lowerBound)" },
            metadata: try await fieldwork.caller("O4001"), options: fieldwork.options)
        tally.rpcs += 1
    }

    /// Trials for stages that reached TRIAL, new contracts for WON, academic
    /// events on the second and fourth Thursday, payments, and the story anchors.
    private mutating func recordDayFacts(_ day: LocalDate, at time: Date) async throws {
        try await setTime(time)
        let ops = try await fieldwork.caller("O4001")
        for key in stages.keys.sorted() {
            let parts = key.split(separator: "|").map(String.init)
            let (hospitalID, line) = (parts[0], parts[1])
            guard let hospital = organisation.hospitals.first(where: { $0.id == hospitalID }) else { continue }
            switch stages[key] {
            case .trial where !trialRecorded.contains(key) && hospitalID != Self.trialsGoQuiet:
                trialRecorded.insert(key)
                try await recordTrial(hospital, product: Organisation.products.first { $0.line == line }!.id, day: day, caller: ops)
            case .won where !contracts.contains(where: { $0.hospital == hospitalID && $0.id.hasSuffix(line) }):
                var contract = ContractPlan(
                    id: "HT-\(day.compact)-\(hospitalID.suffix(6))-\(line)", hospital: hospitalID, region: hospital.region,
                    amountFen: Int64(random.int(8...150)) * 10_000_00, terms: revisionDone ? 60 : 45, signed: day)
                contract.revised = revisionDone && hospital.region == Self.driftingRegion
                contract.terms = contract.revised ? 60 : 45
                try await recordContract(contract, caller: ops)
            default: break
            }
        }
        // Story 5's anchors: 浙二 had two trials early in the window and none since (a red
        // warning on trials); 绍兴华康骨科医院 never misses an academic salon (full marks) but buys little.
        for offset in [75, 45] where day == settings.end.adding(days: -offset) {
            try await recordTrial(organisation.hospitals.first { $0.id == Self.trialsGoQuiet }!, product: "SP-NEW-01", day: day, caller: ops)
        }
        if day.isoWeekday == 4, [2, 4].contains((day.day - 1) / 7 + 1) {
            try await academicEvents(day, caller: ops)
        }
        // Trial kits out on Fridays to the hospitals that ask for them (浙二 has stopped asking).
        if day.isoWeekday == 5 {
            for hospital in organisation.hospitals where hospital.id != Self.trialsGoQuiet {
                var dice = draw("trial \(hospital.id) \(day)")
                guard dice.chance(0.3 * hospital.engagement) else { continue }
                let line = dice.pick(focusLines(of: hospital))
                try await recordTrial(hospital, product: Organisation.products.first { $0.line == line }!.id, day: day, caller: ops)
            }
        }
        if day == settings.finalMonthStart.adding(days: -68) { try await reviseDriftingTerms(day, caller: ops) }
        try await recordPayments(paidIn: day..<day.adding(days: 1))
    }

    private static let trialsGoQuiet = "H-ZJ-002"
    private var recommended: Set<String> = []              // "hospital|line" of the latest run
    private var extraLines: [String: Set<String>] = [:]    // lines taken up after a recommendation

    private func wonLines(of hospital: Organisation.Hospital) -> [String] {
        Organisation.productLines.filter { stages["\(hospital.id)|\($0)"] == .won && !focusLines(of: hospital).contains($0) }
    }

    /// 浙二 (story 5) is the most engaged customer of all.
    private func engagement(of hospital: Organisation.Hospital) -> Double {
        hospital.id == Self.trialsGoQuiet ? 0.95 : hospital.engagement
    }
    private static let loyalAttendee = "绍兴华康骨科医院"
    private static let driftingRegion = "杭州"
    private var trialRecorded: Set<String> = []
    private var revisionDone = false

    private mutating func recordTrial(_ hospital: Organisation.Hospital, product: String, day: LocalDate, caller: Metadata) async throws {
        _ = try await fieldwork.scoring.recordTrial(.with {
            $0.trial = .with { $0.sourceRowID = "TRIAL-\(day.compact)-\(hospital.id)-\(product)"; $0.customerID = hospital.id; $0.productID = product; $0.date = .init(day) }
        }, metadata: caller, options: fieldwork.options)
        tally.trials += 1
        tally.rpcs += 1
    }

    private mutating func academicEvents(_ day: LocalDate, caller: Metadata) async throws {
        let topics = ["脊柱微创学术沙龙", "创伤骨科论坛", "关节置换技术研讨会", "检验医学质量控制培训"]
        for region in Organisation.regions {
            let event = "\(region.name)\(topics[(day.month + day.day) % topics.count])"
            for hospital in organisation.hospitals where hospital.region == region.name {
                var dice = draw("academic \(hospital.id) \(day)")
                let always = hospital.name == Self.loyalAttendee || hospital.id == Self.trialsGoQuiet
                guard always || dice.chance(0.8 * hospital.engagement) else { continue }
                _ = try await fieldwork.scoring.recordAcademicParticipation(.with {
                    $0.participation = .with {
                        $0.sourceRowID = "EVT-\(day.compact)-\(hospital.id)"; $0.customerID = hospital.id; $0.eventName = event; $0.date = .init(day)
                    }
                }, metadata: caller, options: fieldwork.options)
                tally.academic += 1
                tally.rpcs += 1
            }
        }
    }

    private mutating func recordContract(_ contract: ContractPlan, caller: Metadata) async throws {
        _ = try await fieldwork.scoring.recordContract(.with {
            $0.contract = .with {
                $0.id = contract.id; $0.customerID = contract.hospital; $0.region = contract.region
                $0.amount.fen = contract.amountFen; $0.paymentTermsDays = Int32(contract.terms); $0.signed = .init(contract.signed)
            }
        }, metadata: caller, options: fieldwork.options)
        contracts.append(contract)
        tally.contracts += 1
        tally.rpcs += 1
    }

    /// Story 8: the hospitals of one region ask for longer terms; from then on they pay later.
    private mutating func reviseDriftingTerms(_ day: LocalDate, caller: Metadata) async throws {
        for index in contracts.indices where contracts[index].region == Self.driftingRegion {
            _ = try await fieldwork.scoring.reviseContractTerms(.with {
                $0.contractID = contracts[index].id; $0.paymentTermsDays = 60; $0.effective = .init(day); $0.reason = "医院资金紧张，账期放宽"
            }, metadata: caller, options: fieldwork.options)
            contracts[index].revised = true
            contracts[index].terms = 60
        }
        revisionDone = true
    }

    /// Invoices on the 5th and the 20th of every month; paid after the terms, give
    /// or take a day. Records the payments whose paid date falls in `days`.
    private mutating func recordPayments(paidIn days: Range<LocalDate>) async throws {
        let ops = try await fieldwork.caller("O4001")
        for contract in contracts {
            var month = LocalDate(year: contract.signed.year, month: contract.signed.month, day: 1)
            while month < days.upperBound {
                for invoiceDay in [5, 20] {
                    let invoice = LocalDate(year: month.year, month: month.month, day: invoiceDay)
                    guard invoice > contract.signed else { continue }
                    var dice = draw("payment \(contract.id) \(invoice)")
                    let slow = contract.revised && invoice >= settings.finalMonthStart.adding(days: -68)
                    let paid = invoice.adding(days: (slow ? 58 : 45) + dice.int(-1...1))
                    guard days.contains(paid) else { continue }
                    _ = try await fieldwork.scoring.recordPayment(.with {
                        $0.payment = .with {
                            $0.sourceRowID = "PAY-\(contract.id)-\(invoice.compact)"; $0.contractID = contract.id
                            $0.invoiceDate = .init(invoice); $0.paidDate = .init(paid); $0.amount.fen = contract.amountFen / 24
                        }
                    }, metadata: ops, options: fieldwork.options)
                    tally.payments += 1
                    tally.rpcs += 1
                }
                month = LocalDate(dayNumber: month.dayNumber + 32)
                month = LocalDate(year: month.year, month: month.month, day: 1)
            }
        }
    }

    // MARK: Story 6: grade changes go through the supervisor

    private mutating func storyGradeChanges(_ day: LocalDate) async throws {
        let index = day.dayNumber - settings.start.dayNumber
        let stories: [(propose: Int, rep: String, to: String, reason: String, confirm: Bool, decision: String)] = [
            (10, "E1009", "A", "连续三个月采购增长，院内新建脊柱中心", true, "核实采购数据，同意升级"),
            (24, "E1016", "A", "科主任支持力度大", false, "采购量尚未达到A级标准，暂缓"),
        ]
        for story in stories {
            guard let hospital = organisation.hospitals(ownedBy: story.rep).first(where: { $0.grade != story.to }) else { continue }
            if index == story.propose {
                let proposal = try await fieldwork.visits.proposeGradeChange(.with {
                    $0.customerID = hospital.id; $0.toGrade = story.to; $0.reason = story.reason; $0.requestID = "demo-grade-\(story.rep)"
                }, metadata: try await fieldwork.caller(story.rep), options: fieldwork.options)
                proposals[story.rep] = proposal.id
            } else if index > story.propose, let id = proposals.removeValue(forKey: story.rep) {
                // The supervisor decides on the next working day; until then the grade stays.
                let supervisor = organisation.people.first { $0.id == story.rep }!.supervisor
                let request = Fieldwork_V1_DecideGradeChangeRequest.with { $0.proposalID = id; $0.reason = story.decision; $0.requestID = "demo-decide-\(id)" }
                let caller = try await fieldwork.caller(supervisor)
                if story.confirm {
                    _ = try await fieldwork.visits.confirmGradeChange(request, metadata: caller, options: fieldwork.options)
                } else {
                    _ = try await fieldwork.visits.rejectGradeChange(request, metadata: caller, options: fieldwork.options)
                }
            }
        }
    }

    // MARK: Time and jobs

    private func at(_ day: LocalDate, _ hour: Int, _ minute: Int) -> Date { calendar.instant(day, hour: hour, minute: minute) }

    /// Moves every service's business clock to `time`.
    private mutating func setTime(_ time: Date) async throws {
        guard time != businessTime else { return }   // e.g. a visit slot's submissions and the tick after them
        let admin = try await fieldwork.caller("A0001")
        let fieldwork = fieldwork
        try await withThrowingTaskGroup(of: Void.self) { group in
            for clock in fieldwork.clocks {
                group.addTask { _ = try await clock.setTime(.with { $0.now = .init(date: time) }, metadata: admin, options: fieldwork.options) }
            }
            try await group.waitForAll()
        }
        tally.rpcs += fieldwork.clocks.count
        businessTime = time
    }

    enum ServiceName { case visits, workflows, scoring }

    /// Runs a job as of `asOf`, or as of the service's (simulated) now when nil.
    private mutating func job(_ service: ServiceName, _ name: String, _ asOf: Date?) async throws {
        let request = Fieldwork_V1_RunJobRequest.with {
            $0.name = name
            if let asOf { $0.asOf = .init(date: asOf) }
        }
        let admin = try await fieldwork.caller("A0001")
        switch service {
        case .visits: _ = try await fieldwork.visits.runJob(request, metadata: admin, options: fieldwork.options)
        case .workflows: _ = try await fieldwork.workflows.runJob(request, metadata: admin, options: fieldwork.options)
        case .scoring: _ = try await fieldwork.scoring.runJob(request, metadata: admin, options: fieldwork.options)
        }
        tally.rpcs += 1
    }

    /// Lets every event published so far reach its subscribers before the clock
    /// moves on (each relay pass delivers what is due, in order): visits first,
    /// whose events make cards and firings, then workflows and scoring.
    private mutating func settle() async throws {
        for service in [ServiceName.visits, .workflows, .scoring] {
            try await job(service, "outbox-relay", nil)
        }
    }
}
