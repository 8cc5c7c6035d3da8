#if canImport(Glibc)
import Glibc
#endif
import EdgeCgroups

/// Kills and removes function cgroups on the I/O worker's cgroup lane: a v1 tree kill takes up to
/// 50 freeze/kill rounds, and a cgroup can be removed only once the kernel has let go of its last
/// process, which may take a while; neither holds up the reactor.
struct CgroupJanitor {
    let io: IOWorker

    /// SIGKILL to every process of the cgroup.
    func kill(_ cgroup: FunctionCgroup) {
        let handle = Handle(cgroup)
        io.run(.cgroups, { handle.cgroup.killAll() }, then: { (_: Void) in })
    }

    /// Removes the cgroup, killing what is left and retrying every 100 ms for up to 5 s; says so
    /// when it could not.
    func remove(_ cgroup: FunctionCgroup, then report: @escaping (_ removed: Bool) -> Void) {
        let handle = Handle(cgroup)
        io.run(.cgroups, { () -> Bool in
            for attempt in 1...50 {
                if handle.cgroup.remove() { return true }
                guard attempt < 50 else { break }
                handle.cgroup.killAll()
                var pause = timespec(tv_sec: 0, tv_nsec: 100_000_000)
                var left = timespec()
                while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
            }
            return false
        }, then: report)
    }

    /// A cgroup handed to the worker thread. Safe to send: every stored property of a
    /// `FunctionCgroup` is a constant, and its methods only read and write cgroup files.
    private struct Handle: @unchecked Sendable {
        let cgroup: FunctionCgroup
        init(_ cgroup: FunctionCgroup) { self.cgroup = cgroup }
    }
}
