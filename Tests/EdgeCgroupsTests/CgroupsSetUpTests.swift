import Testing
@testable import EdgeCgroups
import EdgeCore
import EdgePOSIX

/// mountinfo lines for a cgroup2 mount at `unified` and v1 mounts (path, super options).
private func mountinfo(unified: String? = nil, v1: [(path: String, options: String)] = []) -> String {
    var lines = ["31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755"]
    if let unified { lines.append("41 31 0:38 / \(unified) rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate") }
    for (index, mount) in v1.enumerated() {
        lines.append("\(50 + index) 31 0:\(60 + index) / \(mount.path) rw,relatime - cgroup cgroup rw,\(mount.options)")
    }
    return lines.joined(separator: "\n") + "\n"
}

private func layout(unified: String? = nil, v1: [(path: String, options: String)] = [], own: String) -> CgroupLayout {
    CgroupLayout.parse(mountinfo: mountinfo(unified: unified, v1: v1), procSelfCgroup: own)
}

private func failure(_ result: Result<CgroupTree, CgroupError>) -> String? {
    if case .failure(let error) = result { return error.description }
    return nil
}

/// A fake cgroup2 mount whose top and `levels` below offer `controllers`.
private func unifiedFS(controllers: String = "cpu memory pids", levels: [String] = []) -> FakeCgroupfs {
    let fs = FakeCgroupfs()
    fs.put("unified/cgroup.controllers", controllers + "\n")
    for level in levels { fs.put("unified/\(level)/cgroup.controllers", controllers + "\n") }
    return fs
}

/// Fake v1 hierarchies memory, cpu+cpuacct together, pids and freezer, as (path, options).
private func v1Mounts(_ fs: FakeCgroupfs) -> [(path: String, options: String)] {
    [(fs.at("memory"), "memory"), (fs.at("cpu,cpuacct"), "cpu,cpuacct"), (fs.at("pids"), "pids"), (fs.at("freezer"), "freezer"),
     (fs.at("systemd"), "name=systemd")]
}

@Suite struct CgroupsSetUpChoiceTests {
    @Test func offIsRefused() {
        #expect(failure(Cgroups.setUp(mode: .off, root: nil)) == "cgroups are off in the agent's configuration")
    }

    @Test func v2WithoutACgroup2Mount() {
        let fs = FakeCgroupfs()
        let result = Cgroups.setUp(mode: .v2, root: nil, layout: layout(v1: v1Mounts(fs), own: "0::/\n"))
        #expect(failure(result) == "cgroups.mode is v2 but no cgroup2 filesystem is mounted")
    }

    @Test func v1WithoutALimitHierarchy() {
        let fs = unifiedFS()
        let result = Cgroups.setUp(mode: .v1, root: nil,
                                   layout: layout(unified: fs.at("unified"), v1: [(fs.at("blkio"), "blkio")], own: "0::/\n"))
        #expect(failure(result) == "cgroups.mode is v1 but no v1 hierarchy has the memory, cpu or pids controller")
    }

