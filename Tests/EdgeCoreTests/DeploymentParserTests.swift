import Testing
@testable import EdgeCore

// MARK: - The document as a whole

@Suite struct DocumentTopLevelTests {
    @Test func minimalDocumentIsAcceptedWithDefaults() throws {
        let result = try #require(deployment(document()))
        #expect(result.deploymentId == "dep-1")
        #expect(result.revision == 1)
        #expect(result.policy == DeploymentPolicy(onFailure: .rollback, healthySeconds: 5))
        let a = try #require(result.functions["a"])
        #expect(a.name == "a")
        #expect(a.version == "1.0.0")
        #expect(a.entry == .python(handler: "main.handler"))
        #expect(a.artifacts.isEmpty)
        #expect(a.lifecycle == .longLived)
        #expect(a.concurrency == 1)
        #expect(a.timeoutMs == 3000)
        #expect(a.startTimeoutMs == 30_000)
        #expect(a.stopTimeoutMs == 3000)
        #expect(a.idleTimeoutMs == 60_000)
        #expect(a.queueSize == 100)
        #expect(a.limits == ResourceLimits())
        #expect(a.environment.isEmpty)
        #expect(a.config.isEmpty)
        #expect(a.subscriptions.isEmpty)
        #expect(a.output.topic == "edge/things/dev1/functions/a/results")
        #expect(a.output.qos == 1)
        #expect(a.publish.isEmpty)
        #expect(a.user == nil)
        #expect(a.restart == RestartPolicy(maxFailures: 3, backoffMs: 500, maxBackoffMs: 30_000))
    }

    @Test func emptyFunctionsObjectIsAccepted() throws {
        let result = try #require(deployment(document(functions: [:])))
        #expect(result.functions.isEmpty)
    }

    @Test(arguments: [JSONValue.null, true, 1, 1.5, "text", [], [["a": 1]]])
    func documentThatIsNotAnObjectIsRejected(_ value: JSONValue) {
        let found = issues(value)
        #expect(found.count == 1)
        #expect(found.first?.path == "(document)")
        #expect(found.first?.value == value.excerpt())
        #expect(found.first?.message == "must be an object, not \(value.typeName)")
    }

    @Test(arguments: ["deploymentId", "revision", "functions"])
    func eachRequiredTopLevelFieldMissing(_ key: String) {
        let found = issues(document(remove: [key]))
        #expect(found == [ValidationIssue(path: key, value: nil, message: "is required")])
    }

    @Test func emptyObjectNamesEveryRequiredField() {
        #expect(paths(issues([:])) == ["deploymentId", "revision", "functions"])
    }

    @Test func unknownTopLevelFieldsAreEachNamed() {
        let found = issues(document(set: ["zeta": 1, "alpha": "x"]))
        #expect(paths(found) == ["alpha", "zeta"])
        #expect(found.allSatisfy { $0.message.hasPrefix("unknown field; allowed here: deploymentId, revision, functions, policy") })
    }

    struct WrongType: Sendable, CustomTestStringConvertible {
        var key: String
        var value: JSONValue
        var message: String
        var testDescription: String { "\(key) = \(value.excerpt())" }
    }

    @Test(arguments: [
        WrongType(key: "deploymentId", value: 5, message: "must be a string, not number"),
        WrongType(key: "deploymentId", value: "", message: "cannot be empty"),
        WrongType(key: "deploymentId", value: .null, message: "must be a string, not null"),
        WrongType(key: "revision", value: "1", message: "must be a whole number between 1 and 9223372036854775807"),
        WrongType(key: "revision", value: 1.5, message: "must be a whole number between 1 and 9223372036854775807"),
        WrongType(key: "revision", value: true, message: "must be a whole number between 1 and 9223372036854775807"),
        WrongType(key: "functions", value: [], message: "must be an object, not array"),
        WrongType(key: "functions", value: "a", message: "must be an object, not string"),
        WrongType(key: "policy", value: "rollback", message: "must be an object, not string"),
        WrongType(key: "policy", value: .null, message: "must be an object, not null"),
    ])
    func topLevelWrongTypes(_ c: WrongType) {
        let found = issues(document(set: [c.key: c.value]))
        #expect(found == [ValidationIssue(path: c.key, value: c.value.excerpt(), message: c.message)])
    }

    @Test(arguments: [
        (JSONValue.int(0), false), (-1, false), (1, true), (2, true), (.int(Int64.max), true), (.double(7.0), true),
    ])
    func revisionRange(_ value: JSONValue, _ accepted: Bool) {
        let found = issues(document(set: ["revision": value]))
        if accepted {
            #expect(found.isEmpty)
            #expect(deployment(document(set: ["revision": value]))?.revision == value.intValue)
        } else {
            #expect(found == [ValidationIssue(path: "revision", value: value.excerpt(),
                                              message: "is out of range; use a value between 1 and 9223372036854775807")])
        }
    }

    @Test(arguments: [
        ("dep-1", true), ("a.b_c:d-e", true), ("A9", true),
        (String(repeating: "d", count: 128), true), (String(repeating: "d", count: 129), false),
        ("has space", false), ("slash/no", false), ("é", false), ("plus+", false),
    ])
    func deploymentIdRule(_ id: String, _ accepted: Bool) {
        let found = issues(document(set: ["deploymentId": .string(id)]))
        #expect(found.isEmpty == accepted)
        if !accepted { #expect(paths(found) == ["deploymentId"]) }
    }

    @Test func overlongDeploymentIdQuotesOnlyAPrefix() {
        let found = issues(document(set: ["deploymentId": .string(String(repeating: "d", count: 129))]))
        #expect(found == [ValidationIssue(path: "deploymentId", value: "\"" + String(repeating: "d", count: 40) + "\"",
                                          message: "is longer than 128 bytes")])
    }
}

// MARK: - Function names and the functions object

