#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeCgroups
import EdgeCore
import EdgePOSIX

/// A plain directory laid out like a cgroup2 mount: `controllers` available at the top and (as
/// the kernel would show once the top enables them) in the agent's subtree `edge-agent`.
private func unifiedMount(controllers: String = "cpu memory pids", subtree: String? = "edge-agent") -> FakeCgroupfs {
    let fs = FakeCgroupfs()
    fs.put("cgroup.controllers", controllers + "\n")
    fs.put("cgroup.subtree_control", "")
    if let subtree { fs.put("\(subtree)/cgroup.controllers", controllers + "\n") }
    return fs
}

private func v2Tree(_ fs: FakeCgroupfs, subtree: String = "edge-agent", agentDirectory: String? = nil) throws -> CgroupTree {
    try CgroupTree.v2(subtree: fs.at(subtree), mountPoint: fs.path, agentDirectory: agentDirectory)
}

private let allLimits = ResourceLimits(memoryMB: 64, cpus: 0.25, pids: 16)

@Suite struct FakeV2TreeTests {
    @Test func controllersAreEnabledFromTheMountDownToTheSubtree() throws {
        let fs = unifiedMount()
        let tree = try v2Tree(fs)
        #expect(tree.version == .v2)
        #expect(tree.controllers == ["memory", "cpu", "pids"])
        #expect(tree.problems.isEmpty)
        #expect(tree.paths == [fs.at("edge-agent")])
        #expect(tree.agentLeaf == nil)
        // Each write replaces the plain file; the kernel would add them up. pids is enabled last.
        #expect(contents(fs.at("cgroup.subtree_control")) == "+pids")
        #expect(contents(fs.at("edge-agent/cgroup.subtree_control")) == "+pids")
    }

    @Test func controllersAlreadyEnabledAreNotWrittenAgain() throws {
        let fs = unifiedMount()
        fs.put("cgroup.subtree_control", "cpu memory pids\n")
        let tree = try v2Tree(fs)
        #expect(tree.controllers == ["memory", "cpu", "pids"])
        #expect(contents(fs.at("cgroup.subtree_control")) == "cpu memory pids\n")
        #expect(contents(fs.at("edge-agent/cgroup.subtree_control")) == "+pids")
    }

    @Test func aDeeperSubtreeEnablesEveryLevel() throws {
        let fs = unifiedMount(subtree: nil)
        fs.put("system.slice/cgroup.controllers", "cpu memory pids\n")
        fs.put("system.slice/edge.service/cgroup.controllers", "cpu memory pids\n")
        let tree = try v2Tree(fs, subtree: "system.slice/edge.service")
        #expect(tree.controllers == ["memory", "cpu", "pids"])
        for level in ["", "system.slice", "system.slice/edge.service"] {
            #expect(contents(fs.at(level.isEmpty ? "cgroup.subtree_control" : "\(level)/cgroup.subtree_control")) == "+pids", "\(level)")
        }
    }

    @Test func aControllerMissingAtTheMountIsAProblemAndLeftOut() throws {
        let fs = unifiedMount(controllers: "cpu memory")
        let tree = try v2Tree(fs)
        #expect(tree.controllers == ["memory", "cpu"])
        #expect(tree.problems == [
            "the pids controller is not available in \(fs.path) (its parent does not enable it, or the kernel lacks it)",
        ])
        #expect(contents(fs.at("cgroup.subtree_control")) == "+cpu")
    }

    @Test func aControllerMissingHalfwayNamesThatDirectory() throws {
        let fs = unifiedMount(subtree: nil)
        fs.put("system.slice/cgroup.controllers", "cpu pids\n")
        fs.put("system.slice/edge.service/cgroup.controllers", "cpu memory pids\n")
        let tree = try v2Tree(fs, subtree: "system.slice/edge.service")
        #expect(tree.controllers == ["cpu", "pids"])
        #expect(tree.problems.count == 1)
        #expect(tree.problems.first?.hasPrefix("the memory controller is not available in \(fs.at("system.slice")) ") == true)
    }

    @Test func aControllerlessMountHasEveryProblemAndNoControllers() throws {
        let fs = unifiedMount(controllers: "hugetlb")
        let tree = try v2Tree(fs)
        #expect(tree.controllers.isEmpty)
        #expect(tree.problems.count == 3)
        #expect(tree.problems.map { $0.split(separator: " ").dropFirst().first.map(String.init) } == ["memory", "cpu", "pids"])
    }

    @Test func aSubtreeThatCannotBeCreatedIsAnError() {
        let fs = unifiedMount(subtree: nil)
        fs.put("file", "not a directory")
        #expect {
            _ = try v2Tree(fs, subtree: "file/edge-agent")
        } throws: { error in
            (error as? CgroupError)?.description.hasPrefix("cannot create \(fs.at("file/edge-agent")): ") == true
        }
    }

    @Test(arguments: ["", "/"])
    func theAgentMovesIntoALeafOfItsOwnSubtree(_ suffix: String) throws {
        let fs = unifiedMount()
        let tree = try v2Tree(fs, agentDirectory: fs.at("edge-agent") + suffix)
        #expect(tree.agentLeaf == fs.at("edge-agent/agent"))
        #expect(Files.isDirectory(fs.at("edge-agent/agent")))
        #expect(contents(fs.at("edge-agent/agent/cgroup.procs")) == "0")
        #expect(tree.controllers == ["memory", "cpu", "pids"])
    }

    @Test func anAgentElsewhereGetsNoLeaf() throws {
        let fs = unifiedMount()
        let tree = try v2Tree(fs, agentDirectory: fs.path)
        #expect(tree.agentLeaf == nil)
        #expect(!Files.exists(fs.at("edge-agent/agent")))
    }
}

