import Testing
@testable import EdgeCore

/// Function `a` of a deployment to thing t1, built from the minimal python function with `fields` over it.
private func deployedSpec(_ fields: [String: JSONValue] = [:]) throws -> FunctionSpec {
    let deployment = try DeploymentParser.parse(document(functions: ["a": function(fields)]), thing: "t1").get()
    return try #require(deployment.functions["a"])
}

private func overrides(_ desired: String) -> ShadowOverrides {
    ShadowOverrides(desired: members(desired))
}

// MARK: - Reading the classic shadow's desired section

@Suite struct ShadowOverridesParseTests {
    @Test func everyKeyIsRead() throws {
        let read = overrides("""
            {"agent": {"logLevel": "debug", "healthIntervalSeconds": 30},
             "functions": {"a": {"enabled": false, "config": {"threshold": 0.5, "labels": ["x"]},
                                 "limits": {"memoryMB": 64, "cpus": 0.5, "pids": 10, "openFiles": 256, "fileSizeMB": 5, "cpuSeconds": 60}},
                           "b": {"enabled": true}},
             "color": "red"}
            """)
        #expect(read.problems == [:])
        #expect(read.logLevel == .debug)
        #expect(read.healthIntervalSeconds == 30)
        #expect(read.functions.keys.sorted() == ["a", "b"])
        let a = try #require(read.functions["a"])
        #expect(a.enabled == false)
        #expect(a.config == members(#"{"threshold": 0.5, "labels": ["x"]}"#))
        #expect(a.limits == ResourceLimits(memoryMB: 64, cpus: 0.5, pids: 10, openFiles: 256, fileSizeMB: 5, cpuSeconds: 60))
        let b = try #require(read.functions["b"])
        #expect(b.enabled == true)
        #expect(b.config.isEmpty)
        #expect(b.limits == ResourceLimits())
    }

