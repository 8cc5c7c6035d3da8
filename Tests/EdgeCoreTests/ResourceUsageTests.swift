import Testing
@testable import EdgeCore

/// cgroup v2 files as the kernel writes them (Documentation/admin-guide/cgroup-v2.rst).
private enum V2Files {
    static let memoryEvents = """
        low 0
        high 0
        max 17
        oom 3
        oom_kill 2
        oom_group_kill 1

        """
    static let cpuStat = """
        usage_usec 8391727
        user_usec 5480372
        system_usec 2911355
        core_sched.force_idle_usec 0
        nr_periods 1200
        nr_throttled 700
        throttled_usec 3500123
        nr_bursts 0
        burst_usec 0

        """
    static let pidsEvents = "max 4\n"

    static let all: [String: String] = [
        "memory.current": "52428800\n", "memory.peak": "60817408\n", "memory.max": "67108864\n",
        "memory.events": memoryEvents, "cpu.stat": cpuStat,
        "pids.current": "3\n", "pids.max": "32\n", "pids.events": pidsEvents,
    ]
}

/// cgroup v1 files in the format this machine's kernel writes them.
private enum V1Files {
    static let oomControl = """
        oom_kill_disable 0
        under_oom 0
        oom_kill 5

        """
    static let cpuStat = """
        nr_periods 300
        nr_throttled 120
        throttled_time 4567891234
        nr_bursts 0
        burst_time 0

        """
    static let all: [String: String] = [
        "memory.usage_in_bytes": "1052672\n", "memory.max_usage_in_bytes": "2105344\n",
        "memory.limit_in_bytes": "33554432\n", "memory.oom_control": oomControl,
        "cpu.stat": cpuStat, "cpuacct.usage": "123456789012\n",
        "pids.current": "2\n", "pids.max": "8\n", "pids.events": "max 9\n",
    ]
}

@Suite struct ResourceUsageV2Tests {
    @Test func everyFileIsRead() {
        let usage = ResourceUsage.v2(V2Files.all)
        #expect(usage.memoryBytes == 52_428_800)
        #expect(usage.memoryPeakBytes == 60_817_408)
        #expect(usage.memoryLimitBytes == 67_108_864)
        #expect(usage.cpuUsageUsec == 8_391_727)
        #expect(usage.cpuThrottledUsec == 3_500_123)
        #expect(usage.cpuPeriods == 1200)
        #expect(usage.cpuThrottledPeriods == 700)
        #expect(usage.pids == 3)
        #expect(usage.pidsLimit == 32)
        #expect(usage.oomKills == 1)
        #expect(usage.pidsLimitHits == 4)
    }

    @Test func maxMeansNoLimit() {
        var files = V2Files.all
        files["memory.max"] = "max\n"
        files["pids.max"] = "max\n"
        let usage = ResourceUsage.v2(files)
        #expect(usage.memoryLimitBytes == nil)
        #expect(usage.pidsLimit == nil)
        #expect(usage.memoryBytes == 52_428_800)
    }

    @Test func absentFilesAreUnknown() {
        #expect(ResourceUsage.v2([:]) == ResourceUsage())
        let onlyPids = ResourceUsage.v2(["pids.current": "1\n"])
        var expected = ResourceUsage()
        expected.pids = 1
        #expect(onlyPids == expected)
    }

    @Test func cpuStatWithoutAQuotaHasNoPeriods() {
        // Without cpu.max the kernel leaves out the period counters.
        let usage = ResourceUsage.v2(["cpu.stat": "usage_usec 10\nuser_usec 6\nsystem_usec 4\n"])
        #expect(usage.cpuUsageUsec == 10)
        #expect(usage.cpuPeriods == nil)
        #expect(usage.cpuThrottledPeriods == nil)
        #expect(usage.cpuThrottledUsec == nil)
    }

    @Test func pidsEventsOfNewerKernels() {
        let usage = ResourceUsage.v2(["pids.events": "max 6\nmax.imposed 2\n"])
        #expect(usage.pidsLimitHits == 6)
    }

    @Test func aGroupOOMKillCountsOnceThoughTheKernelCountsTheVictimTwice() {
        // Linux 6.1, memory.oom.group 1, three OOM kills of a one-process function: the victim was
        // counted again by the group kill twice out of three.
        let events = "low 0\nhigh 0\nmax 120\noom 3\noom_kill 5\noom_group_kill 3\n"
        #expect(ResourceUsage.v2(["memory.events": events]).oomKills == 3)
    }

    @Test func withoutGroupKillsOOMKillIsTheCount() {
        // Kernels before 5.17 have no oom_group_kill; one without memory.oom.group reads 0 there.
        #expect(ResourceUsage.v2(["memory.events": "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n"]).oomKills == 2)
        #expect(ResourceUsage.v2(["memory.events": "oom 2\noom_kill 2\noom_group_kill 0\n"]).oomKills == 2)
    }

    @Test func memoryEventsWithoutOOMKillIsUnknown() {
        #expect(ResourceUsage.v2(["memory.events": "low 0\nhigh 0\n"]).oomKills == nil)
    }
}

@Suite struct ResourceUsageV1Tests {
    @Test func everyFileIsRead() {
        let usage = ResourceUsage.v1(V1Files.all)
        #expect(usage.memoryBytes == 1_052_672)
        #expect(usage.memoryPeakBytes == 2_105_344)
        #expect(usage.memoryLimitBytes == 33_554_432)
        #expect(usage.cpuUsageUsec == 123_456_789)
        #expect(usage.cpuThrottledUsec == 4_567_891)
        #expect(usage.cpuPeriods == 300)
        #expect(usage.cpuThrottledPeriods == 120)
        #expect(usage.pids == 2)
        #expect(usage.pidsLimit == 8)
        #expect(usage.oomKills == 5)
        #expect(usage.pidsLimitHits == 9)
    }