@Suite struct FakeV2InstanceTests {
    @Test func makeInstanceWritesEveryLimit() throws {
        let fs = unifiedMount()
        let tree = try v2Tree(fs)
        let cgroup = try tree.makeInstance(function: "classifier", limits: allLimits)
        let directory = fs.at("edge-agent/classifier.1")
        #expect(cgroup.path == directory)
        #expect(cgroup.version == .v2)
        #expect(contents("\(directory)/memory.max") == "67108864")
        #expect(contents("\(directory)/memory.swap.max") == "0")
        #expect(contents("\(directory)/memory.oom.group") == "1")
        #expect(contents("\(directory)/cpu.max") == "25000 100000")
        #expect(contents("\(directory)/pids.max") == "16")
        #expect(cgroup.directory(for: "unified") == directory)
    }

    @Test func instancesGetNumberedNames() throws {
        let fs = unifiedMount()
        let tree = try v2Tree(fs)
        let first = try tree.makeInstance(function: "a", limits: ResourceLimits())
        let second = try tree.makeInstance(function: "a", limits: ResourceLimits())
        let other = try tree.makeInstance(function: "b", limits: ResourceLimits())
        #expect([first.path, second.path, other.path] == [fs.at("edge-agent/a.1"), fs.at("edge-agent/a.2"), fs.at("edge-agent/b.3")])
        #expect(Set(try Files.list(fs.at("edge-agent"))).isSuperset(of: ["a.1", "a.2", "b.3"]))
    }

    @Test func noLimitsWriteNoFiles() throws {
        let fs = unifiedMount()
        let cgroup = try v2Tree(fs).makeInstance(function: "f", limits: ResourceLimits(openFiles: 64, cpuSeconds: 5))
        #expect(try Files.list(cgroup.path).isEmpty)
    }

    @Test func aMissingControllersFilesAreNotWritten() throws {
        let fs = unifiedMount(controllers: "cpu memory")
        let tree = try v2Tree(fs)
        let cgroup = try tree.makeInstance(function: "f", limits: allLimits)
        #expect(!Files.exists("\(cgroup.path)/pids.max"))
        #expect(contents("\(cgroup.path)/memory.max") == "67108864")
        #expect(contents("\(cgroup.path)/cpu.max") == "25000 100000")
    }

    @Test func aControllerlessTreeWritesNothing() throws {
        let fs = unifiedMount(controllers: "")
        let cgroup = try v2Tree(fs).makeInstance(function: "f", limits: allLimits)
        #expect(Files.isDirectory(cgroup.path))
        #expect(try Files.list(cgroup.path).isEmpty)
    }

    @Test func aCgroupLeftFromEarlierIsNeverReused() throws {
        let fs = unifiedMount()
        let tree = try v2Tree(fs)
        // A clean-up that could not remove "f.1" must not hand it, with what is in it, to a new instance.
        fs.makeDirectory("edge-agent/f.1")
        fs.put("edge-agent/f.1/cgroup.procs", "4242\n")
        let cgroup = try tree.makeInstance(function: "f", limits: allLimits)
        #expect(cgroup.path == fs.at("edge-agent/f.2"))
        #expect(contents(fs.at("edge-agent/f.1/cgroup.procs")) == "4242\n")
    }

