import Testing
@testable import EdgeCore

private func load(file: JSONValue? = nil, _ arguments: [String], environment: [String: String] = [:]) throws(ConfigurationError) -> AgentConfiguration {
    try ConfigurationLoader.load(file: file, arguments: ["--thing-name", "d"] + arguments, environment: environment)
}

private func problem(file: JSONValue? = nil, _ arguments: [String] = [], environment: [String: String] = [:]) -> ConfigurationError? {
    do {
        _ = try load(file: file, arguments, environment: environment)
        return nil
    } catch {
        return error
    }
}

@Suite struct BrokerSettingsTests {
    @Test func oneEndpointByDefaultAndFromHostAndPort() throws {
        #expect(try load([]).brokers == [BrokerEndpoint(host: "localhost", port: 1883)])
        #expect(try load(["--broker-host", "h", "--broker-port", "2000"]).brokers == [BrokerEndpoint(host: "h", port: 2000)])
        #expect(try load(["--tls-ca", "/ca"]).brokers == [BrokerEndpoint(host: "localhost", port: 8883)])
    }

    @Test func aListOfEndpointsFromTheFileOrTheFlags() throws {
        let file: JSONValue = ["broker": ["tls": ["ca": "/ca"]], "brokers": [["host": "n1", "port": 1001], ["host": "n2"]]]
        #expect(try load(file: file, []).brokers == [BrokerEndpoint(host: "n1", port: 1001), BrokerEndpoint(host: "n2", port: 8883)])
        let flags = try load(file: file, ["--broker", "x:1", "--broker", "[::1]:2", "--broker", "y"])
        #expect(flags.brokers == [BrokerEndpoint(host: "x", port: 1), BrokerEndpoint(host: "::1", port: 2), BrokerEndpoint(host: "y", port: 8883)])
        #expect(try load(file: file, ["--broker-host", "only"]).brokers == [BrokerEndpoint(host: "only", port: 8883)])
    }

    @Test func badEndpointListsNameTheSetting() {
        #expect(problem(file: ["brokers": []])?.setting == "brokers")
        #expect(problem(file: ["brokers": ["n1"]])?.setting == "brokers[0]")
        #expect(problem(file: ["brokers": [["port": 1]]])?.setting == "brokers[0].host")
        #expect(problem(file: ["brokers": [["host": "a", "port": 0]]])?.setting == "brokers[0].port")
        #expect(problem(file: ["brokers": [["host": "a", "tls": true]]])?.setting == "brokers[0].tls")
        #expect(problem(file: ["brokers": [["host": "a"], ["host": "a"]]])?.message.contains("twice") == true)
        #expect(problem(file: ["broker": ["host": "a"], "brokers": [["host": "b"]]])?.setting == "brokers")
        #expect(problem(["--broker", "a:b"])?.setting == "--broker")
        #expect(problem(["--broker", "a:1:2"])?.setting == "--broker")
        #expect(problem(["--broker", "[::1"])?.setting == "--broker")
        #expect(problem(["--broker", "a", "--broker-host", "b"])?.setting == "--broker")
    }

    @Test func theProtocolAndTheConnectTimeout() throws {
        #expect(try load([]).protocolSetting == .auto)
        #expect(try load(["--mqtt-protocol", "3.1.1"]).protocolSetting == .v311)
        #expect(try load(file: ["broker": ["protocol": "5", "connectTimeoutMs": 3000]], []).protocolSetting == .v5)
        #expect(try load(file: ["broker": ["connectTimeoutMs": 3000]], []).connectTimeoutMs == 3000)
        #expect(problem(["--mqtt-protocol", "4"])?.setting == "broker.protocol")
        #expect(problem(file: ["broker": ["connectTimeoutMs": 10]])?.setting == "broker.connectTimeoutMs")
    }

    @Test func credentialsFromTheFileAPasswordFileOrTheEnvironment() throws {
        let inline = try load(file: ["broker": ["username": "edge", "password": "s3cret"]], [])
        #expect(inline.credentials == .init(username: "edge", password: "s3cret", passwordFile: nil))
        let fromFile = try load(["--username", "edge", "--password-file", "/etc/edge/password"])
        #expect(fromFile.credentials == .init(username: "edge", password: nil, passwordFile: "/etc/edge/password"))
        let fromEnvironment = try load([], environment: ["EDGE_BROKER_USERNAME": "u", "EDGE_BROKER_PASSWORD": "p"])
        #expect(fromEnvironment.credentials == .init(username: "u", password: "p", passwordFile: nil))
        // The file's credentials win over the environment's.
        let both = try load(file: ["broker": ["username": "edge", "password": "s3cret"]], [], environment: ["EDGE_BROKER_PASSWORD": "p"])
        #expect(both.credentials?.password == "s3cret")
        #expect(try load([]).credentials == nil)
    }

    @Test func aPasswordNeverGoesOnTheCommandLineNorInClearTextAcrossTheNetwork() {
        #expect(problem(["--password", "x"])?.message.contains("--password-file") == true)
        #expect(problem(file: ["broker": ["password": "p"]])?.setting == "broker.username")
        #expect(problem(file: ["broker": ["username": "u", "password": "p", "passwordFile": "/p"]])?.setting == "broker.password")
        #expect(problem(["--username", "u", "--password-file", "relative"])?.setting == "broker.passwordFile")
        let remote: JSONValue = ["broker": ["host": "mqtt.example.com", "username": "u", "password": "p"]]
        #expect(problem(file: remote)?.setting == "broker.tls")
        #expect(problem(file: remote)?.message.contains("p\"") == false, "the message must not quote the password")
        #expect(problem(file: ["broker": ["host": "mqtt.example.com", "username": "u", "password": "p", "allowPasswordWithoutTLS": true]]) == nil)
        #expect(problem(file: ["broker": ["host": "mqtt.example.com", "username": "u", "password": "p", "tls": ["ca": "/ca"]]]) == nil)
        #expect(problem(file: ["broker": ["host": "127.0.0.1", "username": "u", "password": "p"]]) == nil, "loopback stays on the machine")
        #expect(problem(file: ["broker": ["username": "u"]]) == nil, "a user name alone is allowed")
    }

    @Test func theShadowModeAndTopicRoot() throws {
        #expect(try load([]).shadows == ShadowSettings(mode: .serve, topicRoot: "$aws"))
        #expect(try load(file: ["shadows": "cloud"], []).shadows.mode == .cloud)
        #expect(try load(file: ["shadows": ["mode": "serve", "topicRoot": "edge-shadows"]], []).shadows.topicRoot == "edge-shadows")
        #expect(try load(["--shadows", "cloud", "--shadow-topic-root", "shadows"]).shadows == ShadowSettings(mode: .cloud, topicRoot: "shadows"))
        #expect(problem(file: ["shadows": "remote"])?.setting == "shadows.mode")
        for root in ["a/+", "#", "a/b", "/a", "a/", "edge", String(repeating: "x", count: 65)] {
            #expect(problem(["--shadow-topic-root", root])?.setting == "shadows.topicRoot", "\(root)")
        }
        #expect(problem(file: ["shadows": ["mode": "serve", "root": "x"]])?.setting == "shadows.root")
    }
}

@Suite struct PasswordFileTests {
    @Test(arguments: [("s3cret\n", "s3cret"), ("s3cret", "s3cret"), ("s3cret\r\nrest\n", "s3cret"), ("p w\n", "p w"),
                      ("\nsecond\n", nil), ("", nil)] as [(String, String?)])
    func theFirstLineIsThePassword(_ text: String, _ expected: String?) {
        #expect(PasswordFile.password(from: Array(text.utf8)) == expected)
    }
}
