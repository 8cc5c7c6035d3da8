#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// The cgroup of one function instance: on v2 one directory, on v1 one per hierarchy. It is
/// joined by the child before exec, read for usage, killed as a whole, and removed.
public final class FunctionCgroup {
    public let version: CgroupVersion
    /// The directories, by the controllers their hierarchy carries ("unified" on v2).
    let directories: [(controllers: [String], path: String)]
    private let hasKillFile: Bool

    init(version: CgroupVersion, directories: [(controllers: [String], path: String)]) {
        self.version = version
        self.directories = directories
        hasKillFile = version == .v2 && directories.first.map { Files.exists("\($0.path)/cgroup.kill") } ?? false
    }

    /// The directory that holds `controller`'s files.
    func directory(for controller: String) -> String? {
        directories.first { $0.controllers.contains(controller) }?.path
    }

    /// Where the instance is, for logs: the first directory.
    public var path: String { directories.first?.path ?? "" }

    /// cgroup.procs of every directory, opened for the child to write itself into (their numbers
    /// go in `SpawnRequest.cgroupProcsFDs`); closed when the list goes away, after the spawn.
    public func openForJoining() throws(CgroupError) -> FileDescriptorList {
        var files = FileDescriptorList()
        for directory in directories {
            let path = "\(directory.path)/cgroup.procs"
            do {
                files.append(try CgroupFile.openForJoining(path))
            } catch {
                // Those opened so far close with `files`: never written, nothing for a close to lose.
                throw CgroupError("cannot join \(directory.path)", error)
            }
        }
        return files
    }

    /// Every process in the instance's cgroup (grandchildren included).
    public var processes: [pid_t] {
        CgroupFile.pids("\(path)/cgroup.procs")
    }

    /// What the kernel counted for this instance.
    public func usage() -> ResourceUsage {
        var files: [String: String] = [:]
        let wanted: [(String, [String])]
        switch version {
        case .v2:
            wanted = [("unified", ["memory.current", "memory.peak", "memory.max", "memory.events", "cpu.stat",
                                   "pids.current", "pids.max", "pids.events"])]
        case .v1:
            wanted = [("memory", ["memory.usage_in_bytes", "memory.max_usage_in_bytes", "memory.limit_in_bytes", "memory.oom_control"]),
                      ("cpu", ["cpu.stat"]), ("cpuacct", ["cpuacct.usage"]),
                      ("pids", ["pids.current", "pids.max", "pids.events"])]
        }
        for (controller, names) in wanted {
            guard let directory = directory(for: controller) else { continue }
            for name in names {
                if let text = CgroupFile.read("\(directory)/\(name)") { files[name] = text }
            }
        }
        return version == .v2 ? ResourceUsage.v2(files) : ResourceUsage.v1(files)
    }

    /// CPU time used by every process of the instance so far (threads and children included),
    /// reading only the one file that holds it: the agent's CPU-budget watch calls this often.
    public func cpuUsageUsec() -> Int64? {
        switch version {
        case .v2:
            return CgroupFile.read("\(path)/cpu.stat").flatMap { ResourceUsage.keyValues($0)["usage_usec"] }
        case .v1:
            guard let directory = directory(for: "cpuacct") else { return nil }
            return CgroupFile.read("\(directory)/cpuacct.usage").flatMap { Int64($0.split(separator: "\n").first ?? "") }.map { $0 / 1000 }
        }
    }

    /// SIGKILL to every process in the cgroup, forks in flight included: `cgroup.kill` on v2
    /// (Linux 5.14+), otherwise freeze, kill each, thaw; without a freezer, kill until empty.
    public func killAll() {
        if hasKillFile {
            do {
                try CgroupFile.write("\(path)/cgroup.kill", "1")
                return
            } catch {
                // Refused (the cgroup is going away, or the kernel lacks it after all): kill each process.
            }
        }
        let freezer: (file: String, frozen: String, thawed: String)?
        switch version {
        case .v2:
            freezer = Files.exists("\(path)/cgroup.freeze") ? ("\(path)/cgroup.freeze", "1", "0") : nil
        case .v1:
            freezer = directory(for: "freezer").map { ("\($0)/freezer.state", "FROZEN", "THAWED") }
        }
        // Frozen processes cannot fork while they are listed and killed; a child forked while the
        // freeze was spreading shows up in the next round. Without a freezer, rounds until empty.
        // Processes killed but not yet gone stay listed for a moment: stop once no new one appears.
        var killed: Set<pid_t> = []
        for _ in 0..<50 {
            if let freezer { setFreezer(freezer.file, freezer.frozen) }
            let fresh = processes.filter { !killed.contains($0) }
            for pid in fresh {
                do {
                    try Signals.send(SIGKILL, to: pid)
                } catch {
                    // ESRCH: it exited already. EPERM: not the agent's to kill; it stays listed,
                    // and remove() then reports the cgroup as still in use.
                    continue
                }
            }
            if let freezer { setFreezer(freezer.file, freezer.thawed) }
            if fresh.isEmpty { break }
            killed.formUnion(fresh)
        }
    }

    private func setFreezer(_ file: String, _ state: String) {
        do {
            try CgroupFile.write(file, state)
        } catch {
            // The freezer only keeps forks from racing the kill rounds, which end without it
            // too; a cgroup left frozen is still removed once its killed processes are gone.
            return
        }
    }

    /// Removes the cgroup; false while a process is still in it (try again once it has exited).
    public func remove() -> Bool {
        var removed = true
        for directory in directories where !CgroupFile.removeTree(directory.path) { removed = false }
        return removed
    }
}

public enum CgroupVersion: String, Sendable {
    case v1
    case v2
}
