import EdgeCgroups
import EdgePOSIX

/// Kills and removes function cgroups on the I/O worker's cgroup lane: a v1 tree kill takes up to
/// 50 freeze/kill rounds, and a cgroup can be removed only once the kernel has let go of its last
/// process, which may take a while; neither holds up the reactor. A removal that must wait is
/// tried again from a reactor timer, so it never holds up a kill queued behind it.
struct CgroupJanitor {
    let io: IOWorker
    let loop: EventLoop
    static let retryMs = 100
    static let attempts = 50

    /// SIGKILL to every process of the cgroup.
    func kill(_ cgroup: FunctionCgroup) {
        let handle = Handle(cgroup)
        io.run(.cgroups, { handle.cgroup.killAll() }, then: { (_: Void) in })
    }

    /// Removes the cgroup, killing what is left and trying again every 100 ms for up to 5 s; says
    /// so when it could not.
    func remove(_ cgroup: FunctionCgroup, attempt: Int = 1, then report: @escaping (_ removed: Bool) -> Void) {
        let handle = Handle(cgroup)
        let last = attempt >= Self.attempts
        io.run(.cgroups, { () -> Bool in
            if handle.cgroup.remove() { return true }
            if !last { handle.cgroup.killAll() }
            return false
        }, then: { [self] removed in
            if removed || last {
                report(removed)
                return
            }
            loop.after(Self.retryMs) { self.remove(cgroup, attempt: attempt + 1, then: report) }
        })
    }

    /// A cgroup handed to the worker thread. Safe to send: every stored property of a
    /// `FunctionCgroup` is a constant, and its methods only read and write cgroup files.
    private struct Handle: @unchecked Sendable {
        let cgroup: FunctionCgroup
        init(_ cgroup: FunctionCgroup) { self.cgroup = cgroup }
    }
}
