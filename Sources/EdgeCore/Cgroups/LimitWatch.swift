/// A limit a function ran into, as the kernel counted it.
public enum LimitHit: Sendable, Equatable {
    /// The OOM killer ended processes of the function (`total` so far).
    case oomKilled(newKills: Int64, total: Int64)
    /// A fork or clone failed at the pids limit (`total` so far).
    case pidsLimit(newHits: Int64, total: Int64)
    /// Most CFS periods throttled over the last samples.
    case cpuThrottled(percent: Double, windowSeconds: Double)
}

/// Compares successive usage samples of one function and says which limits it hit in between.
/// Throttling is "sustained" when at least `throttleRatio` of the CPU periods were throttled in
/// `sustainedSamples` consecutive intervals; it is reported once until it stops.
public struct LimitWatch: Sendable {
    public var throttleRatio = 0.5
    public var sustainedSamples = 2

    private var last: ResourceUsage?
    private var lastMs: Int64 = 0
    private var throttledIntervals = 0
    private var throttledSinceMs: Int64 = 0
    private var reportedThrottling = false

    public init() {}

    /// A watch of a cgroup made at `startMs`, whose counters start at zero: limits hit before the
    /// first sample are reported by it.
    public init(freshCgroupAtMs startMs: Int64) {
        var zero = ResourceUsage()
        zero.oomKills = 0
        zero.pidsLimitHits = 0
        zero.cpuPeriods = 0
        zero.cpuThrottledPeriods = 0
        last = zero
        lastMs = startMs
    }

    /// Counters reset when an instance's cgroup is replaced: compare only what only grows.
    public mutating func observe(_ usage: ResourceUsage, atMs now: Int64) -> [LimitHit] {
        defer {
            last = usage
            lastMs = now
        }
        guard let last else { return [] }
        var hits: [LimitHit] = []
        if let total = usage.oomKills, let before = last.oomKills, total > before {
            hits.append(.oomKilled(newKills: total - before, total: total))
        }
        if let total = usage.pidsLimitHits, let before = last.pidsLimitHits, total > before {
            hits.append(.pidsLimit(newHits: total - before, total: total))
        }
        if let periods = usage.cpuPeriods, let throttled = usage.cpuThrottledPeriods,
           let periodsBefore = last.cpuPeriods, let throttledBefore = last.cpuThrottledPeriods, periods > periodsBefore {
            let ratio = Double(throttled - throttledBefore) / Double(periods - periodsBefore)
            if ratio >= throttleRatio {
                if throttledIntervals == 0 { throttledSinceMs = lastMs }
                throttledIntervals += 1
                if throttledIntervals >= sustainedSamples && !reportedThrottling {
                    reportedThrottling = true
                    let window = Double(now - throttledSinceMs) / 1000
                    hits.append(.cpuThrottled(percent: (ratio * 1000).rounded() / 10, windowSeconds: window))
                }
            } else {
                throttledIntervals = 0
                reportedThrottling = false
            }
        }
        return hits
    }

    /// Forgets the previous sample (the function's instances were replaced).
    public mutating func reset() {
        last = nil
        throttledIntervals = 0
        reportedThrottling = false
    }
}
