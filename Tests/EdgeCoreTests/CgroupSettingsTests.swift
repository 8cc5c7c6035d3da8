import Testing
@testable import EdgeCore

@Suite struct CgroupSettingsTests {
    @Test func v2WritesEveryLimitInOrder() {
        let writes = CgroupSettings.v2(ResourceLimits(memoryMB: 64, cpus: 0.25, pids: 32))
        #expect(writes == [
            CgroupWrite("memory", "memory.max", "67108864"),
            CgroupWrite("memory", "memory.swap.max", "0", optional: true),
            CgroupWrite("memory", "memory.oom.group", "1", optional: true),
            CgroupWrite("cpu", "cpu.max", "25000 100000"),
            CgroupWrite("pids", "pids.max", "32"),
        ])
    }

    @Test func v1WritesEveryLimitInOrder() {
        let writes = CgroupSettings.v1(ResourceLimits(memoryMB: 64, cpus: 0.25, pids: 32))
        #expect(writes == [
            CgroupWrite("memory", "memory.limit_in_bytes", "67108864"),
            CgroupWrite("memory", "memory.memsw.limit_in_bytes", "67108864", optional: true),
            CgroupWrite("memory", "memory.swappiness", "0", optional: true),
            CgroupWrite("cpu", "cpu.cfs_period_us", "100000"),
            CgroupWrite("cpu", "cpu.cfs_quota_us", "25000"),
            CgroupWrite("pids", "pids.max", "32"),
        ])
    }

    @Test func v1MemswComesAfterTheMemoryLimit() throws {
        let files = CgroupSettings.v1(ResourceLimits(memoryMB: 16)).map(\.file)
        let limit = try #require(files.firstIndex(of: "memory.limit_in_bytes"))
        let memsw = try #require(files.firstIndex(of: "memory.memsw.limit_in_bytes"))
        #expect(limit < memsw)
    }

    @Test(arguments: [(16, "16777216"), (1024, "1073741824"), (1_048_576, "1099511627776")])
    func memoryIsWrittenInBytes(_ megabytes: Int, _ bytes: String) {
        #expect(CgroupSettings.v2(ResourceLimits(memoryMB: megabytes)).first == CgroupWrite("memory", "memory.max", bytes))
        #expect(CgroupSettings.v1(ResourceLimits(memoryMB: megabytes)).first == CgroupWrite("memory", "memory.limit_in_bytes", bytes))
    }

    @Test func onlyTheSwapAndOOMGroupWritesAreOptional() {
        let optional = CgroupSettings.v2(ResourceLimits(memoryMB: 64, cpus: 1, pids: 1)).filter(\.optional).map(\.file)
        #expect(optional == ["memory.swap.max", "memory.oom.group"])
        let optionalV1 = CgroupSettings.v1(ResourceLimits(memoryMB: 64, cpus: 1, pids: 1)).filter(\.optional).map(\.file)
        #expect(optionalV1 == ["memory.memsw.limit_in_bytes", "memory.swappiness"])
    }

    @Test(arguments: [(0.25, 25_000), (0.01, 1000), (0.5, 50_000), (1.0, 100_000), (2.5, 250_000), (1024.0, 102_400_000),
                      (0.333, 33_300), (0.123456, 12_346)])
    func cpuQuota(_ cpus: Double, _ quota: Int) {
        #expect(CgroupSettings.cpuQuotaUsec(cpus) == quota)
    }

    @Test(arguments: [0.005, 0.001, 0.0])
    func cpuQuotaNeverGoesBelowTheKernelMinimum(_ cpus: Double) {
        #expect(CgroupSettings.cpuQuotaUsec(cpus) == 1000)
    }

    @Test func cpuMaxForSeveralCores() {
        #expect(CgroupSettings.v2(ResourceLimits(cpus: 3)) == [CgroupWrite("cpu", "cpu.max", "300000 100000")])
        #expect(CgroupSettings.v1(ResourceLimits(cpus: 3)).map(\.value) == ["100000", "300000"])
    }

    @Test func rlimitOnlyLimitsWriteNothing() {
        let limits = ResourceLimits(openFiles: 64, fileSizeMB: 1, cpuSeconds: 10)
        #expect(CgroupSettings.v2(limits).isEmpty)
        #expect(CgroupSettings.v1(limits).isEmpty)
    }

    @Test func everyWriteNamesALimitController() {
        let limits = ResourceLimits(memoryMB: 64, cpus: 1, pids: 1)
        for write in CgroupSettings.v2(limits) + CgroupSettings.v1(limits) {
            #expect(["memory", "cpu", "pids"].contains(write.controller), "\(write.file)")
            #expect(write.file.hasPrefix(write.controller + "."), "\(write.file)")
        }
    }

    @Test func pidsOnly() {
        #expect(CgroupSettings.v2(ResourceLimits(pids: 1)) == [CgroupWrite("pids", "pids.max", "1")])
        #expect(CgroupSettings.v1(ResourceLimits(pids: 65_536)) == [CgroupWrite("pids", "pids.max", "65536")])
    }
}
