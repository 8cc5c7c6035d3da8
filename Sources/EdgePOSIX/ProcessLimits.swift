#if canImport(Glibc)
import Glibc
#endif
import CEdgeSpawn

/// Resource limits of a process that is already running (those set before exec are the spawn
/// request's `rlimits`).
public enum ProcessLimits {
    /// Sets the CPU time `pid` may use, in whole seconds (prlimit RLIMIT_CPU): SIGXCPU at `soft`,
    /// SIGKILL at `hard`. Raising a hard limit, or changing another user's process, takes
    /// CAP_SYS_RESOURCE (EPERM without it).
    public static func setCPUTime(of pid: pid_t, soft: UInt64, hard: UInt64) throws(SystemError) {
        _ = try systemCall("prlimit", process: pid) { edge_set_cpu_limit(pid, soft, hard) }
    }
}
