import Testing
@testable import EdgeCore

/// The error `load` throws, or nil when it succeeds.
private func capsError(file: JSONValue? = nil, _ arguments: [String] = []) -> ConfigurationError? {
    do {
        _ = try ConfigurationLoader.load(file: file, arguments: arguments)
        return nil
    } catch {
        return error
    }
}

private func capsLoad(file: JSONValue? = nil, _ arguments: [String] = []) throws -> AgentConfiguration {
    try ConfigurationLoader.load(file: file, arguments: arguments)
}

/// A config file naming thing `d`, with `set` added at the top level.
private func file(_ set: [String: JSONValue]) -> JSONValue {
    var members: [String: JSONValue] = ["thingName": "d"]
    for (key, value) in set { members[key] = value }
    return .object(members)
}

@Suite struct ConfigurationCapsDefaultsTests {
    @Test func defaultsWithoutAnyCapsSetting() throws {
        let config = try capsLoad(["--thing-name", "d"])
        #expect(config.functionUser == nil)
        #expect(config.allowRootFunctions == false)
        #expect(config.defaultLimits == ResourceLimits())
        #expect(config.cgroupMode == .auto)
        #expect(config.cgroupRoot == nil)
        #expect(config.allowUncapped == false)
    }

    @Test func emptyObjectsChangeNothing() throws {
        let config = try capsLoad(file: file(["functions": [:], "cgroups": [:]]))
        #expect(config == (try capsLoad(["--thing-name", "d"])))
    }
}

@Suite struct ConfigurationCapsFileTests {
    @Test func everyCapsSettingFromTheFile() throws {
        let config = try capsLoad(file: file([
            "functions": ["user": "edgefn", "allowRoot": true,
                          "limits": ["memoryMB": 128, "cpus": 0.5, "pids": 64, "openFiles": 1024, "fileSizeMB": 50, "cpuSeconds": 300]],
            "cgroups": ["mode": "v1", "root": "/edge", "allowUncapped": true],
        ]))
        #expect(config.functionUser == "edgefn")
        #expect(config.allowRootFunctions)
        #expect(config.defaultLimits == ResourceLimits(memoryMB: 128, cpus: 0.5, pids: 64, openFiles: 1024, fileSizeMB: 50, cpuSeconds: 300))
        #expect(config.cgroupMode == .v1)
        #expect(config.cgroupRoot == "/edge")
        #expect(config.allowUncapped)
    }

    @Test func falseFlagsInTheFileStayFalse() throws {
        let config = try capsLoad(file: file(["functions": ["allowRoot": false], "cgroups": ["allowUncapped": false]]))
        #expect(!config.allowRootFunctions)
        #expect(!config.allowUncapped)
    }

    @Test(arguments: CgroupMode.allCases)
    func everyModeByName(_ mode: CgroupMode) throws {
        #expect(try capsLoad(file: file(["cgroups": ["mode": .string(mode.rawValue)]])).cgroupMode == mode)
        #expect(try capsLoad(["--thing-name", "d", "--cgroups", mode.rawValue]).cgroupMode == mode)
    }

    @Test func someLimitsLeaveTheOthersUnset() throws {
        let config = try capsLoad(file: file(["functions": ["limits": ["memoryMB": 64]]]))
        #expect(config.defaultLimits == ResourceLimits(memoryMB: 64))
    }

    @Test(arguments: ["edge-agent", "/edge-agent", "/", "a/b", "/system.slice/edge.service", "edge/agent/"])
    func validCgroupRoots(_ root: String) throws {
        #expect(try capsLoad(file: file(["cgroups": ["root": .string(root)]])).cgroupRoot == root)
        #expect(try capsLoad(["--thing-name", "d", "--cgroup-root", root]).cgroupRoot == root)
    }
}

@Suite struct ConfigurationCapsFlagTests {
    @Test func everyCapsFlag() throws {
        let config = try capsLoad(["--thing-name", "d", "--function-user", "svc_fn", "--allow-root-functions",
                                   "--cgroups", "v2", "--cgroup-root", "edge", "--allow-uncapped"])
        #expect(config.functionUser == "svc_fn")
        #expect(config.allowRootFunctions)
        #expect(config.cgroupMode == .v2)
        #expect(config.cgroupRoot == "edge")
        #expect(config.allowUncapped)
    }

