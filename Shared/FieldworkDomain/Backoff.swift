/// Exponential backoff with jitter: attempt n waits a random time in
/// [c/10, c] where c = min(cap, base·2ⁿ), which spreads retries of many rows over time.
public struct Backoff: Sendable, Equatable {
    public var baseSeconds: Double
    public var capSeconds: Double

    public init(baseSeconds: Double, capSeconds: Double) {
        self.baseSeconds = baseSeconds
        self.capSeconds = capSeconds
    }

    public func ceiling(attempt: Int) -> Double {
        min(capSeconds, baseSeconds * Double(1 << min(max(attempt, 0), 30)))
    }

    public func delay<G: RandomNumberGenerator>(attempt: Int, using generator: inout G) -> Double {
        let ceiling = ceiling(attempt: attempt)
        return Double.random(in: (ceiling / 10)...ceiling, using: &generator)
    }

    public func delay(attempt: Int) -> Double {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, using: &generator)
    }
}