@Suite struct FunctionNameTests {
    @Test(arguments: [
        ("a", true), ("digits_v2-x", true), ("A1", true),
        (String(repeating: "f", count: 64), true), (String(repeating: "f", count: 65), false),
        ("", false), ("has.dot", false), ("with/slash", false), ("plus+", false), ("sp ace", false), ("ü", false),
    ])
    func functionNameRule(_ name: String, _ accepted: Bool) {
        let found = issues(document(functions: [name: function()]))
        if accepted {
            #expect(found.isEmpty)
        } else {
            #expect(found.count == 1)
            #expect(found.first?.path == "functions.\(name)")
            #expect(found.first?.value == JSONValue.string(name).excerpt())
        }
    }

    @Test func sixtyFourFunctionsAreAllowed() {
        var functions: [String: JSONValue] = [:]
        for index in 0..<64 { functions["f\(index)"] = function() }
        #expect(issues(document(functions: functions)).isEmpty)
    }

    @Test func sixtyFiveFunctionsAreRejected() {
        var functions: [String: JSONValue] = [:]
        for index in 0..<65 { functions["f\(index)"] = function() }
        #expect(issues(document(functions: functions)) ==
            [ValidationIssue(path: "functions", value: nil, message: "has 65 functions; at most 64 are allowed")])
    }

    @Test(arguments: [JSONValue.null, "x", 1, []])
    func functionThatIsNotAnObject(_ value: JSONValue) {
        #expect(issues(ofFunction: value) ==
            [ValidationIssue(path: "functions.a", value: value.excerpt(), message: "must be an object, not \(value.typeName)")])
    }

    @Test func unknownFunctionFieldsNameThePath() {
        let found = issues(ofFunction: function(["timeout": 5, "Version": "1"]))
        #expect(paths(found) == ["functions.a.Version", "functions.a.timeout"])
        #expect(found.allSatisfy { $0.value == nil && $0.message.hasPrefix("unknown field; allowed here: version, runtime,") })
    }
}

// MARK: - Function fields

