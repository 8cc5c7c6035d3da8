/// The most recent invocation durations of a function, for p50/p99 in health reports.
public struct LatencyWindow: Sendable {
    private var samples: [Double]
    private var next = 0
    private var filled = false

    public init(capacity: Int = 1024) {
        samples = Array(repeating: 0, count: capacity)
    }

    public mutating func record(_ milliseconds: Double) {
        samples[next] = milliseconds
        next += 1
        if next == samples.count {
            next = 0
            filled = true
        }
    }

    public var count: Int { filled ? samples.count : next }

    /// The `fraction` percentile (0...1) by nearest rank, or nil with no samples.
    public func percentile(_ fraction: Double) -> Double? {
        percentiles([fraction])?.first
    }

    /// Several percentiles from one sort of the window, or nil with no samples.
    public func percentiles(_ fractions: [Double]) -> [Double]? {
        let n = count
        guard n > 0 else { return nil }
        let sorted = samples[0..<n].sorted()
        return fractions.map { fraction in
            let rank = Int((fraction * Double(n)).rounded(.up)) - 1
            return sorted[min(max(rank, 0), n - 1)]
        }
    }
}