    @Test func flagsOverrideTheFile() throws {
        let config = try capsLoad(file: file([
            "functions": ["user": "fromfile", "allowRoot": false],
            "cgroups": ["mode": "v1", "root": "/file", "allowUncapped": false],
        ]), ["--function-user", "fromflag", "--allow-root-functions", "--cgroups", "off", "--cgroup-root", "flag",
             "--allow-uncapped"])
        #expect(config.functionUser == "fromflag")
        #expect(config.allowRootFunctions)
        #expect(config.cgroupMode == .off)
        #expect(config.cgroupRoot == "flag")
        #expect(config.allowUncapped)
    }

    @Test func fileValuesStayWithoutFlags() throws {
        let config = try capsLoad(file: file([
            "functions": ["user": "fromfile", "allowRoot": true],
            "cgroups": ["mode": "v2", "root": "x", "allowUncapped": true],
        ]), ["--log-level", "debug"])
        #expect(config.functionUser == "fromfile")
        #expect(config.allowRootFunctions)
        #expect(config.cgroupMode == .v2)
        #expect(config.cgroupRoot == "x")
        #expect(config.allowUncapped)
    }

    @Test(arguments: ["--function-user", "--cgroups", "--cgroup-root"])
    func valueFlagsNeedAValue(_ flag: String) {
        #expect(capsError(["--thing-name", "d", flag])?.setting == flag)
        #expect(capsError([flag, "--allow-uncapped", "--thing-name", "d"])?.setting == flag)
    }

    @Test(arguments: ["--allow-root-functions", "--allow-uncapped"])
    func switchesTakeNoValue(_ flag: String) {
        // The word after a switch is the next flag, not its value.
        let error = capsError(["--thing-name", "d", flag, "true"])
        #expect(error?.setting == "true")
        #expect(error?.message.hasPrefix("unknown option") == true)
    }

    @Test func usageListsTheCapsFlags() {
        for flag in ["--function-user", "--allow-root-functions", "--cgroups", "--cgroup-root", "--allow-uncapped"] {
            #expect(ConfigurationLoader.usage.contains(flag), "\(flag)")
        }
    }
}

@Suite struct ConfigurationCapsErrorTests {
    @Test(arguments: ["V2", "cgroup2", "on", "hybrid"])
    func badModeNamesTheSetting(_ mode: String) {
        let expected = ConfigurationError(setting: "cgroups.mode", message: "'\(mode)' is not a mode; use auto, v2, v1 or off")
        #expect(capsError(file: file(["cgroups": ["mode": .string(mode)]])) == expected)
        #expect(capsError(["--thing-name", "d", "--cgroups", mode]) == expected)
    }

    @Test(arguments: ["..", "../escape", "/a/../b", "a/..", ".", "./a", "/a/./b", "//", ""])
    func badRootNamesTheSetting(_ root: String) {
        let error = capsError(["--thing-name", "d", "--cgroup-root", root])
        #expect(error?.setting == "cgroups.root")
        #expect(error?.message.contains("without '.' or '..'") == true)
    }