@Suite struct FunctionFieldTests {
    @Test func versionIsRequired() {
        #expect(issues(ofFunction: function(remove: ["version"])) ==
            [ValidationIssue(path: "functions.a.version", value: nil, message: "is required")])
    }

    @Test(arguments: [
        ("1.0.0", true), ("2.1+build_7-rc", true),
        (String(repeating: "9", count: 64), true), (String(repeating: "9", count: 65), false),
        ("", false), ("1 0", false), ("v/1", false), ("1:0", false),
    ])
    func versionRule(_ version: String, _ accepted: Bool) {
        let found = issues(ofFunction: function(["version": .string(version)]))
        #expect(found.isEmpty == accepted)
        if !accepted { #expect(paths(found) == ["functions.a.version"]) }
    }

    @Test func versionOfWrongType() {
        #expect(issues(ofFunction: function(["version": 1])) ==
            [ValidationIssue(path: "functions.a.version", value: "1", message: "must be a string, not number")])
    }

    struct IntRange: Sendable, CustomTestStringConvertible {
        var key: String
        var low: Int64
        var high: Int64
        var keyPath: KeyPath<FunctionSpec, Int> & Sendable
        var testDescription: String { "\(key) \(low)...\(high)" }
    }

    static let intRanges: [IntRange] = [
        IntRange(key: "concurrency", low: 1, high: 64, keyPath: \.concurrency),
        IntRange(key: "timeoutMs", low: 1, high: 900_000, keyPath: \.timeoutMs),
        IntRange(key: "startTimeoutMs", low: 100, high: 600_000, keyPath: \.startTimeoutMs),
        IntRange(key: "stopTimeoutMs", low: 0, high: 120_000, keyPath: \.stopTimeoutMs),
        IntRange(key: "idleTimeoutMs", low: 100, high: 86_400_000, keyPath: \.idleTimeoutMs),
        IntRange(key: "queueSize", low: 1, high: 100_000, keyPath: \.queueSize),
    ]

    @Test(arguments: intRanges)
    func integerFieldBoundsJustInside(_ r: IntRange) throws {
        for value in [r.low, r.high] {
            let parsed = try #require(spec(function([r.key: .int(value)])))
            #expect(parsed[keyPath: r.keyPath] == Int(value))
        }
    }

    @Test(arguments: intRanges)
    func integerFieldBoundsJustOutside(_ r: IntRange) {
        for value in [r.low - 1, r.high + 1] {
            #expect(issues(ofFunction: function([r.key: .int(value)])) == [ValidationIssue(
                path: "functions.a.\(r.key)", value: String(value),
                message: "is out of range; use a value between \(r.low) and \(r.high)")])
        }
    }

    @Test(arguments: intRanges)
    func integerFieldWrongTypes(_ r: IntRange) {
        for value: JSONValue in ["5", 2.5, true, .null, [1]] {
            #expect(issues(ofFunction: function([r.key: value])) == [ValidationIssue(
                path: "functions.a.\(r.key)", value: value.excerpt(),
                message: "must be a whole number between \(r.low) and \(r.high)")])
        }
    }

    @Test func wholeDoubleIsAcceptedAsInteger() {
        #expect(spec(function(["timeoutMs": 2500.0]))?.timeoutMs == 2500)
    }

    @Test(arguments: [("long-lived", FunctionSpec.Lifecycle.longLived), ("on-demand", .onDemand)])
    func lifecycleValues(_ text: String, _ expected: FunctionSpec.Lifecycle) {
        #expect(spec(function(["lifecycle": .string(text)]))?.lifecycle == expected)
    }

    @Test(arguments: [JSONValue.string("ondemand"), "Long-Lived", "", 1])
    func lifecycleInvalid(_ value: JSONValue) {
        let found = issues(ofFunction: function(["lifecycle": value]))
        #expect(paths(found) == ["functions.a.lifecycle"])
        #expect(found.first?.value == value.excerpt())
    }

    @Test func lifecycleChoicesAreListed() {
        #expect(issues(ofFunction: function(["lifecycle": "sometimes"])).first?.message ==
            "must be one of: \"long-lived\", \"on-demand\"")
    }

    @Test func configIsKeptAsGiven() {
        let config: JSONValue = ["threshold": 0.8, "labels": ["a", "b"], "nested": ["x": .null]]
        #expect(spec(function(["config": config]))?.config == config.objectValue)
    }

    @Test func configIsBoundedByWhatTheInitLineAndTheShadowCarry() {
        // {"k":"…"} is 8 bytes around the text.
        let atLimit: JSONValue = ["k": .string(String(repeating: "x", count: FunctionSpec.maxConfigBytes - 8))]
        #expect(JSONValue.object(atLimit.objectValue!).compactSize == FunctionSpec.maxConfigBytes)
        #expect(issues(ofFunction: function(["config": atLimit])).isEmpty)
        let over: JSONValue = ["k": .string(String(repeating: "x", count: FunctionSpec.maxConfigBytes - 7))]
        let found = issues(ofFunction: function(["config": over]))
        #expect(found.map(\.path) == ["functions.a.config"])
        #expect(found.first?.message.hasPrefix("takes 4097 bytes as JSON; at most 4096") == true)
    }

    @Test(arguments: [JSONValue.string("x"), [], 1])
    func configMustBeAnObject(_ value: JSONValue) {
        #expect(issues(ofFunction: function(["config": value])) ==
            [ValidationIssue(path: "functions.a.config", value: value.excerpt(), message: "must be an object, not \(value.typeName)")])
    }

    @Test(arguments: [
        ("edge", true), ("svc_user-1.x", true),
        (String(repeating: "u", count: 32), true), (String(repeating: "u", count: 33), false),
        ("root:x", false), ("a b", false), ("", false),
    ])
    func userRule(_ user: String, _ accepted: Bool) {
        let found = issues(ofFunction: function(["user": .string(user)]))
        #expect(found.isEmpty == accepted)
        if accepted { #expect(spec(function(["user": .string(user)]))?.user == user) }
        else { #expect(paths(found) == ["functions.a.user"]) }
    }
}

// MARK: - runtime / handler / command

@Suite struct EntryTests {
    @Test func runtimeAndCommandAreExclusive() {
        #expect(issues(ofFunction: function(["command": ["/bin/true"]])) == [ValidationIssue(
            path: "functions.a", value: nil,
            message: "give either \"command\" (a native executable) or \"runtime\" + \"handler\", not both")])
    }

    @Test func handlerWithCommandIsAlsoExclusive() {
        let fields = commandFunction(["/bin/true"], ["handler": "main.handler"])
        #expect(paths(issues(ofFunction: fields)) == ["functions.a"])
    }

    @Test func neitherRuntimeNorCommand() {
        let found = issues(ofFunction: function(remove: ["runtime", "handler"]))
        #expect(paths(found) == ["functions.a.runtime"])
        #expect(found.first?.message.hasPrefix("is required") == true)
    }

    @Test func handlerWithoutRuntime() {
        #expect(paths(issues(ofFunction: function(remove: ["runtime"]))) == ["functions.a.runtime"])
    }

    @Test func runtimeWithoutHandler() {
        #expect(issues(ofFunction: function(remove: ["handler"])) ==
            [ValidationIssue(path: "functions.a.handler", value: nil, message: "is required")])
    }

    @Test(arguments: [JSONValue.string("python2"), "node", "Python3", 3])
    func unsupportedRuntime(_ value: JSONValue) {
        let found = issues(ofFunction: function(["runtime": value]))
        #expect(paths(found) == ["functions.a.runtime"])
        #expect(found.first?.value == value.excerpt())
    }

    /// FieldReader promises to report every problem at once; an unsupported runtime should
    /// not hide a malformed handler.
    @Test func badRuntimeAndBadHandlerAreBothReported() {
        let found = issues(ofFunction: function(["runtime": "python2", "handler": "nodot"]))
        #expect(paths(found) == ["functions.a.runtime", "functions.a.handler"])
    }

    @Test(arguments: ["main.handler", "pkg.mod.fn", "_private._x", "m2.f3", "A.B"])
    func validHandlers(_ handler: String) {
        #expect(spec(function(["handler": .string(handler)]))?.entry == .python(handler: handler))
    }

    @Test(arguments: [
        ("nodot", "must be module.function, for example classifier.handler"),
        ("a..b", "each part of module.function must be a Python identifier"),
        (".a", "each part of module.function must be a Python identifier"),
        ("a.", "each part of module.function must be a Python identifier"),
        ("1mod.fn", "each part of module.function must be a Python identifier"),
        ("mod.9fn", "each part of module.function must be a Python identifier"),
        ("my-mod.fn", "each part of module.function must be a Python identifier"),
        ("mod.f n", "each part of module.function must be a Python identifier"),
        ("mod/x.fn", "each part of module.function must be a Python identifier"),
    ])
    func invalidHandlers(_ handler: String, _ message: String) {
        #expect(issues(ofFunction: function(["handler": .string(handler)])) ==
            [ValidationIssue(path: "functions.a.handler", value: "\"\(handler)\"", message: message)])
    }

    @Test func handlerLengthLimit() {
        let ok = "m." + String(repeating: "f", count: 128)
        #expect(spec(function(["handler": .string(ok)])) != nil)
        let partTooLong = "m." + String(repeating: "f", count: 129)
        #expect(paths(issues(ofFunction: function(["handler": .string(partTooLong)]))) == ["functions.a.handler"])
        let tooLong = String(repeating: "abcdefg.", count: 32) + "x"  // 257 bytes
        #expect(issues(ofFunction: function(["handler": .string(tooLong)])).first?.message == "is longer than 256 bytes")
    }

    @Test(arguments: [
        ["/usr/bin/env", "python3", "-u"], ["bin/run"], ["./run", "--flag"], ["run"], ["/opt/../bin/sh"],
    ] as [[String]])
    func validCommands(_ argv: [String]) {
        let fields = commandFunction(.array(argv.map(JSONValue.string)))
        #expect(spec(fields)?.entry == .command(argv))
    }

    @Test(arguments: ["../run", "bin/../../run", "a/..", "..", "", "x/../y"])
    func commandZeroMustStayInside(_ first: String) {
        #expect(issues(ofFunction: commandFunction([.string(first), "arg"])) == [ValidationIssue(
            path: "functions.a.command[0]", value: "\"\(first)\"",
            message: "must be an absolute path or a path inside the function's directory without '..'")])
    }

    @Test func dotDotInLaterArgumentsIsFine() {
        #expect(spec(commandFunction(["/bin/ls", "../.."]))?.entry == .command(["/bin/ls", "../.."]))
    }

    @Test func emptyCommand() {
        #expect(issues(ofFunction: commandFunction([])) ==
            [ValidationIssue(path: "functions.a.command", value: "[]", message: "must name the executable first")])
    }

    @Test(arguments: [JSONValue.string("/bin/true"), ["path": "/bin/true"], 1])
    func commandMustBeAnArray(_ value: JSONValue) {
        #expect(issues(ofFunction: commandFunction(value)) == [ValidationIssue(
            path: "functions.a.command", value: value.excerpt(), message: "must be an array, not \(value.typeName)")])
    }

    @Test func commandItemsMustBeStrings() {
        #expect(issues(ofFunction: commandFunction(["/bin/echo", 5])) ==
            [ValidationIssue(path: "functions.a.command[1]", value: "5", message: "must be a string")])
    }

    @Test func commandItemWithNUL() {
        let found = issues(ofFunction: commandFunction(["/bin/echo", "a\u{0}b"]))
        #expect(paths(found) == ["functions.a.command[1]"])
        #expect(found.first?.message == "cannot contain a NUL character")
    }

    @Test func commandItemCountLimit() {
        let ok = JSONValue.array(["/bin/echo"] + Array(repeating: "x", count: 255))
        #expect(issues(ofFunction: commandFunction(ok)).isEmpty)
        let tooMany = JSONValue.array(["/bin/echo"] + Array(repeating: "x", count: 256))
        #expect(issues(ofFunction: commandFunction(tooMany)) ==
            [ValidationIssue(path: "functions.a.command", value: nil, message: "has 257 items; at most 256 are allowed")])
    }
}

