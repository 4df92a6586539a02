import Foundation
import FieldworkDomain
import Logging
import ServiceLifecycle
import Synchronization

/// When a job runs by itself. Every job can also be run by `RunJob(name, as_of)`.
public enum JobSchedule: Sendable {
    case every(Duration)
    /// Daily at this local time in the business time zone.
    case daily(hour: Int, minute: Int)
    /// Weekly on an ISO weekday (1 = Monday) at this local time.
    case weekly(weekday: Int, hour: Int, minute: Int)
    /// Only on request.
    case manual
}

public struct JobOutcome: Sendable {
    public var items: Int
    public var summary: String

    public init(items: Int, summary: String) {
        self.items = items
        self.summary = summary
    }
}

/// A scheduled piece of work. It must be safe to run twice for the same
/// moment and with several replicas running it (claim rows with
/// `FOR UPDATE SKIP LOCKED` or take an advisory lock).
public struct Job: Sendable {
    public var name: String
    public var schedule: JobSchedule
    public var run: @Sendable (_ asOf: Date) async throws -> JobOutcome

    public init(_ name: String, schedule: JobSchedule, run: @escaping @Sendable (_ asOf: Date) async throws -> JobOutcome) {
        self.name = name
        self.schedule = schedule
        self.run = run
    }
}

/// Holds a service's jobs, runs the scheduled ones, and runs any of them on request.
public final class JobRunner: Service, Sendable {
    private let jobs = Mutex<[String: Job]>([:])
    private let clock: any FieldworkClock
    private let calendar: BusinessCalendar
    private let logger: Logger
    private let scheduled: Bool

    init(clock: any FieldworkClock, calendar: BusinessCalendar, logger: Logger, scheduled: Bool) {
        self.clock = clock
        self.calendar = calendar
        self.logger = logger
        self.scheduled = scheduled
    }

    public func register(_ job: Job) {
        jobs.withLock { $0[job.name] = job }
    }

    public var names: [String] { jobs.withLock { $0.keys.sorted() } }

    public func run(_ name: String, asOf: Date) async throws -> JobOutcome {
        guard let job = jobs.withLock({ $0[name] }) else {
            throw DomainError.notFound(entity: "job", id: "\(name)' (known: \(names.joined(separator: ", ")))")
        }
        let outcome = try await job.run(asOf)
        logger.info("job ran", metadata: ["job": "\(name)", "as_of": "\(asOf)", "items": "\(outcome.items)", "summary": "\(outcome.summary)"])
        return outcome
    }

    public func run() async throws {
        let jobs = scheduled ? self.jobs.withLock { Array($0.values) } : []
        // A lifecycle service must not return before shutdown: that would stop the whole group.
        await withDiscardingTaskGroup { group in
            for job in jobs {
                if case .manual = job.schedule { continue }
                group.addTask { await self.loop(job) }
            }
            group.addTask { try? await gracefulShutdown() }
        }
    }

    private func loop(_ job: Job) async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let now = self.clock.now()
                let next = self.nextRun(of: job.schedule, after: now)
                do {
                    try await Task.sleep(for: .milliseconds(Int64(max(0, next.timeIntervalSince(now)) * 1000)))
                } catch { return }
                do {
                    _ = try await job.run(self.clock.now())
                } catch {
                    self.logger.error("scheduled job failed", metadata: ["job": "\(job.name)", "error": "\(error)"])
                }
            }
        }
    }

    func nextRun(of schedule: JobSchedule, after now: Date) -> Date {
        switch schedule {
        case .every(let interval):
            return now.addingTimeInterval(Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18)
        case .daily(let hour, let minute):
            return calendar.nextOccurrence(hour: hour, minute: minute, after: now)
        case .weekly(let weekday, let hour, let minute):
            var candidate = calendar.nextOccurrence(hour: hour, minute: minute, after: now)
            while calendar.isoWeekday(of: candidate) != weekday { candidate = calendar.nextOccurrence(hour: hour, minute: minute, after: candidate) }
            return candidate
        case .manual:
            return .distantFuture
        }
    }
}