    @Test func usageReadsTheInstanceFiles() throws {
        let fs = unifiedMount()
        let cgroup = try v2Tree(fs).makeInstance(function: "f", limits: allLimits)
        fs.put("edge-agent/f.1/memory.current", "1048576\n")
        fs.put("edge-agent/f.1/memory.peak", "2097152\n")
        fs.put("edge-agent/f.1/memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 1\n")
        fs.put("edge-agent/f.1/cpu.stat", "usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\nnr_periods 40\nnr_throttled 30\nthrottled_usec 700\n")
        fs.put("edge-agent/f.1/pids.current", "3\n")
        fs.put("edge-agent/f.1/pids.events", "max 1\n")
        let usage = cgroup.usage()
        #expect(usage.memoryBytes == 1_048_576)
        #expect(usage.memoryPeakBytes == 2_097_152)
        #expect(usage.memoryLimitBytes == 67_108_864)
        #expect(usage.oomKills == 1)  // one group kill (oom_group_kill), its victim counted twice in oom_kill
        #expect(usage.cpuUsageUsec == 5000)
        #expect(usage.cpuPeriods == 40)
        #expect(usage.cpuThrottledPeriods == 30)
        #expect(usage.cpuThrottledUsec == 700)
        #expect(usage.pids == 3)
        #expect(usage.pidsLimit == 16)
        #expect(usage.pidsLimitHits == 1)
    }

    @Test func usageOfAnEmptyCgroupIsUnknown() throws {
        let fs = unifiedMount()
        let cgroup = try v2Tree(fs).makeInstance(function: "f", limits: ResourceLimits())
        #expect(cgroup.usage() == ResourceUsage())
    }

    @Test func killAllWritesCgroupKillWhenTheKernelHasIt() throws {
        let fs = unifiedMount()
        // The kernel puts cgroup.kill (5.14+) and cgroup.freeze in every new v2 cgroup.
        fs.put("edge-agent/f.1/cgroup.kill", "")
        fs.put("edge-agent/f.1/cgroup.freeze", "0\n")
        let cgroup = FunctionCgroup(version: .v2, directories: [(["unified"], fs.at("edge-agent/f.1"))])
        cgroup.killAll()
        #expect(contents(fs.at("edge-agent/f.1/cgroup.kill")) == "1")
        #expect(contents(fs.at("edge-agent/f.1/cgroup.freeze")) == "0\n", "cgroup.kill makes freezing needless")
    }

    @Test func killAllFreezesAndThawsWithoutCgroupKill() throws {
        let fs = unifiedMount()
        fs.put("edge-agent/f.1/cgroup.freeze", "0\n")
        let cgroup = FunctionCgroup(version: .v2, directories: [(["unified"], fs.at("edge-agent/f.1"))])
        cgroup.killAll()
        #expect(contents(fs.at("edge-agent/f.1/cgroup.freeze")) == "0")
        #expect(!Files.exists(fs.at("edge-agent/f.1/cgroup.kill")))
    }

    @Test func aV1CgroupNeverUsesCgroupKill() throws {
        let fs = FakeCgroupfs()
        fs.put("memory/f.1/cgroup.kill", "")
        let cgroup = FunctionCgroup(version: .v1, directories: [(["memory"], fs.at("memory/f.1"))])
        cgroup.killAll()
        #expect(contents(fs.at("memory/f.1/cgroup.kill")) == "")
    }

    @Test func killAllWithoutCgroupKillKillsEveryListedProcess() throws {
        let fs = unifiedMount()
        let cgroup = try v2Tree(fs).makeInstance(function: "f", limits: ResourceLimits())
        let child = try Child("/bin/sleep", ["30"])
        defer { child.end() }
        // Only this test's own unreaped child is listed, so no other process can be hit.
        fs.put("edge-agent/f.1/cgroup.procs", "\(child.pid)\n")
        #expect(cgroup.processes == [child.pid])
        cgroup.killAll()
        #expect(child.wait() == 128 + SIGKILL)
    }

    @Test func processesListsCgroupProcs() throws {
        let fs = unifiedMount()
        let cgroup = try v2Tree(fs).makeInstance(function: "f", limits: ResourceLimits())
        #expect(cgroup.processes.isEmpty)
        fs.put("edge-agent/f.1/cgroup.procs", "12\n345\n6789\n")
        #expect(cgroup.processes == [12, 345, 6789])
    }

