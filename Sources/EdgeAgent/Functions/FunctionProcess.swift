#if canImport(Glibc)
import Glibc
#endif
import EdgeCgroups
import EdgeCore
import EdgePOSIX

/// The shell's side of one function instance: its process, descriptors and cgroup. What the
/// instance is doing is the `Supervisor`'s to know.
final class FunctionProcess {
    let id: InstanceID
    let pid: pid_t
    /// The report pipe of a spawn whose exec is not confirmed yet (nil once it is known).
    var spawnReport: FileDescriptor?
    var spawnReportWatch: EventLoop.Token?
    var channel: RuntimeChannel?
    var stdout: OutputCapture?
    var stderr: OutputCapture?
    /// The function log's `written` count when it started: unchanged at its exit, it printed nothing.
    var logWrittenAtStart = 0
    /// Its own cgroup (nil when cgroups are off): its whole process tree, its usage, its kills.
    let cgroup: FunctionCgroup?
    /// Which limits it has hit since the last sample.
    var limitWatch: LimitWatch
    /// Whether what it left behind was killed while it was still unreaped.
    var leftoversKilled = false
    /// Its CPU time when the event in flight was sent, while the agent watches a CPU budget.
    var cpuAtInvokeUsec: Int64?

    init(id: InstanceID, pid: pid_t, cgroup: FunctionCgroup?, startedNs: Int64) {
        self.id = id
        self.pid = pid
        self.cgroup = cgroup
        limitWatch = LimitWatch(freshCgroupAtMs: startedNs / 1_000_000)
    }

    /// Signals the whole process group (the function runs in a session of its own); SIGKILL
    /// goes to the whole cgroup as well (on the janitor's lane), which holds every descendant,
    /// even those that left the group.
    func signal(_ signal: Int32, janitor: CgroupJanitor) {
        signalGroup(signal)
        if signal == SIGKILL, let cgroup { janitor.kill(cgroup) }
    }

    /// Called while the ended main process is still a zombie (its pid and group cannot be reused):
    /// kills whatever it left behind.
    func killLeftovers(janitor: CgroupJanitor) {
        guard !leftoversKilled else { return }
        leftoversKilled = true
        signalGroup(SIGKILL)
        if let cgroup { janitor.kill(cgroup) }
    }

    private func signalGroup(_ signal: Int32) {
        do {
            try Signals.send(signal, toGroup: pid)
        } catch {
            // ESRCH (the group is gone) or EPERM (not the agent's to signal): either way the
            // supervisor then waits for the exit it would wait for anyway, and a SIGKILL goes to
            // the cgroup as well.
            return
        }
    }

    /// CPU time used so far: its cgroup's (threads and children included), else its main process's.
    var cpuTimeUsec: Int64? {
        cgroup?.cpuUsageUsec() ?? ProcessStat.cpuTimeUsec(pid)
    }

    /// Descriptors the main process has open, from /proc (nil once it has exited).
    var openFiles: Int? {
        do {
            return try Files.list("/proc/\(pid)/fd").count
        } catch {
            // ENOENT once it has exited; EACCES for a process of another user without CAP_SYS_PTRACE.
            return nil
        }
    }

    func closeIO() {
        channel?.close()
        stdout?.close()
        stderr?.close()
    }
}