// MARK: - limits

@Suite struct LimitsTests {
    struct Bound: Sendable, CustomTestStringConvertible {
        var key: String
        var low: Int64
        var high: Int64
        var keyPath: KeyPath<ResourceLimits, Int?> & Sendable
        var testDescription: String { "\(key) \(low)...\(high)" }
    }

    static let bounds: [Bound] = [
        Bound(key: "memoryMB", low: 16, high: 1_048_576, keyPath: \.memoryMB),
        Bound(key: "pids", low: 1, high: 65_536, keyPath: \.pids),
        Bound(key: "openFiles", low: 16, high: 1_048_576, keyPath: \.openFiles),
        Bound(key: "fileSizeMB", low: 1, high: 1_048_576, keyPath: \.fileSizeMB),
        Bound(key: "cpuSeconds", low: 1, high: 86_400, keyPath: \.cpuSeconds),
    ]

    @Test(arguments: bounds)
    func justInside(_ b: Bound) throws {
        for value in [b.low, b.high] {
            let parsed = try #require(spec(function(["limits": [b.key: .int(value)]])))
            #expect(parsed.limits[keyPath: b.keyPath] == Int(value))
        }
    }

    @Test(arguments: bounds)
    func justOutside(_ b: Bound) {
        for value in [b.low - 1, b.high + 1] {
            #expect(issues(ofFunction: function(["limits": [b.key: .int(value)]])) == [ValidationIssue(
                path: "functions.a.limits.\(b.key)", value: String(value),
                message: "is out of range; use a value between \(b.low) and \(b.high)")])
        }
    }

    @Test(arguments: bounds)
    func wrongType(_ b: Bound) {
        #expect(issues(ofFunction: function(["limits": [b.key: "lots"]])) == [ValidationIssue(
            path: "functions.a.limits.\(b.key)", value: "\"lots\"",
            message: "must be a whole number between \(b.low) and \(b.high)")])
    }

    @Test(arguments: [0.01, 0.5, 1, 1024])
    func cpusInside(_ cpus: Double) {
        #expect(spec(function(["limits": ["cpus": .double(cpus)]]))?.limits.cpus == cpus)
    }

    @Test func cpusAsIntegerIsAccepted() {
        #expect(spec(function(["limits": ["cpus": 2]]))?.limits.cpus == 2)
    }

    @Test(arguments: [0.0099, 0, -1, 1024.001, 2048])
    func cpusOutside(_ cpus: Double) {
        #expect(issues(ofFunction: function(["limits": ["cpus": .double(cpus)]])) == [ValidationIssue(
            path: "functions.a.limits.cpus", value: String(cpus),
            message: "is out of range; use a value between 0.01 and 1024.0")])
    }

    @Test(arguments: [JSONValue.string("2"), true, .null, .double(.infinity), .double(.nan)])
    func cpusWrongType(_ value: JSONValue) {
        let found = issues(ofFunction: function(["limits": ["cpus": value]]))
        #expect(paths(found) == ["functions.a.limits.cpus"])
        #expect(found.first?.message == "must be a number between 0.01 and 1024.0")
    }

    @Test func unknownLimitIsNamed() {
        let found = issues(ofFunction: function(["limits": ["memoryMb": 64]]))
        #expect(paths(found) == ["functions.a.limits.memoryMb"])
        #expect(found.first?.message.hasPrefix("unknown field; allowed here: memoryMB, cpus,") == true)
    }

    @Test func limitsMustBeAnObject() {
        #expect(paths(issues(ofFunction: function(["limits": 64]))) == ["functions.a.limits"])
    }

    @Test func allLimitsTogether() {
        let limits: JSONValue = ["memoryMB": 64, "cpus": 0.5, "pids": 32, "openFiles": 256, "fileSizeMB": 10, "cpuSeconds": 60]
        #expect(spec(function(["limits": limits]))?.limits ==
            ResourceLimits(memoryMB: 64, cpus: 0.5, pids: 32, openFiles: 256, fileSizeMB: 10, cpuSeconds: 60))
    }
}