    @Test func rootWithDotDotInTheFile() {
        let error = capsError(file: file(["cgroups": ["root": "edge/../../x"]]))
        #expect(error == ConfigurationError(
            setting: "cgroups.root",
            message: "'edge/../../x' must be a cgroup path without '.' or '..', for example edge-agent or /edge-agent"))
    }

    @Test func emptyRootInTheFile() {
        #expect(capsError(file: file(["cgroups": ["root": ""]]))?.setting == "cgroups.root")
    }

    @Test(arguments: [
        ("memoryMB", JSONValue.int(8), "is out of range; use a value between 16 and 1048576 (got 8)"),
        ("memoryMB", .int(2_000_000), "is out of range; use a value between 16 and 1048576 (got 2000000)"),
        ("cpus", .double(0.001), "is out of range; use a value between 0.01 and 1024.0 (got 0.001)"),
        ("pids", .int(0), "is out of range; use a value between 1 and 65536 (got 0)"),
        ("openFiles", .int(8), "is out of range; use a value between 16 and 1048576 (got 8)"),
        ("fileSizeMB", .int(0), "is out of range; use a value between 1 and 1048576 (got 0)"),
        ("cpuSeconds", .int(86_401), "is out of range; use a value between 1 and 86400 (got 86401)"),
        ("memoryMB", .string("64"), "must be a whole number between 16 and 1048576 (got \"64\")"),
    ] as [(String, JSONValue, String)])
    func badDefaultLimitNamesTheSetting(_ key: String, _ value: JSONValue, _ message: String) {
        #expect(capsError(file: file(["functions": ["limits": .object([key: value])]]))
            == ConfigurationError(setting: "functions.limits.\(key)", message: message))
    }

    @Test func limitsMustBeAnObject() {
        #expect(capsError(file: file(["functions": ["limits": 64]]))?.setting == "functions.limits")
    }

    @Test func unknownLimitNamesTheSetting() {
        let error = capsError(file: file(["functions": ["limits": ["memoryMb": 64]]]))
        #expect(error?.setting == "functions.limits.memoryMb")
        #expect(error?.message.contains("memoryMB") == true)
    }

    @Test(arguments: [
        (JSONValue.object(["functions": ["users": "x"]]), "functions.users", "user, uids, allowRoot, limits"),
        (["functions": ["cgroups": [:]]], "functions.cgroups", "user, uids, allowRoot, limits"),
        (["cgroups": ["version": "v2"]], "cgroups.version", "mode, root, allowUncapped"),
        (["cgroups": ["allowUnCapped": true]], "cgroups.allowUnCapped", "mode, root, allowUncapped"),
    ] as [(JSONValue, String, String)])
    func unknownKeysNameTheSetting(_ set: JSONValue, _ setting: String, _ known: String) {
        let error = capsError(file: file(set.objectValue ?? [:]))
        #expect(error == ConfigurationError(setting: setting, message: "unknown setting; known here: \(known)"))
    }

    @Test(arguments: [JSONValue.string("true"), 1, .null, ["yes"]])
    func nonBoolAllowRootNamesTheSetting(_ value: JSONValue) {
        let error = capsError(file: file(["functions": ["allowRoot": value]]))
        #expect(error?.setting == "functions.allowRoot")
        #expect(error?.message.hasPrefix("must be true or false") == true)
    }

    @Test(arguments: [JSONValue.string("false"), 0])
    func nonBoolAllowUncappedNamesTheSetting(_ value: JSONValue) {
        #expect(capsError(file: file(["cgroups": ["allowUncapped": value]]))?.setting == "cgroups.allowUncapped")
    }

    @Test(arguments: [
        (JSONValue.object(["functions": "edgefn"]), "functions"),
        (["functions": ["edgefn"]], "functions"),
        (["cgroups": "v2"], "cgroups"),
        (["cgroups": true], "cgroups"),
        (["functions": ["user": 1000]], "functions.user"),
        (["functions": ["user": ""]], "functions.user"),
        (["cgroups": ["mode": 2]], "cgroups.mode"),
        (["cgroups": ["root": ["/a"]]], "cgroups.root"),
    ] as [(JSONValue, String)])
    func wrongTypesNameTheSetting(_ set: JSONValue, _ setting: String) {
        #expect(capsError(file: file(set.objectValue ?? [:]))?.setting == setting)
    }

    @Test(arguments: ["bad user", "a/b", "root:x", String(repeating: "u", count: 33)])
    func badFunctionUserNamesTheSetting(_ user: String) {
        #expect(capsError(["--thing-name", "d", "--function-user", user])?.setting == "functions.user")
        #expect(capsError(file: file(["functions": ["user": .string(user)]]))?.setting == "functions.user")
    }

    @Test(arguments: ["edgefn", "svc_fn-1.x", String(repeating: "u", count: 32)])
    func validFunctionUsers(_ user: String) throws {
        #expect(try capsLoad(["--thing-name", "d", "--function-user", user]).functionUser == user)
    }
}
