import Testing
@testable import EdgeCore

@Suite struct ResourceLimitsTests {
    static let everyField = ResourceLimits(memoryMB: 64, cpus: 0.5, pids: 32, openFiles: 256, fileSizeMB: 10, cpuSeconds: 60,
                                           publishPerSecond: 200, publishKBPerSecond: 512)

    @Test func unsetFieldsComeFromTheDefaults() {
        let defaults = ResourceLimits(memoryMB: 128, cpus: 1, pids: 64, openFiles: 1024, fileSizeMB: 100, cpuSeconds: 600)
        #expect(ResourceLimits().over(defaults) == defaults)
    }

    @Test func setFieldsAreKeptOverTheDefaults() {
        let defaults = ResourceLimits(memoryMB: 128, cpus: 1, pids: 64, openFiles: 1024, fileSizeMB: 100, cpuSeconds: 600)
        #expect(Self.everyField.over(defaults) == Self.everyField)
    }

    @Test func eachFieldIsFilledOnItsOwn() {
        let own = ResourceLimits(memoryMB: 64, pids: 8, fileSizeMB: 5)
        let defaults = ResourceLimits(memoryMB: 512, cpus: 0.25, pids: 100, openFiles: 64, cpuSeconds: 30)
        #expect(own.over(defaults) == ResourceLimits(memoryMB: 64, cpus: 0.25, pids: 8, openFiles: 64, fileSizeMB: 5, cpuSeconds: 30))
    }

    @Test func noDefaultsLeavesTheLimitsAsTheyAre() {
        let own = ResourceLimits(cpus: 2, openFiles: 32)
        #expect(own.over(ResourceLimits()) == own)
        #expect(ResourceLimits().over(ResourceLimits()).isEmpty)
    }

    @Test func isEmptyOnlyWithNothingSet() {
        #expect(ResourceLimits().isEmpty)
        #expect(!ResourceLimits(cpuSeconds: 1).isEmpty)
        #expect(!ResourceLimits(openFiles: 16).isEmpty)
    }

    @Test func cgroupDemandsNameFieldAndControllerInOrder() {
        let demands = Self.everyField.cgroupDemands
        #expect(demands.map(\.field) == ["memoryMB", "cpus", "pids"])
        #expect(demands.map(\.controller) == ["memory", "cpu", "pids"])
    }

    @Test func rlimitOnlyFieldsDemandNoController() {
        #expect(ResourceLimits(openFiles: 64, fileSizeMB: 1, cpuSeconds: 5).cgroupDemands.isEmpty)
        #expect(ResourceLimits().cgroupDemands.isEmpty)
    }

    @Test func cgroupDemandsOfOneField() {
        let demands = ResourceLimits(pids: 4).cgroupDemands
        #expect(demands.count == 1)
        #expect(demands.first?.field == "pids")
        #expect(demands.first?.controller == "pids")
        #expect(ResourceLimits(cpus: 0.1).cgroupDemands.map(\.controller) == ["cpu"])
    }

    @Test func jsonHoldsEveryFieldWithItsType() {
        #expect(Self.everyField.json == .object([
            "memoryMB": .int(64), "cpus": .double(0.5), "pids": .int(32),
            "openFiles": .int(256), "fileSizeMB": .int(10), "cpuSeconds": .int(60),
            "publishPerSecond": .int(200), "publishKBPerSecond": .int(512),
        ]))
    }

    @Test func jsonLeavesOutUnsetFields() {
        #expect(ResourceLimits().json == .object([:]))
        #expect(ResourceLimits(cpus: 2, cpuSeconds: 9).json == .object(["cpus": .double(2), "cpuSeconds": .int(9)]))
    }

    @Test func fieldsListMatchesWhatTheParserKnows() {
        #expect(ResourceLimits.fields == ["memoryMB", "cpus", "pids", "openFiles", "fileSizeMB", "cpuSeconds",
                                          "publishPerSecond", "publishKBPerSecond"])
    }

    @Test func parsedLimitsRoundTripThroughJSON() throws {
        let parsed = try #require(spec(function(["limits": Self.everyField.json])))
        #expect(parsed.limits == Self.everyField)
    }
}