    @Test func autoWithNothingUsable() {
        let fs = unifiedFS(controllers: "hugetlb io")
        let result = Cgroups.setUp(mode: .auto, root: nil, layout: layout(unified: fs.at("unified"), own: "0::/\n"))
        #expect(failure(result) == "no cgroup hierarchy with the memory, cpu or pids controller is mounted")
        #expect(failure(Cgroups.setUp(mode: .auto, root: nil, layout: CgroupLayout())) ==
            "no cgroup hierarchy with the memory, cpu or pids controller is mounted")
    }

    @Test func autoPrefersV2WhenItHasALimitController() throws {
        let fs = unifiedFS(controllers: "pids", levels: ["edge-agent"])
        let tree = try Cgroups.setUp(mode: .auto, root: nil,
                                     layout: layout(unified: fs.at("unified"), v1: v1Mounts(fs), own: "0::/\n")).get()
        #expect(tree.version == .v2)
        #expect(tree.paths == [fs.at("unified/edge-agent")])
        #expect(tree.controllers == ["pids"])
        #expect(tree.agentLeaf == nil)
    }

    @Test func autoOnAHybridHostWithAControllerlessCgroup2UsesV1() throws {
        let fs = unifiedFS(controllers: "hugetlb")
        let tree = try Cgroups.setUp(mode: .auto, root: nil,
                                     layout: layout(unified: fs.at("unified"), v1: v1Mounts(fs), own: "0::/\n")).get()
        #expect(tree.version == .v1)
        #expect(tree.controllers == ["memory", "cpu", "pids"])
    }

    @Test func v2IsForcedEvenWithoutControllers() throws {
        let fs = unifiedFS(controllers: "hugetlb")
        let tree = try Cgroups.setUp(mode: .v2, root: nil,
                                     layout: layout(unified: fs.at("unified"), v1: v1Mounts(fs), own: "0::/\n")).get()
        #expect(tree.version == .v2)
        #expect(tree.controllers.isEmpty)
        #expect(tree.problems.count == 3)
    }
}

@Suite struct CgroupsSetUpV2PathTests {
    @Test func delegatedServiceCgroupIsTheSubtreeAndTheAgentMovesIntoALeaf() throws {
        let fs = unifiedFS(levels: ["system.slice", "system.slice/edge.service"])
        let tree = try Cgroups.setUp(mode: .v2, root: nil,
                                     layout: layout(unified: fs.at("unified"), own: "0::/system.slice/edge.service\n")).get()
        #expect(tree.paths == [fs.at("unified/system.slice/edge.service")])
        #expect(tree.agentLeaf == fs.at("unified/system.slice/edge.service/agent"))
        #expect(contents(fs.at("unified/system.slice/edge.service/agent/cgroup.procs")) == "0")
        #expect(tree.controllers == ["memory", "cpu", "pids"])
    }

    @Test func agentInTheRootCgroupGetsADefaultSubtree() throws {
        let fs = unifiedFS(levels: ["edge-agent"])
        let tree = try Cgroups.setUp(mode: .v2, root: nil, layout: layout(unified: fs.at("unified"), own: "0::/\n")).get()
        #expect(tree.paths == [fs.at("unified/edge-agent")])
        #expect(tree.agentLeaf == nil)
    }

    @Test func absoluteRootIsFromTheHierarchysRoot() throws {
        let fs = unifiedFS()
        let tree = try Cgroups.setUp(mode: .v2, root: "/edge/agents",
                                     layout: layout(unified: fs.at("unified"), own: "0::/system.slice/edge.service\n")).get()
        #expect(tree.paths == [fs.at("unified/edge/agents")])
        #expect(tree.agentLeaf == nil)
        #expect(!Files.exists(fs.at("unified/system.slice")))
    }

    @Test func relativeRootIsBelowTheAgentsOwnCgroup() throws {
        let fs = unifiedFS()
        let tree = try Cgroups.setUp(mode: .v2, root: "functions",
                                     layout: layout(unified: fs.at("unified"), own: "0::/system.slice/edge.service\n")).get()
        #expect(tree.paths == [fs.at("unified/system.slice/edge.service/functions")])
        // The agent's own cgroup must enable controllers for "functions", so it may hold no process.
        #expect(tree.agentLeaf == fs.at("unified/system.slice/edge.service/functions/agent"))
    }

    @Test func agentInAContainersNamespaceRootMovesIntoALeaf() throws {
        // A cgroup namespace's root is a real cgroup (it has cgroup.events) and, unlike the
        // hierarchy's real root, may not hold processes while it enables controllers.
        let fs = unifiedFS(levels: ["edge-agent"])
        fs.put("unified/cgroup.events", "populated 1\nfrozen 0\n")
        let tree = try Cgroups.setUp(mode: .v2, root: nil, layout: layout(unified: fs.at("unified"), own: "0::/\n")).get()
        #expect(tree.paths == [fs.at("unified/edge-agent")])
        #expect(tree.agentLeaf == fs.at("unified/edge-agent/agent"))
        #expect(contents(fs.at("unified/edge-agent/agent/cgroup.procs")) == "0")
    }