// MARK: - environment

@Suite struct EnvironmentTests {
    @Test func validEnvironment() {
        let env: JSONValue = ["MODE": "fast", "_x1": "", "lower_case": "v", "A1": "with space and ünïcode"]
        #expect(spec(function(["environment": env]))?.environment ==
            ["MODE": "fast", "_x1": "", "lower_case": "v", "A1": "with space and ünïcode"])
    }

    @Test(arguments: ["1ABC", "9"])
    func nameStartingWithDigit(_ name: String) {
        #expect(issues(ofFunction: function(["environment": [name: "v"]])) == [ValidationIssue(
            path: "functions.a.environment.\(name)", value: "\"\(name)\"", message: "a variable name cannot start with a digit")])
    }

    @Test(arguments: ["EDGE_THING", "EDGE_", "EDGE_FUNCTION_NAME"])
    func edgePrefixIsReserved(_ name: String) {
        #expect(issues(ofFunction: function(["environment": [name: "v"]])) == [ValidationIssue(
            path: "functions.a.environment.\(name)", value: nil, message: "EDGE_ variables are set by the agent; choose another name")])
    }

    @Test(arguments: ["EDGEX", "MY_EDGE_", "edge_x"])
    func namesThatOnlyLookLikeReservedAreAllowed(_ name: String) {
        #expect(spec(function(["environment": [name: "v"]]))?.environment == [name: "v"])
    }

    @Test(arguments: ["A-B", "A.B", "A B", "Ä", "", "A=B"])
    func namesWithBadCharacters(_ name: String) {
        let found = issues(ofFunction: function(["environment": [name: "v"]]))
        #expect(paths(found) == ["functions.a.environment.\(name)"])
        #expect(found.first?.value == "\"\(name)\"")
    }

    @Test func nameLengthLimit() {
        let ok = String(repeating: "N", count: 128)
        #expect(spec(function(["environment": [ok: "v"]])) != nil)
        let long = String(repeating: "N", count: 129)
        #expect(issues(ofFunction: function(["environment": [long: "v"]])).first?.message ==
            "a variable name must be 1 to 128 characters")
    }

    @Test(arguments: [JSONValue.int(5), true, .null, ["x"]])
    func valueMustBeAString(_ value: JSONValue) {
        #expect(issues(ofFunction: function(["environment": ["PORT": value]])) == [ValidationIssue(
            path: "functions.a.environment.PORT", value: value.excerpt(), message: "must be a string (quote numbers)")])
    }

    @Test func valueWithNUL() {
        #expect(issues(ofFunction: function(["environment": ["X": "a\u{0}b"]])) ==
            [ValidationIssue(path: "functions.a.environment.X", value: nil, message: "cannot contain a NUL character")])
    }

    @Test func everyBadVariableIsReported() {
        let env: JSONValue = ["1A": "v", "EDGE_X": "v", "OK": "v", "PORT": 80]
        #expect(paths(issues(ofFunction: function(["environment": env]))) ==
            ["functions.a.environment.1A", "functions.a.environment.EDGE_X", "functions.a.environment.PORT"])
    }

    @Test func environmentMustBeAnObject() {
        #expect(paths(issues(ofFunction: function(["environment": ["A=1"]]))) == ["functions.a.environment"])
    }
}

// MARK: - artifacts

@Suite struct ArtifactTests {
    func artifactIssues(_ items: [JSONValue]) -> [ValidationIssue] {
        issues(ofFunction: function(["artifacts": .array(items)]))
    }

    func artifacts(_ items: [JSONValue]) -> [ArtifactSpec]? {
        spec(function(["artifacts": .array(items)]))?.artifacts
    }

