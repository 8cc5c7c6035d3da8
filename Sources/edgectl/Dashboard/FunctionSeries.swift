import EdgeCore

/// One function's recent history, from its health reports: invocations per second and CPU from
/// the change of its counters between two reports (timed by the reports' own `timestamp`), and
/// its latency percentiles, over the last `windowMs`.
struct FunctionSeries: Sendable, Equatable {
    struct Point: Sendable, Equatable {
        var timestampMs: Int64
        var invocationsPerSecond: Double
        /// Percent of one core; nil when the report carries no CPU usage.
        var cpuPercent: Double?
        var p50: Double?
        var p99: Double?
    }

    static let windowMs: Int64 = 5 * 60 * 1000
    static let maxPoints = 300

    private(set) var points: [Point] = []
    private var lastTimestampMs: Int64?
    private var lastInvocations: Int64?
    private var lastCpuUsec: Int64?

    /// Takes one report of the function; a report not newer than the last (a retained copy sent
    /// again after a reconnect) changes nothing, and counters that went down (the agent restarted)
    /// start a new baseline.
    mutating func record(timestampMs: Int64, function: JSONValue) {
        if let last = lastTimestampMs, timestampMs <= last { return }
        let invocations = function["invocations"]?.intValue
        let cpuUsec = function["usage"]?["cpuUsageUsec"]?.intValue
        defer {
            lastTimestampMs = timestampMs
            lastInvocations = invocations
            lastCpuUsec = cpuUsec
        }
        guard let last = lastTimestampMs, let invocations, let previous = lastInvocations, invocations >= previous else { return }
        let seconds = Double(timestampMs - last) / 1000
        var cpu: Double?
        if let cpuUsec, let before = lastCpuUsec, cpuUsec >= before {
            cpu = Double(cpuUsec - before) / 1_000_000 / seconds * 100
        }
        let latency = function["latencyMs"]
        points.append(Point(timestampMs: timestampMs, invocationsPerSecond: Double(invocations - previous) / seconds,
                            cpuPercent: cpu, p50: latency?["p50"]?.doubleValue, p99: latency?["p99"]?.doubleValue))
        let oldest = timestampMs - Self.windowMs
        points.removeAll { $0.timestampMs < oldest }
        if points.count > Self.maxPoints { points.removeFirst(points.count - Self.maxPoints) }
    }

    /// `[[timestampMs, invocationsPerSecond, cpuPercent, p50, p99], ...]`, compact for the page.
    var json: JSONValue {
        .array(points.map { point in
            .array([.int(point.timestampMs), .double(Self.rounded(point.invocationsPerSecond)),
                    point.cpuPercent.map { .double(Self.rounded($0)) } ?? .null,
                    point.p50.map { .double($0) } ?? .null, point.p99.map { .double($0) } ?? .null])
        })
    }

    static func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }
}
