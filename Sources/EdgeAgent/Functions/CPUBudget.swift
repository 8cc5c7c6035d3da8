#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// `limits.cpuSeconds`: the CPU time one invocation of an on-demand function may use. With
/// CAP_SYS_RESOURCE (which raising a running process's hard limit needs, whoever it runs as) the
/// kernel enforces it: RLIMIT_CPU is re-armed with `prlimit` before each invocation to what the
/// process has used plus the budget (SIGXCPU, then SIGKILL a second later). Without it, the agent
/// watches the instance's CPU time (its cgroup's, children and threads included) while the
/// invocation runs (the supervisor's `cpuCheck` timer) and kills it once over.
struct CPUBudget {
    let seconds: Int
    let byKernel: Bool

    init?(spec: FunctionSpec, mayLimitOtherUsers: Bool) {
        guard spec.lifecycle == .onDemand, let seconds = spec.limits.cpuSeconds else { return nil }
        self.seconds = seconds
        byKernel = mayLimitOtherUsers
    }

    /// Called as an invocation is sent to `process`.
    func arm(_ process: FunctionProcess, logger: Logger) {
        guard byKernel else {
            process.cpuAtInvokeUsec = process.cpuTimeUsec
            return
        }
        // RLIMIT_CPU counts the process's own CPU time, in whole seconds.
        let used = UInt64(((ProcessStat.cpuTimeUsec(process.pid) ?? 0) + 999_999) / 1_000_000)
        let soft = used + UInt64(seconds)
        do {
            try ProcessLimits.setCPUTime(of: process.pid, soft: soft, hard: soft + 1)
        } catch {
            logger.warning("cannot arm the CPU budget of an invocation", ("pid", String(process.pid)),
                           ("error", error.description))
        }
    }

    /// Whether the event in flight has used more than the budget (when the agent watches it).
    func exceeded(_ process: FunctionProcess) -> Bool {
        guard let start = process.cpuAtInvokeUsec, let now = process.cpuTimeUsec else { return false }
        return now - start > Int64(seconds) * 1_000_000
    }

    /// What an instance that ran past its budget failed with.
    var reason: String {
        "used more CPU time than one invocation may (limits.cpuSeconds: \(seconds) s) and was killed"
    }
}