    @Test(arguments: ["9223372036854771712\n", "9223372036854775807\n", "4611686018427387904\n"])
    func hugeLimitMeansNoLimit(_ text: String) {
        #expect(ResourceUsage.v1(["memory.limit_in_bytes": text]).memoryLimitBytes == nil)
    }

    @Test func largeRealLimitIsKept() {
        // One page below the "no limit" cut-off is still a number the operator could have set.
        #expect(ResourceUsage.v1(["memory.limit_in_bytes": "4611686018427383808\n"]).memoryLimitBytes == 4_611_686_018_427_383_808)
        #expect(ResourceUsage.v1(["memory.limit_in_bytes": "1099511627776\n"]).memoryLimitBytes == 1_099_511_627_776)
    }

    @Test func pidsMaxIsMaxWithoutALimit() {
        #expect(ResourceUsage.v1(["pids.max": "max\n"]).pidsLimit == nil)
    }

    @Test func oomControlOfOlderKernelsHasNoKillCount() {
        #expect(ResourceUsage.v1(["memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n"]).oomKills == nil)
    }

    @Test func absentFilesAreUnknown() {
        #expect(ResourceUsage.v1([:]) == ResourceUsage())
    }

    @Test func v2FileNamesMeanNothingToV1() {
        #expect(ResourceUsage.v1(["memory.current": "5\n", "memory.events": "oom_kill 3\n"]) == ResourceUsage())
    }
}

@Suite struct ResourceUsageParsingTests {
    @Test(arguments: [("123\n", 123), ("0", 0), ("  42\t\n", 42), ("7\nignored\n", 7),
                      ("max\n", nil), ("", nil), ("\n", nil), ("-", nil), ("12 34\n", nil)] as [(String, Int64?)])
    func number(_ text: String, _ value: Int64?) {
        #expect(ResourceUsage.number(text) == value)
    }

    @Test func keyValuesSkipsLinesThatAreNotKeyAndNumber() {
        let values = ResourceUsage.keyValues("a 1\nb two\nc 3 4\nd\n\ne -5\n")
        #expect(values == ["a": 1, "e": -5])
    }

    @Test func keyValuesOfTheRealOOMControlFile() {
        #expect(ResourceUsage.keyValues(V1Files.oomControl) == ["oom_kill_disable": 0, "under_oom": 0, "oom_kill": 5])
    }
}

@Suite struct ResourceUsageSumTests {
    @Test func countersAddAndPeaksAndLimitsTakeTheLarger() {
        let a = ResourceUsage.v2(V2Files.all)
        var b = ResourceUsage()
        b.memoryBytes = 1000
        b.memoryPeakBytes = 70_000_000
        b.memoryLimitBytes = 1
        b.cpuUsageUsec = 9
        b.cpuThrottledUsec = 1
        b.cpuPeriods = 10
        b.cpuThrottledPeriods = 5
        b.pids = 2
        b.pidsLimit = 64
        b.oomKills = 1
        b.pidsLimitHits = 0
        let total = a.adding(b)
        #expect(total.memoryBytes == 52_429_800)
        #expect(total.memoryPeakBytes == 70_000_000)
        #expect(total.memoryLimitBytes == 67_108_864)
        #expect(total.cpuUsageUsec == 8_391_736)
        #expect(total.cpuThrottledUsec == 3_500_124)
        #expect(total.cpuPeriods == 1210)
        #expect(total.cpuThrottledPeriods == 705)
        #expect(total.pids == 5)
        #expect(total.pidsLimit == 64)
        #expect(total.oomKills == 2)
        #expect(total.pidsLimitHits == 4)
    }

    @Test func unknownPlusUnknownStaysUnknown() {
        #expect(ResourceUsage().adding(ResourceUsage()) == ResourceUsage())
    }

    @Test func unknownPlusKnownIsTheKnown() {
        let known = ResourceUsage.v1(V1Files.all)
        #expect(ResourceUsage().adding(known) == known)
        #expect(known.adding(ResourceUsage()) == known)
    }

    @Test func addingIsTheSameEitherWay() {
        let a = ResourceUsage.v2(V2Files.all)
        let b = ResourceUsage.v1(V1Files.all)
        #expect(a.adding(b) == b.adding(a))
    }
}

@Suite struct ResourceUsageJSONTests {
    @Test func knownCountersAreWritten() throws {
        let json = ResourceUsage.v2(V2Files.all).json
        let members = try #require(json.objectValue)
        #expect(members["memoryBytes"] == .int(52_428_800))
        #expect(members["memoryPeakBytes"] == .int(60_817_408))
        #expect(members["memoryLimitBytes"] == .int(67_108_864))
        #expect(members["cpuUsageUsec"] == .int(8_391_727))
        #expect(members["cpuThrottledUsec"] == .int(3_500_123))
        #expect(members["cpuThrottledPeriods"] == .int(700))
        #expect(members["pids"] == .int(3))
        #expect(members["pidsLimit"] == .int(32))
        #expect(members["oomKills"] == .int(1))
        #expect(members["pidsLimitHits"] == .int(4))
    }

    @Test func unknownCountersAreLeftOut() {
        #expect(ResourceUsage().json == .object([:]))
        var usage = ResourceUsage()
        usage.pids = 0
        #expect(usage.json == .object(["pids": .int(0)]))
    }
}
