/// One value to write into a function's cgroup.
public struct CgroupWrite: Sendable, Equatable {
    public var controller: String
    public var file: String
    public var value: String
    /// Written only if the kernel has the file (swap accounting, newer knobs).
    public var optional: Bool

    public init(_ controller: String, _ file: String, _ value: String, optional: Bool = false) {
        self.controller = controller
        self.file = file
        self.value = value
        self.optional = optional
    }
}

/// Turns limits into the exact cgroup files and values, for each cgroup version.
public enum CgroupSettings {
    /// The CFS period the agent uses: 100 ms, the kernel's default.
    public static let cpuPeriodUsec = 100_000

    /// The quota for `cpus` cores in one period, never below the kernel's 1 ms minimum.
    public static func cpuQuotaUsec(_ cpus: Double) -> Int {
        max(1000, Int((cpus * Double(cpuPeriodUsec)).rounded()))
    }

    public static func v2(_ limits: ResourceLimits) -> [CgroupWrite] {
        var writes: [CgroupWrite] = []
        if let memory = limits.memoryMB {
            writes.append(CgroupWrite("memory", "memory.max", String(memory << 20)))
            // Swap would let a function exceed its cap by paging out; and an OOM kill takes the whole instance.
            writes.append(CgroupWrite("memory", "memory.swap.max", "0", optional: true))
            writes.append(CgroupWrite("memory", "memory.oom.group", "1", optional: true))
        }
        if let cpus = limits.cpus {
            writes.append(CgroupWrite("cpu", "cpu.max", "\(cpuQuotaUsec(cpus)) \(cpuPeriodUsec)"))
        }
        if let pids = limits.pids {
            writes.append(CgroupWrite("pids", "pids.max", String(pids)))
        }
        return writes
    }

    public static func v1(_ limits: ResourceLimits) -> [CgroupWrite] {
        var writes: [CgroupWrite] = []
        if let memory = limits.memoryMB {
            let bytes = String(memory << 20)
            writes.append(CgroupWrite("memory", "memory.limit_in_bytes", bytes))
            // memsw must not be below limit_in_bytes, so it is written after it.
            writes.append(CgroupWrite("memory", "memory.memsw.limit_in_bytes", bytes, optional: true))
            writes.append(CgroupWrite("memory", "memory.swappiness", "0", optional: true))
        }
        if let cpus = limits.cpus {
            writes.append(CgroupWrite("cpu", "cpu.cfs_period_us", String(cpuPeriodUsec)))
            writes.append(CgroupWrite("cpu", "cpu.cfs_quota_us", String(cpuQuotaUsec(cpus))))
        }
        if let pids = limits.pids {
            writes.append(CgroupWrite("pids", "pids.max", String(pids)))
        }
        return writes
    }
}
