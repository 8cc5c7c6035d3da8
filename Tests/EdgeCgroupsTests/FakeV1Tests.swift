#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeCgroups
import EdgeCore
import EdgePOSIX

/// v1 hierarchies in plain directories: `<fs>/<controller>/edge` for each of `controllers`.
private func v1Tree(_ fs: FakeCgroupfs, _ controllers: [String] = ["memory", "cpu", "cpuacct", "pids"]) throws -> CgroupTree {
    try CgroupTree.v1(hierarchies: controllers.map { ([$0], fs.at("\($0)/edge")) })
}

@Suite struct FakeV1Tests {
    @Test func everyHierarchyGetsItsRoot() throws {
        let fs = FakeCgroupfs()
        let tree = try v1Tree(fs)
        #expect(tree.version == .v1)
        #expect(tree.controllers == ["memory", "cpu", "pids"])
        #expect(tree.problems.isEmpty)
        #expect(tree.paths == ["memory", "cpu", "cpuacct", "pids"].map { fs.at("\($0)/edge") })
        for controller in ["memory", "cpu", "cpuacct", "pids"] {
            #expect(Files.isDirectory(fs.at("\(controller)/edge")), "\(controller)")
        }
    }

    @Test func makeInstanceWritesEachLimitInItsHierarchy() throws {
        let fs = FakeCgroupfs()
        let tree = try v1Tree(fs)
        let cgroup = try tree.makeInstance(function: "f", limits: ResourceLimits(memoryMB: 64, cpus: 0.5, pids: 8))
        #expect(cgroup.version == .v1)
        #expect(cgroup.path == fs.at("memory/edge/f.1"))
        #expect(try Files.list(fs.at("memory/edge/f.1")) == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness"])
        #expect(contents(fs.at("memory/edge/f.1/memory.limit_in_bytes")) == "67108864")
        #expect(contents(fs.at("memory/edge/f.1/memory.memsw.limit_in_bytes")) == "67108864")
        #expect(contents(fs.at("memory/edge/f.1/memory.swappiness")) == "0")
        #expect(try Files.list(fs.at("cpu/edge/f.1")) == ["cpu.cfs_period_us", "cpu.cfs_quota_us"])
        #expect(contents(fs.at("cpu/edge/f.1/cpu.cfs_period_us")) == "100000")
        #expect(contents(fs.at("cpu/edge/f.1/cpu.cfs_quota_us")) == "50000")
        #expect(try Files.list(fs.at("cpuacct/edge/f.1")).isEmpty)
        #expect(try Files.list(fs.at("pids/edge/f.1")) == ["pids.max"])
        #expect(contents(fs.at("pids/edge/f.1/pids.max")) == "8")
        #expect(cgroup.directory(for: "cpuacct") == fs.at("cpuacct/edge/f.1"))
    }

    @Test func combinedCPUAndCPUAcctHierarchy() throws {
        let fs = FakeCgroupfs()
        let tree = try CgroupTree.v1(hierarchies: [(["cpu", "cpuacct"], fs.at("cpu,cpuacct/edge")), (["memory"], fs.at("memory/edge"))])
        #expect(tree.problems == ["no cgroup v1 hierarchy has the pids controller mounted"])
        let cgroup = try tree.makeInstance(function: "f", limits: ResourceLimits(cpus: 2, pids: 4))
        #expect(contents(fs.at("cpu,cpuacct/edge/f.1/cpu.cfs_quota_us")) == "200000")
        #expect(cgroup.directory(for: "cpuacct") == fs.at("cpu,cpuacct/edge/f.1"))
        #expect(cgroup.path == fs.at("cpu,cpuacct/edge/f.1"))
    }

    @Test func aMissingHierarchyIsAProblemAndItsFilesAreNotWritten() throws {
        let fs = FakeCgroupfs()
        let tree = try v1Tree(fs, ["memory", "cpu"])
        #expect(tree.controllers == ["memory", "cpu"])
        #expect(tree.problems == ["no cgroup v1 hierarchy has the pids controller mounted"])
        let cgroup = try tree.makeInstance(function: "f", limits: ResourceLimits(memoryMB: 16, pids: 8))
        #expect(contents("\(cgroup.path)/memory.limit_in_bytes") == "16777216")
        #expect(!Files.exists(fs.at("memory/edge/f.1/pids.max")))
        #expect(!Files.exists(fs.at("cpu/edge/f.1/pids.max")))
    }

    @Test func noHierarchiesNoControllers() throws {
        let tree = try CgroupTree.v1(hierarchies: [])
        #expect(tree.controllers.isEmpty)
        #expect(tree.problems.count == 3)
    }

