/// The broker side of the configuration: endpoints, protocol, credentials, shadow mode.
extension Settings {
    /// An endpoint as given: the port is filled in when TLS is known.
    struct Endpoint: Equatable {
        var host: String
        var port: Int?
        var setting: String
    }

    static let endpointFields = ["host", "port"]
    static let shadowsFields = ["mode", "topicRoot"]
    static let maxEndpoints = 16

    mutating func readConnection(_ members: [String: JSONValue]) throws(ConfigurationError) {
        mqttProtocol = try string(members, "protocol", prefix: "broker.")
        username = try string(members, "username", prefix: "broker.")
        password = try string(members, "password", prefix: "broker.")
        passwordFile = try string(members, "passwordFile", prefix: "broker.")
        connectTimeout = try int(members, "connectTimeoutMs", prefix: "broker.")
        allowPasswordWithoutTLS = try bool(members, "allowPasswordWithoutTLS", prefix: "broker.")
        if password != nil && passwordFile != nil {
            throw ConfigurationError(setting: "broker.password", message: "set broker.password or broker.passwordFile, not both")
        }
    }

    mutating func readBrokerList(_ value: JSONValue?) throws(ConfigurationError) {
        guard let value else { return }
        guard let items = value.arrayValue, !items.isEmpty else {
            throw ConfigurationError(setting: "brokers", message: "must be a non-empty array of endpoints, for example [{\"host\": \"node1\", \"port\": 1883}, {\"host\": \"node2\"}]")
        }
        for (index, item) in items.enumerated() {
            let at = "brokers[\(index)]"
            guard let members = item.objectValue else {
                throw ConfigurationError(setting: at, message: "must be an object with host and port, not \(item.excerpt())")
            }
            try checkKnown(members, Settings.endpointFields, prefix: at + ".")
            guard let host = try string(members, "host", prefix: at + ".") else {
                throw ConfigurationError(setting: at + ".host", message: "is required")
            }
            brokerList.append(Endpoint(host: host, port: try int(members, "port", prefix: at + "."), setting: at))
        }
    }

    mutating func readShadows(_ value: JSONValue?) throws(ConfigurationError) {
        guard let value else { return }
        if let mode = value.stringValue {
            shadowMode = mode
            return
        }
        guard let members = value.objectValue else {
            throw ConfigurationError(setting: "shadows", message: "must be \"serve\", \"cloud\", or an object with mode and topicRoot")
        }
        try checkKnown(members, Settings.shadowsFields, prefix: "shadows.")
        shadowMode = try string(members, "mode", prefix: "shadows.")
        shadowTopicRoot = try string(members, "topicRoot", prefix: "shadows.")
    }

