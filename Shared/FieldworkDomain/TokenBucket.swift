import Foundation

/// A token bucket: up to `capacity` posts at once, refilled continuously.
///
/// WeCom allows a robot 20 messages per minute. A bucket that holds B tokens and
/// refills (limit − B) per window can never let more than `limit` through in any
/// window: at most B saved up at its start plus (limit − B) refilled during it.
public struct TokenBucket: Sendable, Equatable {
    public let capacity: Double
    public let refillPerSecond: Double
    public private(set) var tokens: Double
    public private(set) var updatedAt: Date

    public init(capacity: Double, refillPerSecond: Double, tokens: Double, updatedAt: Date) {
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
        self.tokens = min(max(tokens, 0), capacity)
        self.updatedAt = updatedAt
    }

    /// The bucket for "at most `limit` per `window` seconds", bursting up to `burst`.
    /// The burst is kept below the limit, so part of the allowance always refills.
    public static func limiting(_ limit: Int, perSeconds window: Double, burst: Int, tokens: Double? = nil, updatedAt: Date) -> TokenBucket {
        let limit = max(limit, 2)
        let capacity = Double(min(max(burst, 1), limit - 1))
        return TokenBucket(
            capacity: capacity, refillPerSecond: (Double(limit) - capacity) / window, tokens: tokens ?? capacity, updatedAt: updatedAt)
    }

    public mutating func refill(at now: Date) {
        guard now > updatedAt else { return }
        tokens = min(capacity, tokens + now.timeIntervalSince(updatedAt) * refillPerSecond)
        updatedAt = now
    }

    /// Takes a token if there is one.
    public mutating func take(at now: Date) -> Bool {
        refill(at: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Whole tokens available now.
    public func available(at now: Date) -> Int {
        var copy = self
        copy.refill(at: now)
        return Int(copy.tokens.rounded(.down))
    }

    /// When the next whole token will be there.
    public func nextTokenAt(after now: Date) -> Date {
        var copy = self
        copy.refill(at: now)
        if copy.tokens >= 1, now >= copy.updatedAt { return now }
        return max(now, copy.updatedAt).addingTimeInterval((1 - copy.tokens) / refillPerSecond)
    }

    /// The receiver said we are over its limit: nothing more until `until`, then refill as usual.
    public mutating func pause(until: Date) {
        tokens = 0
        updatedAt = max(updatedAt, until)
    }
}
