import Testing
@testable import EdgeCore

/// The error `load` throws, or nil when it succeeds.
private func loadError(file: JSONValue? = nil, _ arguments: [String]) -> ConfigurationError? {
    do {
        _ = try ConfigurationLoader.load(file: file, arguments: arguments)
        return nil
    } catch {
        return error
    }
}

private func load(file: JSONValue? = nil, _ arguments: [String]) throws -> AgentConfiguration {
    try ConfigurationLoader.load(file: file, arguments: arguments)
}

@Suite struct ConfigurationLoaderTests {
    @Test func defaultsWithOnlyAThingName() throws {
        let config = try load(["--thing-name", "dev1"])
        var expected = AgentConfiguration(thingName: "dev1")
        expected.thingGroups = []
        #expect(config == expected)
        #expect(config.brokerHost == "localhost")
        #expect(config.brokerPort == 1883)
        #expect(config.keepAliveSeconds == 30)
        #expect(config.tls == nil)
        #expect(config.stateDir == "/var/lib/edge-agent")
        #expect(config.healthIntervalSeconds == 30)
        #expect(config.logLevel == .info)
        #expect(config.runtimeDir == nil)
        #expect(config.python == "python3")
    }

    @Test func everySettingFromTheFile() throws {
        let file: JSONValue = [
            "thingName": "dev1", "thingGroups": ["cams", "site-1"],
            "broker": ["host": "mqtt.local", "port": 1884, "keepAliveSeconds": 60,
                       "tls": ["ca": "/etc/ca.pem", "cert": "/etc/c.pem", "key": "/etc/k.pem"]],
            "stateDir": "/data/edge", "healthIntervalSeconds": 10, "logLevel": "debug",
            "runtimeDir": "/opt/runtime", "python": "/usr/bin/python3.11",
        ]
        let config = try load(file: file, [])
        #expect(config.thingName == "dev1")
        #expect(config.thingGroups == ["cams", "site-1"])
        #expect(config.brokerHost == "mqtt.local")
        #expect(config.brokerPort == 1884)
        #expect(config.keepAliveSeconds == 60)
        #expect(config.tls == AgentConfiguration.TLS(caFile: "/etc/ca.pem", certFile: "/etc/c.pem", keyFile: "/etc/k.pem"))
        #expect(config.stateDir == "/data/edge")
        #expect(config.healthIntervalSeconds == 10)
        #expect(config.logLevel == .debug)
        #expect(config.runtimeDir == "/opt/runtime")
        #expect(config.python == "/usr/bin/python3.11")
    }

    @Test func flagsOverrideTheFile() throws {
        let file: JSONValue = [
            "thingName": "fromFile", "thingGroups": ["a", "b"], "broker": ["host": "filehost", "port": 1000],
            "stateDir": "/file", "healthIntervalSeconds": 10, "logLevel": "debug", "runtimeDir": "/fileRuntime", "python": "py",
        ]
        let config = try load(file: file, [
            "--config", "/etc/edge-agent/config.json",
            "--thing-name", "fromFlag", "--thing-group", "c", "--broker-host", "flaghost", "--broker-port", "2000",
            "--state-dir", "/flag", "--health-interval", "20", "--log-level", "error", "--runtime-dir", "/flagRuntime",
            "--python", "/bin/py",
        ])
        #expect(config.thingName == "fromFlag")
        #expect(config.thingGroups == ["c"])
        #expect(config.brokerHost == "flaghost")
        #expect(config.brokerPort == 2000)
        #expect(config.stateDir == "/flag")
        #expect(config.healthIntervalSeconds == 20)
        #expect(config.logLevel == .error)
        #expect(config.runtimeDir == "/flagRuntime")
        #expect(config.python == "/bin/py")
    }

    @Test func fileValuesStayWhenNoFlagGiven() throws {
        let config = try load(file: ["thingName": "f", "thingGroups": ["a", "b"], "logLevel": "warning"], ["--broker-host", "h"])
        #expect(config.thingName == "f")
        #expect(config.thingGroups == ["a", "b"])
        #expect(config.logLevel == .warning)
        #expect(config.brokerHost == "h")
    }