    mutating func read(environment: [String: String]) {
        environmentUsername = environment["EDGE_BROKER_USERNAME"].flatMap { $0.isEmpty ? nil : $0 }
        environmentPassword = environment["EDGE_BROKER_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `HOST`, `HOST:PORT`, or `[IPv6]:PORT` from `--broker`.
    static func endpoint(flag text: String) throws(ConfigurationError) -> Endpoint {
        let bad = ConfigurationError(setting: "--broker", message: "'\(text)' is not HOST or HOST:PORT (an IPv6 address in brackets: [::1]:1883)")
        var host = Substring(text), portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bad }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw bad }
                portText = rest.dropFirst()
            }
        } else if let colon = text.firstIndex(of: ":") {
            guard text[text.index(after: colon)...].firstIndex(of: ":") == nil else { throw bad }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { throw bad }
        var port: Int?
        if let portText {
            guard let parsed = Int(portText) else { throw bad }
            port = parsed
        }
        return Endpoint(host: String(host), port: port, setting: "--broker")
    }

    func resolveBrokers(into config: inout AgentConfiguration) throws(ConfigurationError) {
        let defaultPort = config.tls == nil ? 1883 : 8883
        var given: [Endpoint]
        if !brokerListFromFlags.isEmpty {
            guard !brokerHostFromFlags else {
                throw ConfigurationError(setting: "--broker", message: "use --broker for every endpoint, or --broker-host and --broker-port for one, not both")
            }
            given = brokerListFromFlags
        } else if brokerHostFromFlags || brokerList.isEmpty {
            given = [Endpoint(host: brokerHost ?? "localhost", port: brokerPort, setting: "broker")]
        } else {
            guard brokerHost == nil && brokerPort == nil else {
                throw ConfigurationError(setting: "brokers", message: "lists the endpoints; remove broker.host and broker.port (keep the rest of broker: tls, credentials, protocol)")
            }
            given = brokerList
        }
        guard given.count <= Settings.maxEndpoints else {
            throw ConfigurationError(setting: "brokers", message: "lists \(given.count) endpoints; at most \(Settings.maxEndpoints)")
        }
        var endpoints: [BrokerEndpoint] = []
        for endpoint in given {
            let port = endpoint.port ?? defaultPort
            guard (1...65535).contains(port) else {
                throw ConfigurationError(setting: endpoint.setting + ".port", message: "\(port) is not a port; use 1 to 65535")
            }
            let resolved = BrokerEndpoint(host: endpoint.host, port: port)
            guard !endpoints.contains(resolved) else {
                throw ConfigurationError(setting: endpoint.setting, message: "\(resolved) is listed twice; list each endpoint once")
            }
            endpoints.append(resolved)
        }
        config.brokers = endpoints
        if let mqttProtocol {
            guard let setting = MQTTProtocolSetting(rawValue: mqttProtocol) else {
                throw ConfigurationError(setting: "broker.protocol", message: "'\(mqttProtocol)' is not a version; use auto (MQTT 5, falling back to 3.1.1), 5 or 3.1.1")
            }
            config.protocolSetting = setting
        }
        if let connectTimeout {
            guard (1000...120_000).contains(connectTimeout) else {
                throw ConfigurationError(setting: "broker.connectTimeoutMs", message: "\(connectTimeout) is out of range; use 1000 to 120000")
            }
            config.connectTimeoutMs = connectTimeout
        }
        config.allowPasswordWithoutTLS = allowPasswordWithoutTLS ?? false
        try resolveCredentials(into: &config)
        try resolveShadows(into: &config)
    }

    private func resolveCredentials(into config: inout AgentConfiguration) throws(ConfigurationError) {
        // A password file (flag or file) wins over a password in the file; the environment is
        // used only when neither the file nor the flags name credentials.
        let configured = username != nil || password != nil || passwordFile != nil
        let name = configured ? username : environmentUsername ?? (environmentPassword != nil ? username : nil)
        let secret = configured ? password : environmentPassword
        guard name != nil || secret != nil || passwordFile != nil else { return }
        guard let name else {
            throw ConfigurationError(setting: "broker.username", message: "a password needs a user name: set broker.username or --username (or EDGE_BROKER_USERNAME)")
        }
        if name.utf8.count > 65535 || name.utf8.contains(0) {
            throw ConfigurationError(setting: "broker.username", message: "must be at most 65535 bytes, without NUL")
        }
        if let passwordFile, !passwordFile.hasPrefix("/") {
            throw ConfigurationError(setting: "broker.passwordFile", message: "'\(passwordFile)' must be an absolute path")
        }
        config.credentials = .init(username: name, password: passwordFile == nil ? secret : nil, passwordFile: passwordFile)
        let hasPassword = secret != nil || passwordFile != nil
        if hasPassword, config.tls == nil, !config.allowPasswordWithoutTLS,
           let remote = config.brokers.first(where: { !$0.isLoopback }) {
            throw ConfigurationError(setting: "broker.tls", message: "the password would cross the network to \(remote) in clear text: turn TLS on (broker.tls.ca), or set broker.allowPasswordWithoutTLS to true on a network you trust")
        }
    }

    private func resolveShadows(into config: inout AgentConfiguration) throws(ConfigurationError) {
        if let shadowMode {
            guard let mode = ShadowSettings.Mode(rawValue: shadowMode) else {
                throw ConfigurationError(setting: "shadows.mode", message: "'\(shadowMode)' is not a mode; use serve (the agent serves the shadow API) or cloud (the broker's side serves it, as AWS IoT Core does)")
            }
            config.shadows.mode = mode
        }
        if let root = shadowTopicRoot {
            guard !root.isEmpty, root.utf8.count <= 64, root != "edge",
                  !root.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") || $0 == UInt8(ascii: "/") || $0 == 0 }) else {
                throw ConfigurationError(setting: "shadows.topicRoot", message: "'\(root)' must be one topic level of up to 64 bytes, without wildcards and other than edge, for example $aws or shadows")
            }
            config.shadows.topicRoot = root
        }
    }
}