    @Test(arguments: [
        ("file:///opt/models/classifier.py", "classifier.py"),
        ("http://example.com/a/model.onnx", "model.onnx"),
        ("https://example.com/a/b/weights_v1.bin?token=x#frag", "weights_v1.bin"),
        ("https://example.com/dir/file.tar.gz#x", "file.tar.gz"),
    ])
    func nameIsDerivedFromTheURI(_ uri: String, _ name: String) {
        #expect(artifacts([["uri": .string(uri), "sha256": .string(goodSHA)]]) ==
            [ArtifactSpec(uri: uri, sha256: goodSHA, unarchive: .none, name: name)])
    }

    @Test func explicitNameWins() {
        #expect(artifacts([["uri": "https://h/x/y.bin", "sha256": .string(goodSHA), "name": "model.bin"]])?.first?.name == "model.bin")
    }

    @Test(arguments: ["ftp://h/x", "s3://bucket/x", "/opt/x", "x", "file:/x"])
    func unsupportedScheme(_ uri: String) {
        #expect(artifactIssues([["uri": .string(uri), "sha256": .string(goodSHA), "name": "x"]]) == [ValidationIssue(
            path: "functions.a.artifacts[0].uri", value: "\"\(uri)\"",
            message: "unsupported URI scheme; use one of file:// http:// https:// data:")])
    }

    @Test(arguments: [
        String(repeating: "A", count: 64),                      // uppercase
        String(goodSHA.dropLast()),                             // 63 digits
        String(goodSHA.dropLast()) + "g",                       // not hex
        String(goodSHA.dropLast()) + "F",                       // one uppercase digit
    ])
    func badSHA256(_ digest: String) {
        #expect(artifactIssues([["uri": "https://h/x.bin", "sha256": .string(digest)]]) == [ValidationIssue(
            path: "functions.a.artifacts[0].sha256", value: JSONValue.string(digest).excerpt(),
            message: "must be the artifact's SHA-256 as 64 lowercase hex digits (sha256sum prints it)")])
    }

    @Test func sha256TooLong() {
        let found = artifactIssues([["uri": "https://h/x.bin", "sha256": .string(goodSHA + "0")]])
        #expect(paths(found) == ["functions.a.artifacts[0].sha256"])
        #expect(found.first?.message == "is longer than 64 bytes")
    }

    @Test func uriAndSHAAreRequired() {
        #expect(artifactIssues([[:]]) == [
            ValidationIssue(path: "functions.a.artifacts[0].uri", value: nil, message: "is required"),
            ValidationIssue(path: "functions.a.artifacts[0].sha256", value: nil, message: "is required"),
        ])
    }

    @Test func unknownArtifactField() {
        let found = artifactIssues([["uri": "https://h/x.bin", "sha256": .string(goodSHA), "md5": "x"]])
        #expect(paths(found) == ["functions.a.artifacts[0].md5"])
        #expect(found.first?.message == "unknown field; allowed here: uri, sha256, unarchive, name")
    }

    @Test func duplicateDerivedNames() {
        let found = artifactIssues([
            ["uri": "https://a.example/x/model.bin", "sha256": .string(goodSHA)],
            ["uri": "file:///opt/model.bin", "sha256": .string(goodSHA)],
        ])
        #expect(found == [ValidationIssue(path: "functions.a.artifacts[1].name", value: "\"model.bin\"",
                                          message: "two artifacts would have the same file name; set \"name\"")])
    }

    @Test func duplicateExplicitAndDerivedName() {
        let found = artifactIssues([
            ["uri": "https://a.example/x/model.bin", "sha256": .string(goodSHA)],
            ["uri": "https://a.example/y/other", "sha256": .string(goodSHA), "name": "model.bin"],
        ])
        #expect(paths(found) == ["functions.a.artifacts[1].name"])
    }

    @Test func archivesDoNotClaimAFileName() {
        let list = artifacts([
            ["uri": "https://h/x/lib.tar", "sha256": .string(goodSHA), "unarchive": "tar"],
            ["uri": "https://h/y/lib.tar", "sha256": .string(goodSHA), "unarchive": "tar"],
            ["uri": "https://h/z/lib.tar", "sha256": .string(goodSHA)],
        ])
        #expect(list?.map(\.unarchive) == [.tar, .tar, .none])
        #expect(list?.map(\.name) == ["", "", "lib.tar"])
    }

    @Test func dataURIWithoutName() {
        #expect(artifactIssues([["uri": "data:text/plain;base64,aGk=", "sha256": .string(goodSHA)]]) == [ValidationIssue(
            path: "functions.a.artifacts[0].name", value: nil, message: "cannot derive a file name from the URI; set \"name\"")])
    }

    @Test func dataURIWithName() {
        #expect(artifacts([["uri": "data:,hello", "sha256": .string(goodSHA), "name": "hello.txt"]])?.first?.name == "hello.txt")
    }

    @Test(arguments: ["https://h/x/bad%20name", "file:///opt/x/a b", "https://h/x/a:b"])
    func underivableNames(_ uri: String) {
        #expect(artifactIssues([["uri": .string(uri), "sha256": .string(goodSHA)]]) == [ValidationIssue(
            path: "functions.a.artifacts[0].name", value: nil, message: "cannot derive a file name from the URI; set \"name\"")])
    }

    @Test(arguments: [(JSONValue.string("none"), ArtifactSpec.Unarchive.none), ("tar", .tar), ("tar.gz", .tarGz)])
    func unarchiveValues(_ value: JSONValue, _ expected: ArtifactSpec.Unarchive) {
        #expect(artifacts([["uri": "https://h/x.bin", "sha256": .string(goodSHA), "unarchive": value]])?.first?.unarchive == expected)
    }

    @Test(arguments: [JSONValue.string("zip"), "tgz", "TAR", "", true])
    func unarchiveInvalid(_ value: JSONValue) {
        let found = artifactIssues([["uri": "https://h/x.bin", "sha256": .string(goodSHA), "unarchive": value]])
        #expect(paths(found) == ["functions.a.artifacts[0].unarchive"])
        #expect(found.first?.value == value.excerpt())
    }

    @Test(arguments: [".", "..", "a/b", "a b", ""])
    func invalidExplicitName(_ name: String) {
        let found = artifactIssues([["uri": "https://h/x.bin", "sha256": .string(goodSHA), "name": .string(name)]])
        #expect(paths(found) == ["functions.a.artifacts[0].name"])
    }

    @Test func artifactsMustBeAnArrayOfObjects() {
        #expect(paths(issues(ofFunction: function(["artifacts": ["uri": "x"]]))) == ["functions.a.artifacts"])
        #expect(paths(artifactIssues(["https://h/x.bin"])) == ["functions.a.artifacts[0]"])
    }

    @Test func artifactCountLimit() {
        let item: (Int) -> JSONValue = { ["uri": .string("https://h/f\($0)"), "sha256": .string(goodSHA)] }
        #expect(artifactIssues((0..<64).map(item)).isEmpty)
        #expect(artifactIssues((0..<65).map(item)) == [ValidationIssue(
            path: "functions.a.artifacts", value: nil, message: "has 65 items; at most 64 are allowed")])
    }

    @Test func everyArtifactIsChecked() {
        let found = artifactIssues([
            ["uri": "ftp://h/x", "sha256": .string(goodSHA), "name": "x"],
            ["uri": "https://h/ok.bin", "sha256": .string(goodSHA)],
            ["uri": "https://h/y.bin", "sha256": "ABC"],
        ])
        #expect(paths(found) == ["functions.a.artifacts[0].uri", "functions.a.artifacts[2].sha256"])
    }
}