    @Test func repeatedGroupFlagsKeepTheirOrder() throws {
        let config = try load(["--thing-name", "d", "--thing-group", "z", "--thing-group", "a", "--thing-group", "m"])
        #expect(config.thingGroups == ["z", "a", "m"])
    }

    @Test func laterFlagWins() throws {
        #expect(try load(["--thing-name", "a", "--thing-name", "b"]).thingName == "b")
    }

    // MARK: TLS

    @Test func tlsTurnsOnWithCAAndDefaultsPortTo8883() throws {
        let config = try load(["--thing-name", "d", "--tls-ca", "/ca.pem"])
        #expect(config.tls == AgentConfiguration.TLS(caFile: "/ca.pem", certFile: nil, keyFile: nil))
        #expect(config.brokerPort == 8883)
    }

    @Test func explicitPortWinsOverTLSDefault() throws {
        #expect(try load(["--thing-name", "d", "--tls-ca", "/ca.pem", "--broker-port", "1883"]).brokerPort == 1883)
        #expect(try load(file: ["thingName": "d", "broker": ["port": 9999, "tls": ["ca": "/ca"]]], []).brokerPort == 9999)
    }

    @Test func mutualTLSFromFlags() throws {
        let config = try load(["--thing-name", "d", "--tls-ca", "/ca", "--tls-cert", "/c", "--tls-key", "/k"])
        #expect(config.tls == AgentConfiguration.TLS(caFile: "/ca", certFile: "/c", keyFile: "/k"))
    }

    @Test func certWithoutKey() {
        let error = loadError(["--thing-name", "d", "--tls-ca", "/ca", "--tls-cert", "/c"])
        #expect(error?.setting == "broker.tls.key")
        #expect(error?.message.contains("both a certificate and its key") == true)
    }

    @Test func keyWithoutCert() {
        #expect(loadError(["--thing-name", "d", "--tls-ca", "/ca", "--tls-key", "/k"])?.setting == "broker.tls.cert")
    }

    @Test(arguments: [["--tls-cert", "/c"], ["--tls-key", "/k"], ["--tls-cert", "/c", "--tls-key", "/k"]])
    func clientCertificateWithoutCA(_ flags: [String]) {
        #expect(loadError(["--thing-name", "d"] + flags)?.setting == "broker.tls.ca")
    }

    @Test func certWithoutKeyInFile() {
        #expect(loadError(file: ["thingName": "d", "broker": ["tls": ["ca": "/ca", "cert": "/c"]]], [])?.setting == "broker.tls.key")
    }

    // MARK: Errors name the setting

    @Test func thingNameIsRequired() {
        let error = loadError([])
        #expect(error?.setting == "thingName")
        #expect(error?.message.hasPrefix("is required") == true)
        #expect(loadError(file: ["logLevel": "info"], [])?.setting == "thingName")
    }

    @Test(arguments: ["a/b", "a b", "a+b", "a#", "dev.1", "ü", String(repeating: "t", count: 129)])
    func invalidThingNames(_ name: String) {
        let error = loadError(["--thing-name", name])
        #expect(error?.setting == "thingName")
        #expect(error?.message.hasPrefix("'\(name)' is not valid") == true)
    }

    @Test(arguments: ["dev1", "a:b_c-d", String(repeating: "t", count: 128)])
    func validThingNames(_ name: String) throws {
        #expect(try load(["--thing-name", name]).thingName == name)
    }

    @Test func emptyThingNameInFile() {
        let error = loadError(file: ["thingName": ""], [])
        #expect(error == ConfigurationError(setting: "thingName", message: "must be a non-empty string, not \"\""))
    }

    @Test(arguments: ["a/b", "", "x y"])
    func invalidGroupNames(_ group: String) {
        #expect(loadError(["--thing-name", "d", "--thing-group", group])?.setting == "thingGroups")
        #expect(loadError(file: ["thingName": "d", "thingGroups": [.string(group)]], [])?.setting == "thingGroups")
    }