    @Test(arguments: ["debug", "info", "warning", "error"])
    func logLevels(_ name: String) {
        let read = overrides(#"{"agent": {"logLevel": "\#(name)"}}"#)
        #expect(read.logLevel?.name == name)
        #expect(read.problems == [:])
    }

    @Test(arguments: [1, 60, 86_400] as [Int])
    func healthIntervalRange(_ seconds: Int) {
        #expect(overrides(#"{"agent": {"healthIntervalSeconds": \#(seconds)}}"#).healthIntervalSeconds == seconds)
    }

    @Test func nothingToRead() {
        #expect(ShadowOverrides(desired: nil) == ShadowOverrides())
        #expect(overrides("{}") == ShadowOverrides())
        #expect(overrides(#"{"color": "red", "lights": {"on": true}, "Agent": 5, "function": []}"#) == ShadowOverrides())
        #expect(overrides(#"{"agent": {}, "functions": {}}"#) == ShadowOverrides())
    }

    @Test(arguments: [
        (#"{"agent": "x"}"#, "agent", #"must be an object, not string (got "x")"#),
        (#"{"agent": [1]}"#, "agent", "must be an object, not array (got [1])"),
        (#"{"agent": {"logLevel": "verbose"}}"#, "agent.logLevel",
         #"must be one of: "debug", "info", "warning", "error" (got "verbose")"#),
        (#"{"agent": {"logLevel": "DEBUG"}}"#, "agent.logLevel",
         #"must be one of: "debug", "info", "warning", "error" (got "DEBUG")"#),
        (#"{"agent": {"logLevel": 3}}"#, "agent.logLevel", "must be a string, not number (got 3)"),
        (#"{"agent": {"logLevel": ""}}"#, "agent.logLevel", #"cannot be empty (got "")"#),
        (#"{"agent": {"healthIntervalSeconds": 0}}"#, "agent.healthIntervalSeconds",
         "is out of range; use a value between 1 and 86400 (got 0)"),
        (#"{"agent": {"healthIntervalSeconds": 86401}}"#, "agent.healthIntervalSeconds",
         "is out of range; use a value between 1 and 86400 (got 86401)"),
        (#"{"agent": {"healthIntervalSeconds": 1.5}}"#, "agent.healthIntervalSeconds",
         "must be a whole number between 1 and 86400 (got 1.5)"),
        (#"{"agent": {"healthIntervalSeconds": "30"}}"#, "agent.healthIntervalSeconds",
         #"must be a whole number between 1 and 86400 (got "30")"#),
        (#"{"agent": {"color": 1}}"#, "agent.color", "unknown field; allowed here: logLevel, healthIntervalSeconds"),
        (#"{"functions": []}"#, "functions", "must be an object, not array (got [])"),
        (#"{"functions": "a"}"#, "functions", #"must be an object, not string (got "a")"#),
        (#"{"functions": {"a": 5}}"#, "functions.a", "must be an object, not number (got 5)"),
        (#"{"functions": {"a": {"enabled": "yes"}}}"#, "functions.a.enabled", #"must be true or false, not string (got "yes")"#),
        (#"{"functions": {"a": {"enabled": 1}}}"#, "functions.a.enabled", "must be true or false, not number (got 1)"),
        (#"{"functions": {"a": {"config": [1]}}}"#, "functions.a.config", "must be an object, not array (got [1])"),
        (#"{"functions": {"a": {"limits": 5}}}"#, "functions.a.limits", "must be an object, not number (got 5)"),
        (#"{"functions": {"a": {"limits": {"memoryMB": 8}}}}"#, "functions.a.limits.memoryMB",
         "is out of range; use a value between 16 and 1048576 (got 8)"),
        (#"{"functions": {"a": {"limits": {"pids": "many"}}}}"#, "functions.a.limits.pids",
         #"must be a whole number between 1 and 65536 (got "many")"#),
        (#"{"functions": {"a": {"limits": {"disk": 1}}}}"#, "functions.a.limits.disk",
         "unknown field; allowed here: memoryMB, cpus, pids, openFiles, fileSizeMB, cpuSeconds, publishPerSecond, publishKBPerSecond"),
        (#"{"functions": {"a": {"restart": true}}}"#, "functions.a.restart", "unknown field; allowed here: enabled, config, limits"),
    ])
    func aBadValueIsAProblemAtItsPath(_ desired: String, _ path: String, _ problem: String) {
        #expect(overrides(desired).problems == [path: problem])
    }

    @Test func goodValuesAreKeptBesideProblems() throws {
        let read = overrides("""
            {"agent": {"logLevel": "info", "healthIntervalSeconds": -5, "x": 1},
             "functions": {"a": {"enabled": true, "config": 3, "limits": {"memoryMB": 8, "pids": 10}}, "b": 3}}
            """)
        #expect(read.logLevel == .info)
        #expect(read.healthIntervalSeconds == nil)
        #expect(read.functions.keys.sorted() == ["a"])
        let a = try #require(read.functions["a"])
        #expect(a.enabled == true)
        #expect(a.config.isEmpty)
        #expect(a.limits == ResourceLimits(pids: 10))
        #expect(read.problems.keys.sorted() == [
            "agent.healthIntervalSeconds", "agent.x", "functions.a.config", "functions.a.limits.memoryMB", "functions.b",
        ])
    }
}

// MARK: - Applying overrides to a deployed function

@Suite struct ShadowOverridesApplyTests {
    static let deployedLimits: JSONValue = ["memoryMB": 256, "cpus": 1, "pids": 100, "openFiles": 1024, "fileSizeMB": 100, "cpuSeconds": 60]

    @Test func enabledConfigAndLimitsAreApplied() throws {
        let spec = try deployedSpec(["config": ["threshold": 0.8, "labels": ["a"]], "limits": Self.deployedLimits])
        let read = overrides("""
            {"functions": {"a": {"enabled": false, "config": {"threshold": 0.5, "extra": true}, "limits": {"memoryMB": 128, "cpus": 0.5}}}}
            """)
        let (result, problems) = read.apply(to: spec, ceiling: spec.limits)
        #expect(problems == [:])
        #expect(result.enabled == false)
        #expect(result.config == members(#"{"threshold": 0.5, "labels": ["a"], "extra": true}"#))
        #expect(result.limits == ResourceLimits(memoryMB: 128, cpus: 0.5, pids: 100, openFiles: 1024, fileSizeMB: 100, cpuSeconds: 60))
        // Nothing else changes.
        var expected = spec
        expected.enabled = false
        expected.config = result.config
        expected.limits = result.limits
        #expect(result == expected)
    }

    @Test func aFunctionWithoutOverridesIsUnchanged() throws {
        let spec = try deployedSpec(["config": ["k": 1]])
        #expect(ShadowOverrides().apply(to: spec, ceiling: ResourceLimits()) == (spec, [:]))
        let (result, problems) = overrides(#"{"functions": {"b": {"enabled": false}}}"#).apply(to: spec, ceiling: ResourceLimits())
        #expect(result == spec)
        #expect(problems == [:])
    }

    @Test func enabledLeftOutKeepsTheSpecs() throws {
        let spec = try deployedSpec()
        #expect(spec.enabled)
        let (result, problems) = overrides(#"{"functions": {"a": {"config": {"k": 2}}}}"#).apply(to: spec, ceiling: spec.limits)
        #expect(result.enabled)
        #expect(result.config == ["k": 2])
        #expect(problems == [:])
    }

    struct LimitCase: Sendable, CustomTestStringConvertible {
        var field: String
        var wanted: JSONValue
        var ceiling: ResourceLimits
        /// The limits after applying (the spec's limits are the ceiling).
        var result: ResourceLimits
        /// The ceiling's value as the problem quotes it, when the wanted value is above it.
        var allowed: String? = nil
        var testDescription: String { "\(field) \(wanted.excerpt())" }
    }

    @Test(arguments: [
        LimitCase(field: "memoryMB", wanted: 100, ceiling: ResourceLimits(memoryMB: 128), result: ResourceLimits(memoryMB: 100)),
        LimitCase(field: "memoryMB", wanted: 128, ceiling: ResourceLimits(memoryMB: 128), result: ResourceLimits(memoryMB: 128)),
        LimitCase(field: "memoryMB", wanted: 129, ceiling: ResourceLimits(memoryMB: 128), result: ResourceLimits(memoryMB: 128),
                  allowed: "128"),
        LimitCase(field: "cpus", wanted: 0.5, ceiling: ResourceLimits(cpus: 1), result: ResourceLimits(cpus: 0.5)),
        LimitCase(field: "cpus", wanted: 1.5, ceiling: ResourceLimits(cpus: 1), result: ResourceLimits(cpus: 1), allowed: "1.0"),
        LimitCase(field: "pids", wanted: 64, ceiling: ResourceLimits(pids: 64), result: ResourceLimits(pids: 64)),
        LimitCase(field: "pids", wanted: 65, ceiling: ResourceLimits(pids: 64), result: ResourceLimits(pids: 64), allowed: "64"),
        LimitCase(field: "openFiles", wanted: 2048, ceiling: ResourceLimits(openFiles: 1024), result: ResourceLimits(openFiles: 1024),
                  allowed: "1024"),
        LimitCase(field: "openFiles", wanted: 512, ceiling: ResourceLimits(openFiles: 1024), result: ResourceLimits(openFiles: 512)),
        LimitCase(field: "fileSizeMB", wanted: 10, ceiling: ResourceLimits(fileSizeMB: 100), result: ResourceLimits(fileSizeMB: 10)),
        LimitCase(field: "fileSizeMB", wanted: 101, ceiling: ResourceLimits(fileSizeMB: 100), result: ResourceLimits(fileSizeMB: 100),
                  allowed: "100"),
        LimitCase(field: "cpuSeconds", wanted: 61, ceiling: ResourceLimits(cpuSeconds: 60), result: ResourceLimits(cpuSeconds: 60),
                  allowed: "60"),
        // No ceiling means no cap to stay under.
        LimitCase(field: "cpuSeconds", wanted: 10, ceiling: ResourceLimits(), result: ResourceLimits(cpuSeconds: 10)),
        LimitCase(field: "memoryMB", wanted: 4096, ceiling: ResourceLimits(cpus: 1), result: ResourceLimits(memoryMB: 4096, cpus: 1)),
    ])
    func aLimitIsAppliedOnlyWhenNotAboveTheCeiling(_ c: LimitCase) throws {
        var spec = try deployedSpec()
        spec.limits = c.ceiling
        let read = ShadowOverrides(desired: ["functions": ["a": ["limits": .object([c.field: c.wanted])]]])
        #expect(read.problems == [:])
        let (result, problems) = read.apply(to: spec, ceiling: c.ceiling)
        #expect(result.limits == c.result)
        if let allowed = c.allowed {
            #expect(problems == ["functions.a.limits.\(c.field)":
                "is above what the deployment allows (\(allowed)); a shadow may only lower a limit"])
        } else {
            #expect(problems == [:])
        }
    }

    @Test func limitsWithinTheCeilingApplyEvenWhenOthersAreAbove() throws {
        let spec = try deployedSpec(["limits": Self.deployedLimits])
        let read = overrides(#"{"functions": {"a": {"limits": {"memoryMB": 512, "cpus": 0.25, "pids": 200, "openFiles": 64}}}}"#)
        let (result, problems) = read.apply(to: spec, ceiling: spec.limits)
        #expect(result.limits == ResourceLimits(memoryMB: 256, cpus: 0.25, pids: 100, openFiles: 64, fileSizeMB: 100, cpuSeconds: 60))
        #expect(problems == [
            "functions.a.limits.memoryMB": "is above what the deployment allows (256); a shadow may only lower a limit",
            "functions.a.limits.pids": "is above what the deployment allows (100); a shadow may only lower a limit",
        ])
    }

    @Test func unknownFunctionsAreProblems() {
        let read = overrides(#"{"functions": {"a": {"enabled": false}, "b": {"enabled": true}, "c": {}}}"#)
        #expect(read.unknownFunctions(deployed: ["a", "b", "c", "d"]) == [:])
        #expect(read.unknownFunctions(deployed: ["a"]) == [
            "functions.b": "no function named b is deployed on this thing; deploy it first, or remove the key with null",
            "functions.c": "no function named c is deployed on this thing; deploy it first, or remove the key with null",
        ])
        #expect(ShadowOverrides().unknownFunctions(deployed: []) == [:])
    }
}
