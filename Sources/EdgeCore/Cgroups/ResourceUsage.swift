/// What the kernel says a function's cgroup used, and what it hit; nil where unknown.
public struct ResourceUsage: Sendable, Equatable {
    public var memoryBytes: Int64?
    public var memoryPeakBytes: Int64?
    public var memoryLimitBytes: Int64?
    public var cpuUsageUsec: Int64?
    public var cpuThrottledUsec: Int64?
    public var cpuPeriods: Int64?
    public var cpuThrottledPeriods: Int64?
    public var pids: Int64?
    public var pidsLimit: Int64?
    public var oomKills: Int64?
    public var pidsLimitHits: Int64?

    public init() {}

    /// Reads a v2 cgroup's files, given as name → contents (absent files left out).
    public static func v2(_ files: [String: String]) -> ResourceUsage {
        var usage = ResourceUsage()
        usage.memoryBytes = files["memory.current"].flatMap(number)
        usage.memoryPeakBytes = files["memory.peak"].flatMap(number)
        usage.memoryLimitBytes = files["memory.max"].flatMap(number)
        if let stat = files["cpu.stat"].map(keyValues) {
            usage.cpuUsageUsec = stat["usage_usec"]
            usage.cpuThrottledUsec = stat["throttled_usec"]
            usage.cpuPeriods = stat["nr_periods"]
            usage.cpuThrottledPeriods = stat["nr_throttled"]
        }
        usage.pids = files["pids.current"].flatMap(number)
        usage.pidsLimit = files["pids.max"].flatMap(number)
        usage.oomKills = files["memory.events"].map(keyValues).flatMap(oomKills(v2Events:))
        usage.pidsLimitHits = files["pids.events"].map(keyValues)?["max"]
        return usage
    }

    /// The OOM kills of a v2 instance, from its memory.events. The agent sets memory.oom.group, so
    /// the kernel kills the chosen victim and then every process of the cgroup, the victim again
    /// among them while it still has its memory, and `oom_kill` counts each: one OOM of a
    /// one-process function reads 1 or 2 (seen on Linux 6.1). `oom_group_kill` (Linux 5.17+)
    /// counts each such kill of the whole instance once; without it (older kernels, or no group
    /// kill yet), `oom_kill`.
    static func oomKills(v2Events events: [String: Int64]) -> Int64? {
        if let group = events["oom_group_kill"], group > 0 { return group }
        return events["oom_kill"]
    }

    /// Reads a v1 function's files across its hierarchies, given as name → contents.
    public static func v1(_ files: [String: String]) -> ResourceUsage {
        var usage = ResourceUsage()
        usage.memoryBytes = files["memory.usage_in_bytes"].flatMap(number)
        usage.memoryPeakBytes = files["memory.max_usage_in_bytes"].flatMap(number)
        // v1 reports "no limit" as a huge page-aligned number.
        usage.memoryLimitBytes = files["memory.limit_in_bytes"].flatMap(number).flatMap { $0 >= (1 << 62) ? nil : $0 }
        usage.cpuUsageUsec = files["cpuacct.usage"].flatMap(number).map { $0 / 1000 }
        if let stat = files["cpu.stat"].map(keyValues) {
            usage.cpuThrottledUsec = stat["throttled_time"].map { $0 / 1000 }
            usage.cpuPeriods = stat["nr_periods"]
            usage.cpuThrottledPeriods = stat["nr_throttled"]
        }
        usage.pids = files["pids.current"].flatMap(number)
        usage.pidsLimit = files["pids.max"].flatMap(number)
        usage.oomKills = files["memory.oom_control"].map(keyValues)?["oom_kill"]
        usage.pidsLimitHits = files["pids.events"].map(keyValues)?["max"]
        return usage
    }

    /// The sum of two instances' usage (a function's total); peaks and limits take the larger.
    public func adding(_ other: ResourceUsage) -> ResourceUsage {
        func sum(_ a: Int64?, _ b: Int64?) -> Int64? { a == nil && b == nil ? nil : (a ?? 0) + (b ?? 0) }
        func largest(_ a: Int64?, _ b: Int64?) -> Int64? { a == nil && b == nil ? nil : max(a ?? 0, b ?? 0) }
        var total = ResourceUsage()
        total.memoryBytes = sum(memoryBytes, other.memoryBytes)
        total.memoryPeakBytes = largest(memoryPeakBytes, other.memoryPeakBytes)
        total.memoryLimitBytes = largest(memoryLimitBytes, other.memoryLimitBytes)
        total.cpuUsageUsec = sum(cpuUsageUsec, other.cpuUsageUsec)
        total.cpuThrottledUsec = sum(cpuThrottledUsec, other.cpuThrottledUsec)
        total.cpuPeriods = sum(cpuPeriods, other.cpuPeriods)
        total.cpuThrottledPeriods = sum(cpuThrottledPeriods, other.cpuThrottledPeriods)
        total.pids = sum(pids, other.pids)
        total.pidsLimit = largest(pidsLimit, other.pidsLimit)
        total.oomKills = sum(oomKills, other.oomKills)
        total.pidsLimitHits = sum(pidsLimitHits, other.pidsLimitHits)
        return total
    }

    /// The counters as a JSON object, unknown ones left out.
    public var json: JSONValue {
        var members: [String: JSONValue] = [:]
        let fields: [(String, Int64?)] = [
            ("memoryBytes", memoryBytes), ("memoryPeakBytes", memoryPeakBytes), ("memoryLimitBytes", memoryLimitBytes),
            ("cpuUsageUsec", cpuUsageUsec), ("cpuThrottledUsec", cpuThrottledUsec), ("cpuThrottledPeriods", cpuThrottledPeriods),
            ("pids", pids), ("pidsLimit", pidsLimit), ("oomKills", oomKills), ("pidsLimitHits", pidsLimitHits),
        ]
        for (name, value) in fields { if let value { members[name] = .int(value) } }
        return .object(members)
    }

    /// "123\n" → 123; "max" and anything else → nil.
    static func number(_ text: String) -> Int64? {
        Int64(text.split(separator: "\n").first.map(String.init)?.trimmingSpaces ?? "")
    }

    /// "key value" lines (memory.events, cpu.stat, memory.oom_control, pids.events) → a dictionary.
    public static func keyValues(_ text: String) -> [String: Int64] {
        var values: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Int64(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}
