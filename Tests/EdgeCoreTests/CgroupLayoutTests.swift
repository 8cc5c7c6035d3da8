import Testing
@testable import EdgeCore

/// A hybrid machine: v1 hierarchies, cpu and cpuacct mounted apart, and a controller-less
/// cgroup2 at /sys/fs/cgroup/unified (lines as this kind of host's /proc/self/mountinfo has them).
private let hybridMountinfo = """
    24 1 253:1 / / rw,relatime - ext4 /dev/vda rw
    23 24 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
    31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
    33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
    34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
    36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
    37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
    38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
    39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
    40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

    """

private let hybridCgroup = """
    9:name=systemd:/
    8:pids:/
    7:blkio:/
    6:freezer:/
    5:devices:/
    4:memory:/process_api/102a47ca62d555a2c5838bab1480a727
    3:cpuset:/
    2:cpuacct:/
    1:cpu:/
    0::/

    """

/// A systemd host with only cgroup v2, the agent in its own service.
private let unifiedMountinfo = """
    22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
    24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
    35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot

    """

@Suite struct CgroupLayoutParseTests {
    @Test func hybridHostWithSeparateCPUAndCPUAcct() throws {
        let layout = CgroupLayout.parse(mountinfo: hybridMountinfo, procSelfCgroup: hybridCgroup)
        #expect(layout.unified == CgroupLayout.Mount(mountPoint: "/sys/fs/cgroup/unified", root: "/", controllers: []))
        #expect(Set(layout.v1.keys) == ["cpu", "cpuacct", "memory", "freezer", "pids"])
        #expect(layout.v1["cpu"] == CgroupLayout.Mount(mountPoint: "/sys/fs/cgroup/cpu", root: "/", controllers: ["cpu"]))
        #expect(layout.v1["cpuacct"] == CgroupLayout.Mount(mountPoint: "/sys/fs/cgroup/cpuacct", root: "/", controllers: ["cpuacct"]))
        #expect(layout.v1["memory"] == CgroupLayout.Mount(mountPoint: "/sys/fs/cgroup/memory", root: "/", controllers: ["memory"]))
        #expect(layout.v1["pids"]?.mountPoint == "/sys/fs/cgroup/pids")
        #expect(layout.v1["freezer"]?.mountPoint == "/sys/fs/cgroup/freezer")
        #expect(layout.ownUnified == "/")
        #expect(layout.ownV1["memory"] == "/process_api/102a47ca62d555a2c5838bab1480a727")
        #expect(layout.ownV1["cpu"] == "/")
        #expect(layout.ownV1["pids"] == "/")
        #expect(layout.ownV1["name=systemd"] == "/")

        let memory = try #require(layout.v1["memory"])
        #expect(CgroupLayout.directory(of: try #require(layout.ownV1["memory"]), in: memory)
            == "/sys/fs/cgroup/memory/process_api/102a47ca62d555a2c5838bab1480a727")
        let unified = try #require(layout.unified)
        #expect(CgroupLayout.directory(of: "/", in: unified) == "/sys/fs/cgroup/unified")
    }

    @Test func pureV2HostUnderSystemd() throws {
        let layout = CgroupLayout.parse(mountinfo: unifiedMountinfo, procSelfCgroup: "0::/system.slice/edge-agent.service\n")
        #expect(layout.unified == CgroupLayout.Mount(mountPoint: "/sys/fs/cgroup", root: "/", controllers: []))
        #expect(layout.v1.isEmpty)
        #expect(layout.ownUnified == "/system.slice/edge-agent.service")
        #expect(layout.ownV1.isEmpty)
        #expect(CgroupLayout.directory(of: "/system.slice/edge-agent.service", in: try #require(layout.unified))
            == "/sys/fs/cgroup/system.slice/edge-agent.service")
    }

    @Test func combinedCPUAndCPUAcctHierarchy() {
        let mountinfo = """
            25 24 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
            26 24 0:24 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
            """
        let layout = CgroupLayout.parse(mountinfo: mountinfo, procSelfCgroup: "4:cpu,cpuacct:/user.slice\n3:memory:/user.slice/x\n")
        let combined = CgroupLayout.Mount(mountPoint: "/sys/fs/cgroup/cpu,cpuacct", root: "/", controllers: ["cpu", "cpuacct"])
        #expect(layout.v1["cpu"] == combined)
        #expect(layout.v1["cpuacct"] == combined)
        #expect(layout.ownV1 == ["cpu": "/user.slice", "cpuacct": "/user.slice", "memory": "/user.slice/x"])
        #expect(layout.unified == nil)
        #expect(layout.ownUnified == nil)
    }

    @Test func containerMountShowsItsOwnCgroupAsRoot() throws {
        let mountinfo = """
            700 690 0:29 /docker/3f1c /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
            """
        let layout = CgroupLayout.parse(mountinfo: mountinfo, procSelfCgroup: "0::/docker/3f1c\n")
        let mount = try #require(layout.unified)
        #expect(mount.root == "/docker/3f1c")
        #expect(mount.mountPoint == "/sys/fs/cgroup")
        #expect(CgroupLayout.directory(of: "/docker/3f1c", in: mount) == "/sys/fs/cgroup")
        #expect(CgroupLayout.directory(of: "/docker/3f1c/edge-agent", in: mount) == "/sys/fs/cgroup/edge-agent")
        // A path outside the container's cgroup is taken from the mount point as it is.
        #expect(CgroupLayout.directory(of: "/edge", in: mount) == "/sys/fs/cgroup/edge")
    }

    @Test func containerV1MountsWithRoots() {
        let mountinfo = """
            701 700 0:33 /docker/3f1c /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:15 - cgroup cgroup rw,memory
            702 700 0:36 /docker/3f1c /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime master:18 - cgroup cgroup rw,pids
            """
        let layout = CgroupLayout.parse(mountinfo: mountinfo, procSelfCgroup: "11:memory:/docker/3f1c\n8:pids:/docker/3f1c\n")
        #expect(layout.v1["memory"]?.root == "/docker/3f1c")
        #expect(layout.v1["pids"]?.root == "/docker/3f1c")
        #expect(layout.v1["memory"].map { CgroupLayout.directory(of: "/docker/3f1c", in: $0) } == "/sys/fs/cgroup/memory")
    }

    @Test func octalEscapesInMountPointsAndRoots() {
        let mountinfo = """
            50 31 0:40 / /mnt/cgroup\\040v2 rw,relatime - cgroup2 cgroup2 rw
            51 31 0:41 /a\\011b /mnt/my\\040cgroups/mem\\134ory rw,relatime - cgroup cgroup rw,memory
            52 31 0:42 / /mnt/trailing\\040 rw,relatime - cgroup cgroup rw,pids
            """
        let layout = CgroupLayout.parse(mountinfo: mountinfo, procSelfCgroup: "")
        #expect(layout.unified?.mountPoint == "/mnt/cgroup v2")
        #expect(layout.v1["memory"]?.mountPoint == "/mnt/my cgroups/mem\\ory")
        #expect(layout.v1["memory"]?.root == "/a\tb")
        #expect(layout.v1["pids"]?.mountPoint == "/mnt/trailing ")
    }

    @Test(arguments: [("/plain", "/plain"), ("/a\\", "/a\\"), ("/a\\04", "/a\\04"), ("/a\\9zz", "/a\\9zz"),
                      ("/a\\777b", "/a\\777b"), ("\\040\\040", "  ")])
    func unescape(_ text: String, _ expected: String) {
        #expect(CgroupLayout.unescape(text) == expected)
    }

    @Test func theFirstCgroup2MountWins() {
        let mountinfo = """
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            90 24 0:38 / /run/other rw,relatime - cgroup2 cgroup2 rw
            91 24 0:32 / /run/memory2 rw,relatime - cgroup cgroup rw,memory
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            """
        let layout = CgroupLayout.parse(mountinfo: mountinfo, procSelfCgroup: "")
        #expect(layout.unified?.mountPoint == "/sys/fs/cgroup/unified")
        #expect(layout.v1["memory"]?.mountPoint == "/run/memory2")
    }

    @Test func otherFilesystemsAndUnknownControllersAreIgnored() {
        let mountinfo = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
            38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
            60 31 0:50 / /mnt/fake rw,relatime - ext4 /dev/cgroup rw,memory
            """
        let layout = CgroupLayout.parse(mountinfo: mountinfo, procSelfCgroup: "")
        #expect(layout == CgroupLayout())
    }

    @Test func malformedLinesAreSkipped() {
        let mountinfo = """
            garbage
            1 2 3 - cgroup2 cgroup2 rw
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            """
        let layout = CgroupLayout.parse(mountinfo: mountinfo, procSelfCgroup: "nonsense\n1:cpu\n0::/ok\n")
        #expect(layout.unified == nil)
        #expect(layout.v1.keys.sorted() == ["memory"])
        #expect(layout.ownUnified == "/ok")
        #expect(layout.ownV1.isEmpty)
    }

    @Test func ownCgroupPathMayHoldColons() {
        let layout = CgroupLayout.parse(mountinfo: "", procSelfCgroup: "0::/system.slice/a:b.service\n")
        #expect(layout.ownUnified == "/system.slice/a:b.service")
    }

    @Test func emptyInputsGiveAnEmptyLayout() {
        #expect(CgroupLayout.parse(mountinfo: "", procSelfCgroup: "") == CgroupLayout())
    }
}

@Suite struct CgroupLayoutPathTests {
    static let rootMount = CgroupLayout.Mount(mountPoint: "/sys/fs/cgroup", root: "/", controllers: [])
    static let containerMount = CgroupLayout.Mount(mountPoint: "/sys/fs/cgroup", root: "/docker/abc", controllers: [])

    @Test(arguments: [
        ("/sys/fs/cgroup", "edge-agent", "/sys/fs/cgroup/edge-agent"),
        ("/sys/fs/cgroup/", "/edge-agent/", "/sys/fs/cgroup/edge-agent"),
        ("/sys/fs/cgroup", "//a//b//", "/sys/fs/cgroup/a/b"),
        ("/sys/fs/cgroup", "", "/sys/fs/cgroup"),
        ("/sys/fs/cgroup", "/", "/sys/fs/cgroup"),
        ("/sys/fs/cgroup/", "", "/sys/fs/cgroup"),
        ("/", "a", "/a"),
        ("/", "", "/"),
        ("", "", "/"),
        ("", "a/b", "/a/b"),
    ])
    func join(_ base: String, _ path: String, _ expected: String) {
        #expect(CgroupLayout.join(base, path) == expected)
    }

    @Test func directoryOnAMountOfTheWholeHierarchy() {
        #expect(CgroupLayout.directory(of: "/", in: Self.rootMount) == "/sys/fs/cgroup")
        #expect(CgroupLayout.directory(of: "/system.slice/edge-agent.service", in: Self.rootMount)
            == "/sys/fs/cgroup/system.slice/edge-agent.service")
        #expect(CgroupLayout.directory(of: "/edge-agent/", in: Self.rootMount) == "/sys/fs/cgroup/edge-agent")
    }

    @Test func directoryBelowAMountedSubtree() {
        #expect(CgroupLayout.directory(of: "/docker/abc", in: Self.containerMount) == "/sys/fs/cgroup")
        #expect(CgroupLayout.directory(of: "/docker/abc/x/y", in: Self.containerMount) == "/sys/fs/cgroup/x/y")
    }

    @Test func aSiblingWhoseNameExtendsTheRootIsNotBelowIt() {
        // "/docker/abcdef" is a sibling of the mount's root "/docker/abc", not a cgroup below it.
        #expect(CgroupLayout.directory(of: "/docker/abcdef/x", in: Self.containerMount) == "/sys/fs/cgroup/docker/abcdef/x")
    }
}