    @Test func rootSlashInAContainerIsTheAgentsOwnCgroup() throws {
        let fs = unifiedFS()
        fs.put("unified/cgroup.events", "populated 1\nfrozen 0\n")  // a namespace root, not the real one
        let tree = try Cgroups.setUp(mode: .v2, root: "/", layout: layout(unified: fs.at("unified"), own: "0::/\n")).get()
        #expect(tree.paths == [fs.at("unified")])
        // The agent's own cgroup is the subtree: it moves into a leaf of it.
        #expect(tree.agentLeaf == fs.at("unified/agent"))
    }

    @Test func theRealRootMayKeepTheAgent() throws {
        // The hierarchy's real root (no cgroup.events) is exempt from "no internal processes".
        let fs = unifiedFS()
        let tree = try Cgroups.setUp(mode: .v2, root: "/", layout: layout(unified: fs.at("unified"), own: "0::/\n")).get()
        #expect(tree.paths == [fs.at("unified")])
        #expect(tree.agentLeaf == nil)
    }
}

@Suite struct CgroupsSetUpV1PathTests {
    static let own = "9:name=systemd:/\n5:freezer:/\n4:pids:/user.slice\n3:memory:/user.slice/u\n2:cpu,cpuacct:/\n0::/\n"

    @Test func defaultSubtreeIsBelowTheOwnCgroupInEachHierarchy() throws {
        let fs = FakeCgroupfs()
        let tree = try Cgroups.setUp(mode: .v1, root: nil, layout: layout(v1: v1Mounts(fs), own: Self.own)).get()
        #expect(tree.paths == [
            fs.at("memory/user.slice/u/edge-agent"), fs.at("cpu,cpuacct/edge-agent"), fs.at("pids/user.slice/edge-agent"),
            fs.at("freezer/edge-agent"),
        ])
        #expect(tree.controllers == ["memory", "cpu", "pids"])
        #expect(!Files.exists(fs.at("systemd")), "name=systemd is no limit hierarchy")
    }

    @Test func absoluteRootIsTheSameInEveryHierarchy() throws {
        let fs = FakeCgroupfs()
        let tree = try Cgroups.setUp(mode: .v1, root: "/edge", layout: layout(v1: v1Mounts(fs), own: Self.own)).get()
        #expect(tree.paths == ["memory", "cpu,cpuacct", "pids", "freezer"].map { fs.at("\($0)/edge") })
    }

    @Test func relativeRootIsBelowTheOwnCgroup() throws {
        let fs = FakeCgroupfs()
        let tree = try Cgroups.setUp(mode: .v1, root: "fn", layout: layout(v1: v1Mounts(fs), own: Self.own)).get()
        #expect(tree.paths.first == fs.at("memory/user.slice/u/fn"))
        #expect(tree.paths.last == fs.at("freezer/fn"))
    }

    @Test func aHierarchyWithoutAnOwnEntryIsTakenFromItsTop() throws {
        let fs = FakeCgroupfs()
        let tree = try Cgroups.setUp(mode: .v1, root: nil, layout: layout(v1: [(fs.at("memory"), "memory")], own: "0::/\n")).get()
        #expect(tree.paths == [fs.at("memory/edge-agent")])
        #expect(tree.problems.count == 2)
    }

    @Test func aSubtreeThatCannotBeMadeIsTheError() {
        let fs = FakeCgroupfs()
        fs.put("memory", "a file, not a hierarchy")
        let result = Cgroups.setUp(mode: .v1, root: "/edge", layout: layout(v1: [(fs.at("memory"), "memory")], own: "0::/\n"))
        #expect(failure(result)?.hasPrefix("cannot create \(fs.at("memory/edge")): ") == true)
    }
}
