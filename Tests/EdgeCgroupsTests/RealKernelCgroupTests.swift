#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeCgroups
import EdgeCore
import EdgePOSIX

/// What the running kernel offers these tests, read once.
private enum RealKernel {
    static let layout = CgroupLayout.parse(mountinfo: contents("/proc/self/mountinfo") ?? "",
                                           procSelfCgroup: contents("/proc/self/cgroup") ?? "")

    /// Why the v1 tests cannot run here, or nil.
    static var v1Problem: String? {
        if geteuid() != 0 { return "not root: creating cgroups needs root" }
        for controller in ["memory", "pids"] {
            guard let mount = layout.v1[controller] else { return "no cgroup v1 \(controller) hierarchy is mounted" }
            if access(mount.mountPoint, W_OK) != 0 { return "the v1 \(controller) hierarchy at \(mount.mountPoint) is not writable" }
        }
        return nil
    }

    /// Why the v2 tests cannot run here, or nil.
    static var v2Problem: String? {
        if geteuid() != 0 { return "not root: creating cgroups needs root" }
        guard let mount = layout.unified else { return "no cgroup2 hierarchy is mounted" }
        if access(mount.mountPoint, W_OK) != 0 { return "the cgroup2 hierarchy at \(mount.mountPoint) is not writable" }
        return nil
    }

    /// Skips the test for `problem`, or fails it when CI is "true" (CI must run these).
    static func require(_ problem: String?) throws {
        guard let problem else { return }
        if environment("CI") == "true" { throw MustRunInCI(problem: problem) }
        try Test.cancel(Comment(rawValue: "skipped: \(problem)"))
    }

    struct MustRunInCI: Error, CustomStringConvertible {
        var problem: String
        var description: String { "CI is \"true\", so this real-kernel test must run, but: \(problem)" }
    }

    /// A subtree name no other run uses.
    static func uniqueRoot() -> String {
        "/edge-unit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// This process's line for `controller` in /proc/<pid>/cgroup: its cgroup path there.
    static func cgroupPath(of pid: pid_t, controller: String) -> String? {
        for line in (contents("/proc/\(pid)/cgroup") ?? "").split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3 else { continue }
            if controller.isEmpty ? (fields[0] == "0" && fields[1].isEmpty) : fields[1].split(separator: ",").contains(Substring(controller)) {
                return fields[2]
            }
        }
        return nil
    }

    /// Whether `pid` is gone or a zombie (a reparented grandchild nobody has reaped yet).
    static func isGoneOrZombie(_ pid: pid_t) -> Bool {
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        guard let stat = contents("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state == "Z" || state == "X"
    }

    /// Tries `remove()` until the kernel lets the cgroup go.
    static func removeEventually(_ cgroup: FunctionCgroup) -> Bool {
        eventually(timeoutMs: 3000) { cgroup.remove() }
    }
}

@Suite(.serialized, .tags(.realKernel))
struct RealKernelCgroupTests {
    @Test func v1InstanceCapsAndKillsAProcess() throws {
        try RealKernel.require(RealKernel.v1Problem)
        let root = RealKernel.uniqueRoot()
        let tree = try Cgroups.setUp(mode: .v1, root: root).get()
        var cgroup: FunctionCgroup?
        var child: Child?
        defer {
            child?.end()
            if let cgroup { cgroup.killAll(); _ = RealKernel.removeEventually(cgroup) }
            tree.removeSubtree()
        }
        #expect(tree.version == .v1)
        #expect(tree.controllers.isSuperset(of: ["memory", "pids"]))

        let instance = try tree.makeInstance(function: "sleeper", limits: ResourceLimits(memoryMB: 32, pids: 8))
        cgroup = instance
        let memoryDirectory = try #require(instance.directory(for: "memory"))
        let pidsDirectory = try #require(instance.directory(for: "pids"))
        #expect(contents("\(memoryDirectory)/memory.limit_in_bytes") == "33554432\n")
        #expect(contents("\(pidsDirectory)/pids.max") == "8\n")

        let sleeper = try Child("/bin/sleep", ["30"], joining: try instance.openForJoining())
        child = sleeper
        let expected = "\(root)/sleeper.1"
        #expect(RealKernel.cgroupPath(of: sleeper.pid, controller: "memory") == expected)
        #expect(RealKernel.cgroupPath(of: sleeper.pid, controller: "pids") == expected)
        if RealKernel.layout.v1["cpu"] != nil {
            #expect(RealKernel.cgroupPath(of: sleeper.pid, controller: "cpu") == expected)
        }
        #expect(instance.processes.contains(sleeper.pid))
        let usage = instance.usage()
        #expect(usage.memoryLimitBytes == 33_554_432)
        #expect(usage.pidsLimit == 8)
        #expect(usage.pids == 1)

        instance.killAll()
        #expect(sleeper.wait() == 128 + SIGKILL)
        #expect(RealKernel.removeEventually(instance))
        cgroup = nil
        tree.removeSubtree()
        for path in tree.paths {
            #expect(!Files.exists(path), "\(path)")
        }
    }

