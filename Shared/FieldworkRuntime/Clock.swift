import Foundation
import Synchronization

/// The time source. Code never reads the wall clock directly, so tests and
/// `RunJob(as_of)` can set "now".
public protocol FieldworkClock: Sendable {
    func now() -> Date
}

public struct SystemClock: FieldworkClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that stands still until told otherwise.
public final class ManualClock: FieldworkClock {
    private let current: Mutex<Date>

    public init(_ start: Date) { current = Mutex(start) }
    public func now() -> Date { current.withLock { $0 } }
    public func set(_ date: Date) { current.withLock { $0 = date } }
    public func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }
}
