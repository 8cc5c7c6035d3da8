#if canImport(Glibc)
import Glibc
#endif
import EdgeCgroups
import EdgeCore
import EdgePOSIX

/// One running process of a function, and what it is doing.
final class FunctionInstance {
    enum Phase {
        case starting
        case idle
        case busy(Invocation, startedNs: Int64)
        case stopping
    }

    /// Why the agent ended the process itself, so its exit is not mistaken for a crash.
    enum EndReason {
        case stopRequested
        case idleTimeout
        case invocationTimeout
        /// Replaced by a fresh instance (a configuration it cannot take live).
        case replaced
        case failure(String)
    }

    let pid: pid_t
    /// When the agent began to start it (before the fork), for `startupMs`.
    let startedNs: Int64
    /// The report pipe of a spawn whose exec is not confirmed yet (-1 once it is known).
    var spawnReport: Int32 = -1
    var spawnReportWatch: EventLoop.Token?
    var channel: RuntimeChannel?
    var stdout: OutputCapture?
    var stderr: OutputCapture?
    var phase: Phase = .starting
    var endReason: EndReason?
    var timers: [EventLoop.Token] = []
    var invocationTimer: EventLoop.Token?
    var idleTimer: EventLoop.Token?
    /// While an invocation runs under a CPU budget the agent watches.
    var cpuWatchTimer: EventLoop.Token?
    /// Its own cgroup (nil when cgroups are off): its whole process tree, its usage, its kills.
    let cgroup: FunctionCgroup?
    /// Which limits it has hit since the last sample.
    lazy var limitWatch = LimitWatch(freshCgroupAtMs: startedNs / 1_000_000)
    /// Whether what it left behind was killed while it was still unreaped.
    var leftoversKilled = false
    /// The configuration it was last given (`init` or `config`).
    var config: [String: JSONValue] = [:]

    init(pid: pid_t, cgroup: FunctionCgroup?, startedNs: Int64) {
        self.pid = pid
        self.cgroup = cgroup
        self.startedNs = startedNs
    }

    var isIdle: Bool {
        if case .idle = phase { return true }
        return false
    }

    var currentInvocation: Invocation? {
        if case .busy(let invocation, _) = phase { return invocation }
        return nil
    }

    func cancelTimers(_ loop: EventLoop) {
        for token in timers { loop.cancel(token) }
        timers.removeAll()
        loop.cancel(invocationTimer)
        loop.cancel(idleTimer)
        loop.cancel(cpuWatchTimer)
        invocationTimer = nil
        idleTimer = nil
        cpuWatchTimer = nil
    }

    /// Signals the whole process group (the function runs in a session of its own); SIGKILL
    /// goes to the whole cgroup as well, which holds every descendant, even those that left the group.
    func signal(_ signal: Int32) {
        Signals.sendToGroup(pid, signal)
        if signal == SIGKILL { cgroup?.killAll() }
    }

    /// Called while the ended main process is still a zombie (its pid and group cannot be reused):
    /// kills whatever it left behind.
    func killLeftovers() {
        guard !leftoversKilled else { return }
        leftoversKilled = true
        Signals.sendToGroup(pid, SIGKILL)
        cgroup?.killAll()
    }

    /// CPU time used so far: its cgroup's (threads and children included), else its main process's.
    var cpuTimeUsec: Int64? {
        cgroup?.cpuUsageUsec() ?? ProcessStat.cpuTimeUsec(pid)
    }

    /// Descriptors the main process has open, from /proc (nil once it has exited).
    var openFiles: Int? {
        guard let names = try? Files.list("/proc/\(pid)/fd") else { return nil }
        return names.count
    }

    func closeIO() {
        channel?.close()
        stdout?.close()
        stderr?.close()
    }
}
