/// How long the MQTT session waits before its next connect attempt: exponential from `minMs`
/// after the first failure, capped at `maxMs`, each wait drawn from the upper half of its ceiling
/// (full jitter there) so a fleet that lost its broker together does not come back in lockstep.
///
/// The cap is what bounds recovery: once the broker is back, the next attempt comes within
/// `maxMs`. The default, 1 s, reconnects within a second of the broker's return at the price of
/// about one attempt a second while it is down (a refused TCP connect: cheap for both sides); a
/// fleet of many thousands on one broker may want a few seconds (`broker.reconnectMaxMs`).
public struct ReconnectBackoff: Sendable, Equatable {
    public static let defaultMinMs = 100
    public static let defaultMaxMs = 1000
    public static let maxMsRange = 500...300_000

    public var minMs: Int
    public var maxMs: Int

    public init(minMs: Int = defaultMinMs, maxMs: Int = defaultMaxMs) {
        self.minMs = max(1, minMs)
        self.maxMs = max(self.minMs, maxMs)
    }

    /// The ceiling after `failures` failed attempts in a row (at least 1).
    public func ceilingMs(afterFailures failures: Int) -> Int {
        let doublings = min(max(failures, 1) - 1, 20)
        return min(maxMs, minMs << doublings)
    }

    /// The wait after `failures` failed attempts in a row; `unit` is a random draw in 0...1.
    public func delayMs(afterFailures failures: Int, unit: Double) -> Int {
        let ceiling = ceilingMs(afterFailures: failures)
        let draw = min(max(unit, 0), 1)
        return ceiling / 2 + Int((Double(ceiling - ceiling / 2) * draw).rounded())
    }
}