    @Test func duplicateGroups() {
        let error = loadError(["--thing-name", "d", "--thing-group", "a", "--thing-group", "a"])
        #expect(error == ConfigurationError(setting: "thingGroups", message: "names a group twice; list each group once"))
    }

    @Test(arguments: [JSONValue.string("cams"), ["cams", 1], ["a": "b"]])
    func thingGroupsOfWrongType(_ value: JSONValue) {
        #expect(loadError(file: ["thingName": "d", "thingGroups": value], [])?.setting == "thingGroups")
    }

    @Test(arguments: [(0, false), (1, true), (65535, true), (65536, false), (-1, false)])
    func brokerPortRange(_ port: Int, _ accepted: Bool) {
        let error = loadError(["--thing-name", "d", "--broker-port", String(port)])
        if accepted {
            #expect(error == nil)
        } else {
            #expect(error == ConfigurationError(setting: "broker.port", message: "\(port) is not a port; use 1 to 65535"))
        }
    }

    @Test(arguments: [(499, false), (500, true), (300_000, true), (300_001, false)])
    func reconnectMaxRange(_ ms: Int, _ accepted: Bool) throws {
        let error = loadError(file: ["thingName": "d", "broker": ["reconnectMaxMs": .int(Int64(ms))]], [])
        #expect((error == nil) == accepted)
        if accepted {
            #expect(try load(file: ["thingName": "d", "broker": ["reconnectMaxMs": .int(Int64(ms))]], []).reconnectMaxMs == ms)
        } else {
            #expect(error?.setting == "broker.reconnectMaxMs")
        }
    }

    @Test func reconnectMaxDefaultsToASecond() throws {
        #expect(try load(["--thing-name", "d"]).reconnectMaxMs == 1000)
    }

    @Test(arguments: [(4, false), (5, true), (3600, true), (3601, false)])
    func keepAliveRange(_ seconds: Int, _ accepted: Bool) {
        let error = loadError(file: ["thingName": "d", "broker": ["keepAliveSeconds": .int(Int64(seconds))]], [])
        #expect((error == nil) == accepted)
        if !accepted { #expect(error?.setting == "broker.keepAliveSeconds") }
    }

    @Test(arguments: [(0, false), (1, true), (86_400, true), (86_401, false)])
    func healthIntervalRange(_ seconds: Int, _ accepted: Bool) {
        let error = loadError(["--thing-name", "d", "--health-interval", String(seconds)])
        #expect((error == nil) == accepted)
        if !accepted { #expect(error?.setting == "healthIntervalSeconds") }
    }

    @Test func relativeStateDir() {
        #expect(loadError(["--thing-name", "d", "--state-dir", "var/lib"]) ==
            ConfigurationError(setting: "stateDir", message: "'var/lib' must be an absolute path"))
    }

    @Test(arguments: LogLevel.allCases)
    func logLevelsByName(_ level: LogLevel) throws {
        #expect(try load(["--thing-name", "d", "--log-level", level.name]).logLevel == level)
    }

    @Test(arguments: ["verbose", "INFO", "warn"])
    func unknownLogLevel(_ name: String) {
        #expect(loadError(["--thing-name", "d", "--log-level", name])?.setting == "logLevel")
    }

    @Test(arguments: ["--broker-port", "--health-interval"])
    func numericFlagWithText(_ flag: String) {
        #expect(loadError(["--thing-name", "d", flag, "12x"]) ==
            ConfigurationError(setting: flag, message: "must be a whole number, not '12x'"))
    }

    @Test(arguments: ["--thing-name", "--thing-group", "--broker-host", "--broker-port", "--tls-ca", "--tls-cert",
                      "--tls-key", "--state-dir", "--health-interval", "--log-level", "--runtime-dir", "--python", "--config"])
    func flagWithoutValue(_ flag: String) {
        #expect(loadError(["--thing-name", "d", flag])?.setting == flag)
        // A following flag is not taken as the value.
        #expect(loadError([flag, "--log-level", "info"])?.setting == flag)
    }