    @Test func v1PidsLimitStopsForks() throws {
        try RealKernel.require(RealKernel.v1Problem)
        let tree = try Cgroups.setUp(mode: .v1, root: RealKernel.uniqueRoot()).get()
        var cgroup: FunctionCgroup?
        defer {
            if let cgroup { cgroup.killAll(); _ = RealKernel.removeEventually(cgroup) }
            tree.removeSubtree()
        }
        let instance = try tree.makeInstance(function: "forker", limits: ResourceLimits(pids: 1))
        cgroup = instance
        // The shell is the one process allowed; its fork for the first /bin/true fails at the pids limit.
        let shell = try Child("/bin/sh", ["-c", "/bin/true; /bin/true"], joining: try instance.openForJoining())
        defer { shell.end() }
        #expect(shell.wait() != 0)
        #expect((instance.usage().pidsLimitHits ?? 0) >= 1)
    }

    @Test func v2OnTheRealCgroup2MountJoinsAndKillsAProcessTree() throws {
        try RealKernel.require(RealKernel.v2Problem)
        let root = RealKernel.uniqueRoot()
        let tree = try Cgroups.setUp(mode: .v2, root: root).get()
        var cgroup: FunctionCgroup?
        var children: [Child] = []
        defer {
            for child in children { child.end() }
            if let cgroup { cgroup.killAll(); _ = RealKernel.removeEventually(cgroup) }
            tree.removeSubtree()
        }
        #expect(tree.version == .v2)
        let mount = try #require(RealKernel.layout.unified)
        #expect(tree.paths == [CgroupLayout.join(mount.mountPoint, root)])
        let available = (contents("\(mount.mountPoint)/cgroup.controllers") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" })
        for controller in ["memory", "cpu", "pids"] where !available.contains(Substring(controller)) {
            #expect(!tree.controllers.contains(controller))
            #expect(tree.problems.contains { $0.contains("the \(controller) controller") }, "\(controller)")
        }

        let instance = try tree.makeInstance(function: "tree", limits: ResourceLimits(pids: 16))
        cgroup = instance
        if tree.controllers.contains("pids") {
            #expect(contents("\(instance.path)/pids.max") == "16\n")
        } else {
            #expect(!Files.exists("\(instance.path)/pids.max"))
        }
        // A shell with a background child: several processes in the instance, some not this process's children.
        let shell = try Child("/bin/sh", ["-c", "/bin/sleep 30 & /bin/sleep 30"], joining: try instance.openForJoining())
        children.append(shell)
        #expect(RealKernel.cgroupPath(of: shell.pid, controller: "") == "\(root)/tree.1")
        #expect(eventually { instance.processes.count >= 2 }, "processes: \(instance.processes)")
        let descendants = instance.processes.filter { $0 != shell.pid }
        #expect(!descendants.isEmpty)
        #expect(instance.processes.contains(shell.pid))

        instance.killAll()
        #expect(shell.wait() == 128 + SIGKILL)
        for pid in descendants {
            #expect(eventually { RealKernel.isGoneOrZombie(pid) }, "descendant \(pid) survived killAll")
        }
        #expect(eventually { instance.processes.isEmpty })
        #expect(RealKernel.removeEventually(instance))
        cgroup = nil
        tree.removeSubtree()
        #expect(!Files.exists(CgroupLayout.join(mount.mountPoint, root)))
    }

    @Test func v2CleanStaleKillsWhatAnEarlierRunLeft() throws {
        try RealKernel.require(RealKernel.v2Problem)
        let root = RealKernel.uniqueRoot()
        let earlier = try Cgroups.setUp(mode: .v2, root: root).get()
        var child: Child?
        defer {
            child?.end()
            earlier.removeSubtree()
        }
        let stale = try earlier.makeInstance(function: "left", limits: ResourceLimits())
        let sleeper = try Child("/bin/sleep", ["30"], joining: try stale.openForJoining())
        child = sleeper
        // A new agent run finds the subtree with the sleeper still in it.
        let later = try Cgroups.setUp(mode: .v2, root: root).get()
        defer { later.removeSubtree() }
        let result = later.cleanStale(waitMs: 3000)
        #expect(sleeper.wait() == 128 + SIGKILL)
        #expect(result.cleaned == ["left.1"])
        #expect(result.leftover.isEmpty)
        #expect(!Files.exists(stale.path))
    }
}