// MARK: - subscriptions, output, publish

@Suite struct TopicFieldTests {
    @Test func subscriptionsAreParsedWithDefaultQoS() {
        let subs: JSONValue = [["topic": "sensors/+/digits"], ["topic": "cmd/#", "qos": 0]]
        let parsed = spec(function(["subscriptions": subs]))?.subscriptions
        #expect(parsed?.map(\.filter.text) == ["sensors/+/digits", "cmd/#"])
        #expect(parsed?.map(\.qos) == [1, 0])
    }

    @Test(arguments: ["a/#/b", "a#", "sport+", "+x/y", "", "a/b#"])
    func invalidSubscriptionFilters(_ topic: String) {
        let found = issues(ofFunction: function(["subscriptions": [["topic": .string(topic)]]]))
        #expect(paths(found) == ["functions.a.subscriptions[0].topic"])
        #expect(found.first?.value == "\"\(topic)\"")
    }

    @Test(arguments: [JSONValue.int(-1), 2, "1", 0.5])
    func subscriptionQoS(_ qos: JSONValue) {
        #expect(paths(issues(ofFunction: function(["subscriptions": [["topic": "a", "qos": qos]]]))) ==
            ["functions.a.subscriptions[0].qos"])
    }

    @Test func subscriptionTopicIsRequired() {
        #expect(issues(ofFunction: function(["subscriptions": [["qos": 1]]])) ==
            [ValidationIssue(path: "functions.a.subscriptions[0].topic", value: nil, message: "is required")])
    }

    @Test func unknownSubscriptionField() {
        #expect(paths(issues(ofFunction: function(["subscriptions": [["topic": "a", "retain": true]]]))) ==
            ["functions.a.subscriptions[0].retain"])
    }

    @Test func subscriptionItemsMustBeObjects() {
        #expect(paths(issues(ofFunction: function(["subscriptions": ["a/b"]]))) == ["functions.a.subscriptions[0]"])
        #expect(paths(issues(ofFunction: function(["subscriptions": ["topic": "a"]]))) == ["functions.a.subscriptions"])
    }

    @Test func subscriptionCountLimit() {
        let item: JSONValue = ["topic": "a"]
        #expect(issues(ofFunction: function(["subscriptions": .array(Array(repeating: item, count: 64))])).isEmpty)
        #expect(paths(issues(ofFunction: function(["subscriptions": .array(Array(repeating: item, count: 65))]))) ==
            ["functions.a.subscriptions"])
    }

    @Test func outputDefaultsToTheResultsTopicOfThisThing() {
        let parsed = spec(function(), thing: "cam-7")
        #expect(parsed?.output.topic == "edge/things/cam-7/functions/a/results")
        #expect(parsed?.output.qos == 1)
    }

    @Test func outputExpandsThingAndFunction() {
        let output: JSONValue = ["topic": "site/{thing}/out/{function}/{thing}", "qos": 0]
        let parsed = spec(function(["output": output]), thing: "dev9")
        #expect(parsed?.output.topic == "site/dev9/out/a/dev9")
        #expect(parsed?.output.qos == 0)
    }

    @Test func outputWithOnlyQoSKeepsDefaultTopic() {
        #expect(spec(function(["output": ["qos": 0]]))?.output.topic == "edge/things/dev1/functions/a/results")
    }

    @Test(arguments: ["a/+/b", "a/#", "", "x\u{0}y"])
    func outputTopicCannotBeAFilter(_ topic: String) {
        #expect(paths(issues(ofFunction: function(["output": ["topic": .string(topic)]]))) == ["functions.a.output.topic"])
    }

    @Test func outputQoSAndUnknownFields() {
        #expect(paths(issues(ofFunction: function(["output": ["qos": 2]]))) == ["functions.a.output.qos"])
        #expect(paths(issues(ofFunction: function(["output": ["topic": "x", "retain": true]]))) == ["functions.a.output.retain"])
        #expect(paths(issues(ofFunction: function(["output": "x/y"]))) == ["functions.a.output"])
    }

    @Test func publishFiltersExpandThing() {
        let parsed = spec(function(["publish": ["edge/things/{thing}/alerts/#", "shared/+"]]), thing: "dev2")
        #expect(parsed?.publish.map(\.text) == ["edge/things/dev2/alerts/#", "shared/+"])
        #expect(parsed?.mayPublish(to: "edge/things/dev2/alerts/fire") == true)
        #expect(parsed?.mayPublish(to: "edge/things/dev3/alerts/fire") == false)
        #expect(parsed?.mayPublish(to: "other") == false)
    }

    @Test(arguments: [JSONValue.string("a/#/b"), "x+", "", 5])
    func invalidPublishFilter(_ value: JSONValue) {
        let found = issues(ofFunction: function(["publish": ["ok/#", value]]))
        #expect(paths(found) == ["functions.a.publish[1]"])
        #expect(found.first?.value == value.excerpt())
    }

    @Test func publishMustBeAnArray() {
        #expect(paths(issues(ofFunction: function(["publish": "a/#"]))) == ["functions.a.publish"])
    }
}

// MARK: - restart and policy