    @Test func openForJoiningOpensCgroupProcsForWriting() throws {
        let fs = unifiedMount()
        let cgroup = try v2Tree(fs).makeInstance(function: "f", limits: ResourceLimits())
        fs.put("edge-agent/f.1/cgroup.procs", "")
        let files = try cgroup.openForJoining()
        #expect(files.count == 1)
        let written = files.rawValues.first.map { fd in Array("0".utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        #expect(written == 1)
        #expect(contents(fs.at("edge-agent/f.1/cgroup.procs")) == "0")
        #expect(files.rawValues.allSatisfy { fcntl($0, F_GETFD) & FD_CLOEXEC != 0 })
    }

    @Test func openForJoiningNamesTheCgroupItCannotJoin() throws {
        let fs = unifiedMount()
        let cgroup = try v2Tree(fs).makeInstance(function: "f", limits: ResourceLimits())
        #expect {
            _ = try cgroup.openForJoining()
        } throws: { error in
            (error as? CgroupError)?.description
                == "cannot join \(fs.at("edge-agent/f.1")): open \(fs.at("edge-agent/f.1/cgroup.procs")): No such file or directory (ENOENT)"
        }
    }

    @Test func removeDeletesTheInstanceAndItsFiles() throws {
        let fs = unifiedMount()
        let cgroup = try v2Tree(fs).makeInstance(function: "f", limits: allLimits)
        fs.makeDirectory("edge-agent/f.1/nested")
        #expect(cgroup.remove())
        #expect(!Files.exists(cgroup.path))
        #expect(cgroup.remove(), "removing twice is fine")
        #expect(Files.isDirectory(fs.at("edge-agent")))
    }
}

@Suite struct FakeV2HousekeepingTests {
    @Test func cleanStaleRemovesLeftoversButNotTheAgentLeaf() throws {
        let fs = unifiedMount()
        let tree = try v2Tree(fs, agentDirectory: fs.at("edge-agent"))
        fs.put("edge-agent/old.3/memory.max", "67108864\n")
        fs.put("edge-agent/old.4/child/cgroup.procs", "")
        fs.put("edge-agent/not-a-cgroup", "a plain file\n")
        let result = tree.cleanStale(waitMs: 500)
        #expect(result.cleaned == ["old.3", "old.4"])
        #expect(result.leftover.isEmpty)
        #expect(!Files.exists(fs.at("edge-agent/old.3")))
        #expect(!Files.exists(fs.at("edge-agent/old.4")))
        #expect(Files.isDirectory(fs.at("edge-agent/agent")))
        #expect(contents(fs.at("edge-agent/agent/cgroup.procs")) == "0")
        #expect(Files.exists(fs.at("edge-agent/not-a-cgroup")))
    }

    @Test func cleanStaleWithNothingLeftOver() throws {
        let fs = unifiedMount()
        let tree = try v2Tree(fs)
        let result = tree.cleanStale(waitMs: 100)
        #expect(result.cleaned.isEmpty)
        #expect(result.leftover.isEmpty)
    }

    @Test func cleanStaleThenNewInstancesWork() throws {
        let fs = unifiedMount()
        fs.put("edge-agent/f.1/pids.max", "3\n")
        let tree = try v2Tree(fs)
        #expect(tree.cleanStale(waitMs: 100).cleaned == ["f.1"])
        let cgroup = try tree.makeInstance(function: "f", limits: ResourceLimits(pids: 5))
        #expect(contents("\(cgroup.path)/pids.max") == "5")
    }

    @Test func removeSubtreeRemovesWhatTheTreeCreated() throws {
        let fs = unifiedMount(subtree: nil)
        let tree = try v2Tree(fs, subtree: "a/b")
        _ = try tree.makeInstance(function: "f", limits: ResourceLimits())
        #expect(Files.isDirectory(fs.at("a/b/f.1")))
        tree.removeSubtree()
        #expect(!Files.exists(fs.at("a/b")))
        #expect(Files.exists(fs.at("cgroup.controllers")), "the mount itself stays")
    }

    @Test func removeSubtreeAlsoRemovesTheParentsItCreated() throws {
        let fs = unifiedMount(subtree: nil)
        let tree = try v2Tree(fs, subtree: "a/b")
        tree.removeSubtree()
        #expect(!Files.exists(fs.at("a/b")))
        // set-up made "a" for "a/b" (cgroups.root "a/b"), so stopping should remove it too.
        #expect(!Files.exists(fs.at("a")))
    }

    @Test func removeSubtreeKeepsASubtreeThatExisted() throws {
        let fs = unifiedMount()
        let tree = try v2Tree(fs)
        let cgroup = try tree.makeInstance(function: "f", limits: ResourceLimits())
        #expect(cgroup.remove())
        tree.removeSubtree()
        #expect(Files.isDirectory(fs.at("edge-agent")))
    }

    @Test func removeSubtreeKeepsTheSubtreeTheAgentLivesIn() throws {
        let fs = unifiedMount(subtree: nil)
        let tree = try v2Tree(fs, subtree: "svc", agentDirectory: fs.at("svc"))
        #expect(tree.agentLeaf == fs.at("svc/agent"))
        tree.removeSubtree()
        #expect(Files.isDirectory(fs.at("svc/agent")))
    }
}
