#if canImport(Glibc)
import Glibc
#endif
import CEdgeSpawn
import EdgeCore
import EdgePOSIX

/// `limits.cpuSeconds`: the CPU time one invocation of an on-demand function may use. With
/// CAP_SYS_RESOURCE (which raising a running process's hard limit needs, whoever it runs as) the
/// kernel enforces it: RLIMIT_CPU is re-armed with `prlimit` before each invocation to what the
/// process has used plus the budget (SIGXCPU, then SIGKILL a second later). Without it, the agent
/// watches the instance's CPU time (its cgroup's, children and threads included) while the
/// invocation runs and kills it once over.
struct CPUBudget {
    let seconds: Int
    let byKernel: Bool

    /// How often the agent looks when it watches.
    static let watchIntervalMs = 200

    init?(spec: FunctionSpec, mayLimitOtherUsers: Bool) {
        guard spec.lifecycle == .onDemand, let seconds = spec.limits.cpuSeconds else { return nil }
        self.seconds = seconds
        byKernel = mayLimitOtherUsers
    }

    /// Called as an invocation is sent to `instance`.
    func arm(_ instance: FunctionInstance, loop: EventLoop, logger: Logger, exceeded: @escaping (FunctionInstance) -> Void) {
        if byKernel {
            // RLIMIT_CPU counts the process's own CPU time, in whole seconds.
            let used = UInt64(((ProcessStat.cpuTimeUsec(instance.pid) ?? 0) + 999_999) / 1_000_000)
            let soft = used + UInt64(seconds)
            if edge_set_cpu_limit(instance.pid, soft, soft + 1) != 0 {
                logger.warning("cannot arm the CPU budget of an invocation", ("pid", String(instance.pid)),
                               ("error", String(cString: strerror(errno))))
            }
            return
        }
        guard let start = instance.cpuTimeUsec else { return }
        let budget = Int64(seconds) * 1_000_000
        func check() {
            guard instance.currentInvocation != nil, let now = instance.cpuTimeUsec else { return }
            if now - start > budget {
                exceeded(instance)
                return
            }
            instance.cpuWatchTimer = loop.after(Self.watchIntervalMs) { check() }
        }
        instance.cpuWatchTimer = loop.after(Self.watchIntervalMs) { check() }
    }

    /// What an instance that ran past its budget failed with.
    var reason: String {
        "used more CPU time than one invocation may (limits.cpuSeconds: \(seconds) s) and was killed"
    }
}