    @Test func aHierarchyThatVanishedFailsTheInstanceAndUndoesTheOthers() throws {
        let fs = FakeCgroupfs()
        let tree = try v1Tree(fs, ["memory", "pids"])
        try Files.removeTree(fs.at("pids/edge"))
        #expect {
            _ = try tree.makeInstance(function: "f", limits: ResourceLimits(memoryMB: 16))
        } throws: { error in
            (error as? CgroupError)?.description
                == "cannot create the cgroup \(fs.at("pids/edge/f.1")): mkdir \(fs.at("pids/edge/f.1")): No such file or directory (ENOENT)"
        }
        #expect(!Files.exists(fs.at("memory/edge/f.1")))
    }

    @Test func usageReadsAcrossHierarchies() throws {
        let fs = FakeCgroupfs()
        let cgroup = try v1Tree(fs).makeInstance(function: "f", limits: ResourceLimits(memoryMB: 32, pids: 8))
        fs.put("memory/edge/f.1/memory.usage_in_bytes", "1052672\n")
        fs.put("memory/edge/f.1/memory.max_usage_in_bytes", "2105344\n")
        fs.put("memory/edge/f.1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
        fs.put("cpu/edge/f.1/cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 9000000\nnr_bursts 0\nburst_time 0\n")
        fs.put("cpuacct/edge/f.1/cpuacct.usage", "7000000\n")
        fs.put("pids/edge/f.1/pids.current", "2\n")
        fs.put("pids/edge/f.1/pids.events", "max 6\n")
        // A file in the wrong hierarchy is not read.
        fs.put("cpu/edge/f.1/pids.current", "99\n")
        let usage = cgroup.usage()
        #expect(usage.memoryBytes == 1_052_672)
        #expect(usage.memoryPeakBytes == 2_105_344)
        #expect(usage.memoryLimitBytes == 33_554_432)
        #expect(usage.oomKills == 3)
        #expect(usage.cpuPeriods == 10)
        #expect(usage.cpuThrottledPeriods == 4)
        #expect(usage.cpuThrottledUsec == 9000)
        #expect(usage.cpuUsageUsec == 7000)
        #expect(usage.pids == 2)
        #expect(usage.pidsLimit == 8)
        #expect(usage.pidsLimitHits == 6)
    }

    @Test func killAllFreezesKillsAndThaws() throws {
        let fs = FakeCgroupfs()
        let tree = try v1Tree(fs, ["memory", "pids", "freezer"])
        let cgroup = try tree.makeInstance(function: "f", limits: ResourceLimits())
        let child = try Child("/bin/sleep", ["30"])
        defer { child.end() }
        // Only this test's own unreaped child is listed, so no other process can be hit.
        fs.put("memory/edge/f.1/cgroup.procs", "\(child.pid)\n")
        cgroup.killAll()
        #expect(child.wait() == 128 + SIGKILL)
        #expect(contents(fs.at("freezer/edge/f.1/freezer.state")) == "THAWED")
        #expect(!Files.exists(fs.at("memory/edge/f.1/cgroup.kill")), "v1 has no cgroup.kill")
    }

    @Test func openForJoiningOpensOneFilePerHierarchy() throws {
        let fs = FakeCgroupfs()
        let cgroup = try v1Tree(fs).makeInstance(function: "f", limits: ResourceLimits())
        for controller in ["memory", "cpu", "cpuacct", "pids"] { fs.put("\(controller)/edge/f.1/cgroup.procs", "") }
        let files = try cgroup.openForJoining()
        #expect(files.count == 4)
        #expect(Set(files.rawValues).count == 4)
    }

    @Test func openForJoiningNamesTheHierarchyItCannotJoin() throws {
        let fs = FakeCgroupfs()
        let cgroup = try v1Tree(fs).makeInstance(function: "f", limits: ResourceLimits())
        for controller in ["memory", "cpu", "cpuacct"] { fs.put("\(controller)/edge/f.1/cgroup.procs", "") }
        #expect {
            _ = try cgroup.openForJoining()
        } throws: { error in
            (error as? CgroupError)?.description
                == "cannot join \(fs.at("pids/edge/f.1")): open \(fs.at("pids/edge/f.1/cgroup.procs")): No such file or directory (ENOENT)"
        }
    }

    @Test func removeDeletesEveryHierarchysDirectory() throws {
        let fs = FakeCgroupfs()
        let tree = try v1Tree(fs)
        let cgroup = try tree.makeInstance(function: "f", limits: ResourceLimits(memoryMB: 16, cpus: 1, pids: 2))
        #expect(cgroup.remove())
        for controller in ["memory", "cpu", "cpuacct", "pids"] {
            #expect(!Files.exists(fs.at("\(controller)/edge/f.1")), "\(controller)")
            #expect(Files.isDirectory(fs.at("\(controller)/edge")), "\(controller)")
        }
    }

    @Test func cleanStaleRemovesLeftoversFromEveryHierarchy() throws {
        let fs = FakeCgroupfs()
        let tree = try v1Tree(fs)
        fs.put("memory/edge/f.7/memory.limit_in_bytes", "1\n")
        fs.makeDirectory("pids/edge/f.7")
        fs.makeDirectory("cpu/edge/g.2")
        let result = tree.cleanStale(waitMs: 200)
        #expect(result.cleaned == ["f.7", "g.2"])
        #expect(result.leftover.isEmpty)
        #expect(!Files.exists(fs.at("memory/edge/f.7")))
        #expect(!Files.exists(fs.at("pids/edge/f.7")))
        #expect(!Files.exists(fs.at("cpu/edge/g.2")))
    }

    @Test func removeSubtreeRemovesEveryRootItCreated() throws {
        let fs = FakeCgroupfs()
        fs.makeDirectory("cpu/edge")
        let tree = try v1Tree(fs)
        _ = try tree.makeInstance(function: "f", limits: ResourceLimits(memoryMB: 16))
        tree.removeSubtree()
        #expect(!Files.exists(fs.at("memory/edge")))
        #expect(!Files.exists(fs.at("pids/edge")))
        #expect(!Files.exists(fs.at("cpuacct/edge")))
        #expect(Files.isDirectory(fs.at("cpu/edge")), "it existed before the tree")
    }
}