    @Test(arguments: ["--verbose", "-v", "thing", "--thing_name"])
    func unknownOption(_ flag: String) {
        let error = loadError(["--thing-name", "d", flag])
        #expect(error?.setting == flag)
        #expect(error?.message.hasPrefix("unknown option") == true)
    }

    @Test(arguments: [
        (JSONValue.object(["thingName": "d", "colour": "red"]), "colour"),
        (["thingName": "d", "broker": ["hostname": "x"]], "broker.hostname"),
        (["thingName": "d", "broker": ["tls": ["ca": "/c", "crt": "/x"]]], "broker.tls.crt"),
    ] as [(JSONValue, String)])
    func unknownFileSettingsAreNamed(_ file: JSONValue, _ setting: String) {
        let error = loadError(file: file, [])
        #expect(error?.setting == setting)
        #expect(error?.message.hasPrefix("unknown setting; known here:") == true)
    }

    @Test(arguments: [
        (JSONValue.object(["thingName": 5]), "thingName"),
        (["thingName": "d", "broker": "localhost"], "broker"),
        (["thingName": "d", "broker": ["host": 1]], "broker.host"),
        (["thingName": "d", "broker": ["port": "1883"]], "broker.port"),
        (["thingName": "d", "broker": ["port": 1883.5]], "broker.port"),
        (["thingName": "d", "broker": ["keepAliveSeconds": true]], "broker.keepAliveSeconds"),
        (["thingName": "d", "broker": ["tls": "/ca"]], "broker.tls"),
        (["thingName": "d", "broker": ["tls": ["ca": ""]]], "broker.tls.ca"),
        (["thingName": "d", "broker": ["tls": ["ca": "/c", "cert": 1]]], "broker.tls.cert"),
        (["thingName": "d", "broker": ["tls": ["ca": "/c", "key": .null]]], "broker.tls.key"),
        (["thingName": "d", "stateDir": ["/x"]], "stateDir"),
        (["thingName": "d", "healthIntervalSeconds": "30"], "healthIntervalSeconds"),
        (["thingName": "d", "logLevel": 1], "logLevel"),
        (["thingName": "d", "runtimeDir": false], "runtimeDir"),
        (["thingName": "d", "python": ""], "python"),
    ] as [(JSONValue, String)])
    func wrongTypesInTheFileNameTheSetting(_ file: JSONValue, _ setting: String) {
        #expect(loadError(file: file, [])?.setting == setting)
    }

    @Test(arguments: [JSONValue.array([]), "x", 1, .null])
    func fileMustBeAnObject(_ file: JSONValue) {
        #expect(loadError(file: file, ["--thing-name", "d"]) ==
            ConfigurationError(setting: "config file", message: "must hold a JSON object, not \(file.typeName)"))
    }

    @Test func wholeDoubleInTheFileIsAnInteger() throws {
        #expect(try load(file: ["thingName": "d", "broker": ["port": 1884.0]], []).brokerPort == 1884)
    }

    @Test func errorDescriptionNamesTheSetting() {
        #expect(ConfigurationError(setting: "broker.port", message: "bad").description == "configuration: broker.port: bad")
    }

    // MARK: configPath

    @Test func configPathFindsTheValue() throws {
        #expect(try ConfigurationLoader.configPath(in: ["--thing-name", "d", "--config", "/etc/x.json"]) == "/etc/x.json")
        #expect(try ConfigurationLoader.configPath(in: ["--thing-name", "d"]) == nil)
        #expect(try ConfigurationLoader.configPath(in: []) == nil)
    }

    @Test func configPathWithoutValue() {
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.configPath(in: ["--config"]) }
        do {
            _ = try ConfigurationLoader.configPath(in: ["--thing-name", "d", "--config"])
            Issue.record("expected an error")
        } catch {
            #expect(error.setting == "--config")
        }
    }
}

@Suite struct LogLevelTests {
    @Test func orderAndNames() {
        #expect(LogLevel.debug < .info && LogLevel.info < .warning && LogLevel.warning < .error)
        #expect(LogLevel.allCases.map(\.name) == ["debug", "info", "warning", "error"])
        #expect(LogLevel(name: "nope") == nil)
    }
}