@Suite struct RestartAndPolicyTests {
    @Test(arguments: [
        ("maxFailures", Int64(1), Int64(1000)), ("backoffMs", 0, 600_000), ("maxBackoffMs", 0, 3_600_000),
    ] as [(String, Int64, Int64)])
    func restartBounds(_ bound: (String, Int64, Int64)) {
        let (key, low, high) = bound
        for value in [low, high] {
            #expect(issues(ofFunction: function(["restart": [key: .int(value)]])).isEmpty)
        }
        for value in [low - 1, high + 1] {
            #expect(issues(ofFunction: function(["restart": [key: .int(value)]])) == [ValidationIssue(
                path: "functions.a.restart.\(key)", value: String(value),
                message: "is out of range; use a value between \(low) and \(high)")])
        }
    }

    @Test func restartValuesAreUsed() {
        #expect(spec(function(["restart": ["maxFailures": 5, "backoffMs": 100, "maxBackoffMs": 800]]))?.restart ==
            RestartPolicy(maxFailures: 5, backoffMs: 100, maxBackoffMs: 800))
        #expect(spec(function(["restart": ["maxFailures": 7]]))?.restart ==
            RestartPolicy(maxFailures: 7, backoffMs: 500, maxBackoffMs: 30_000))
    }

    @Test func restartUnknownFieldAndType() {
        #expect(paths(issues(ofFunction: function(["restart": ["retries": 3]]))) == ["functions.a.restart.retries"])
        #expect(paths(issues(ofFunction: function(["restart": 3]))) == ["functions.a.restart"])
    }

    @Test(arguments: [("rollback", DeploymentPolicy.OnFailure.rollback), ("none", .none)])
    func onFailureValues(_ text: String, _ expected: DeploymentPolicy.OnFailure) {
        #expect(deployment(document(set: ["policy": ["onFailure": .string(text)]]))?.policy.onFailure == expected)
    }

    @Test(arguments: [JSONValue.string("retry"), "Rollback", "", false])
    func onFailureInvalid(_ value: JSONValue) {
        let found = issues(document(set: ["policy": ["onFailure": value]]))
        #expect(paths(found) == ["policy.onFailure"])
        #expect(found.first?.value == value.excerpt())
    }

    @Test func healthySecondsBounds() {
        #expect(deployment(document(set: ["policy": ["healthySeconds": 0]]))?.policy.healthySeconds == 0)
        #expect(deployment(document(set: ["policy": ["healthySeconds": 600]]))?.policy.healthySeconds == 600)
        for value: Int64 in [-1, 601] {
            #expect(issues(document(set: ["policy": ["healthySeconds": .int(value)]])) == [ValidationIssue(
                path: "policy.healthySeconds", value: String(value), message: "is out of range; use a value between 0 and 600")])
        }
    }

    @Test func policyDefaultsWhenEmptyAndUnknownFields() {
        #expect(deployment(document(set: ["policy": [:]]))?.policy == DeploymentPolicy())
        let found = issues(document(set: ["policy": ["onfailure": "none"]]))
        #expect(paths(found) == ["policy.onfailure"])
        #expect(found.first?.message == "unknown field; allowed here: onFailure, healthySeconds")
    }
}

// MARK: - Collecting every issue

@Suite struct AllIssuesTests {
    @Test func everyIssueIsReportedWithDottedPathsAndQuotedValues() {
        let doc: JSONValue = [
            "deploymentId": "bad id",
            "revision": 0,
            "extra": true,
            "functions": [
                "a": [
                    "version": "1.0.0", "runtime": "python3", "handler": "m.f",
                    "subscriptions": [["topic": "ok/+"], ["topic": "bad/#/x"]],
                    "environment": ["EDGE_X": "1"],
                ],
                "digits": [
                    "version": "1.0.0", "command": ["../escape"],
                    "limits": ["memoryMB": "lots"],
                    "artifacts": [["uri": "ftp://x/y", "sha256": "ABC"]],
                ],
                "bad.name": ["version": "1"],
            ],
            "policy": ["onFailure": "retry", "healthySeconds": 601],
        ]
        let found = issues(doc)
        #expect(paths(found).sorted() == [
            "deploymentId",
            "extra",
            "functions.a.environment.EDGE_X",
            "functions.a.subscriptions[1].topic",
            "functions.bad.name",
            "functions.digits.artifacts[0].sha256",
            "functions.digits.artifacts[0].uri",
            "functions.digits.command[0]",
            "functions.digits.limits.memoryMB",
            "policy.healthySeconds",
            "policy.onFailure",
            "revision",
        ])
        let memory = found.first { $0.path == "functions.digits.limits.memoryMB" }
        #expect(memory == ValidationIssue(path: "functions.digits.limits.memoryMB", value: "\"lots\"",
                                          message: "must be a whole number between 16 and 1048576"))
        #expect(found.first { $0.path == "functions.a.subscriptions[1].topic" }?.value == "\"bad/#/x\"")
        #expect(found.first { $0.path == "deploymentId" }?.value == "\"bad id\"")
        #expect(found.first { $0.path == "revision" }?.value == "0")
        #expect(found.first { $0.path == "policy.healthySeconds" }?.value == "601")
    }

    @Test func issuesFollowFieldOrderWithinAFunction() {
        let fields = function(["version": "", "concurrency": 0, "timeoutMs": 0, "queueSize": 0, "user": "a b"])
        #expect(paths(issues(ofFunction: fields)) == [
            "functions.a.version", "functions.a.concurrency", "functions.a.timeoutMs", "functions.a.queueSize", "functions.a.user",
        ])
    }

    @Test func oneBadFunctionRejectsTheWholeDocument() {
        let doc = document(functions: ["good": function(), "bad": function(["concurrency": 0])])
        guard case .failure(let rejection) = DeploymentParser.parse(doc, thing: "dev1") else {
            Issue.record("expected a rejection")
            return
        }
        #expect(paths(rejection.issues) == ["functions.bad.concurrency"])
    }

    @Test func rejectionDescriptionJoinsIssues() {
        let rejection = DocumentRejection([
            ValidationIssue(path: "a", value: "1", message: "m1"),
            ValidationIssue(path: "b", value: nil, message: "m2"),
        ])
        #expect(rejection.description == "a: m1 (got 1); b: m2")
    }

    @Test func valueExcerptIsCut() {
        let long = String(repeating: "x", count: 100)
        let found = issues(ofFunction: function(["lifecycle": .string(long)]))
        // Over the 1024 limit? No: 100 bytes, so the rule runs and the value is excerpted to 60 characters.
        #expect(found.first?.value == "\"" + String(repeating: "x", count: 59) + "…")
    }
}
