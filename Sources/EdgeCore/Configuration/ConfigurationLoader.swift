/// Builds an `AgentConfiguration` from a parsed config file and the command line.
public enum ConfigurationLoader {
    public static let usage = """
        usage: edge-agent [--config FILE] [options]
          --config FILE            JSON configuration file (flags override it)
          --thing-name NAME        the thing name, also the MQTT client id (required)
          --thing-group NAME       a thing group whose deployments apply (repeatable)
          --broker-host HOST       MQTT broker host (default localhost)
          --broker-port PORT       MQTT broker port (default 1883, 8883 with TLS)
          --tls-ca FILE            CA certificate; turns TLS on
          --tls-cert FILE          client certificate for mutual TLS
          --tls-key FILE           client private key for mutual TLS
          --state-dir DIR          where deployments, artifacts and logs live (default /var/lib/edge-agent)
          --health-interval SECS   seconds between health reports (default 30)
          --log-level LEVEL        debug, info, warning or error (default info)
          --runtime-dir DIR        folder holding python/edge_runtime.py
          --python PATH            the Python interpreter for python3 functions (default: python3 on PATH)
          --version                print the version and exit
        """

    static let fileFields = ["thingName", "thingGroups", "broker", "stateDir", "healthIntervalSeconds", "logLevel",
                             "runtimeDir", "python"]
    static let brokerFields = ["host", "port", "keepAliveSeconds", "tls"]
    static let tlsFields = ["ca", "cert", "key"]

    /// The value of `--config` in `arguments`, if any, so the caller can read the file first.
    public static func configPath(in arguments: [String]) throws(ConfigurationError) -> String? {
        guard let index = arguments.firstIndex(of: "--config") else { return nil }
        guard index + 1 < arguments.count else {
            throw ConfigurationError(setting: "--config", message: "needs a file path, for example --config /etc/edge-agent/config.json")
        }
        return arguments[index + 1]
    }

    /// Merges the file (if any) and the flags, then checks every setting.
    public static func load(file: JSONValue?, arguments: [String]) throws(ConfigurationError) -> AgentConfiguration {
        var settings = Settings()
        if let file { try settings.read(file: file) }
        try settings.read(arguments: arguments)
        return try settings.resolve()
    }
}

/// Settings as given, before they are checked together.
struct Settings {
    var thingName: String?
    var thingGroups: [String] = []
    var groupsFromFlags: [String] = []
    var brokerHost: String?
    var brokerPort: Int?
    var keepAlive: Int?
    var tlsCA: String?
    var tlsCert: String?
    var tlsKey: String?
    var stateDir: String?
    var healthInterval: Int?
    var logLevel: String?
    var runtimeDir: String?
    var python: String?

    mutating func read(file: JSONValue) throws(ConfigurationError) {
        guard let top = file.objectValue else {
            throw ConfigurationError(setting: "config file", message: "must hold a JSON object, not \(file.typeName)")
        }
        try checkKnown(top, ConfigurationLoader.fileFields, prefix: "")
        thingName = try string(top, "thingName", prefix: "")
        if let groups = top["thingGroups"] {
            guard let items = groups.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                throw ConfigurationError(setting: "thingGroups", message: "must be an array of group names, for example [\"cameras\"]")
            }
            thingGroups = items.compactMap(\.stringValue)
        }
        if let broker = top["broker"] {
            guard let members = broker.objectValue else {
                throw ConfigurationError(setting: "broker", message: "must be an object with host, port, keepAliveSeconds, tls")
            }
            try checkKnown(members, ConfigurationLoader.brokerFields, prefix: "broker.")
            brokerHost = try string(members, "host", prefix: "broker.")
            brokerPort = try int(members, "port", prefix: "broker.")
            keepAlive = try int(members, "keepAliveSeconds", prefix: "broker.")
            if let tls = members["tls"] {
                guard let tlsMembers = tls.objectValue else {
                    throw ConfigurationError(setting: "broker.tls", message: "must be an object with ca, cert, key (file paths)")
                }
                try checkKnown(tlsMembers, ConfigurationLoader.tlsFields, prefix: "broker.tls.")
                tlsCA = try string(tlsMembers, "ca", prefix: "broker.tls.")
                tlsCert = try string(tlsMembers, "cert", prefix: "broker.tls.")
                tlsKey = try string(tlsMembers, "key", prefix: "broker.tls.")
            }
        }
        stateDir = try string(top, "stateDir", prefix: "")
        healthInterval = try int(top, "healthIntervalSeconds", prefix: "")
        logLevel = try string(top, "logLevel", prefix: "")
        runtimeDir = try string(top, "runtimeDir", prefix: "")
        python = try string(top, "python", prefix: "")
    }

    mutating func read(arguments: [String]) throws(ConfigurationError) {
        var index = 0
        func value(_ flag: String) throws(ConfigurationError) -> String {
            guard index + 1 < arguments.count, !arguments[index + 1].hasPrefix("--") else {
                throw ConfigurationError(setting: flag, message: "needs a value\n\(ConfigurationLoader.usage)")
            }
            index += 1
            return arguments[index]
        }
        func number(_ flag: String) throws(ConfigurationError) -> Int {
            let text = try value(flag)
            guard let parsed = Int(text) else {
                throw ConfigurationError(setting: flag, message: "must be a whole number, not '\(text)'")
            }
            return parsed
        }
        while index < arguments.count {
            let flag = arguments[index]
            switch flag {
            case "--config": _ = try value(flag)
            case "--thing-name": thingName = try value(flag)
            case "--thing-group": groupsFromFlags.append(try value(flag))
            case "--broker-host": brokerHost = try value(flag)
            case "--broker-port": brokerPort = try number(flag)
            case "--tls-ca": tlsCA = try value(flag)
            case "--tls-cert": tlsCert = try value(flag)
            case "--tls-key": tlsKey = try value(flag)
            case "--state-dir": stateDir = try value(flag)
            case "--health-interval": healthInterval = try number(flag)
            case "--log-level": logLevel = try value(flag)
            case "--runtime-dir": runtimeDir = try value(flag)
            case "--python": python = try value(flag)
            default:
                throw ConfigurationError(setting: flag, message: "unknown option\n\(ConfigurationLoader.usage)")
            }
            index += 1
        }
    }

    func resolve() throws(ConfigurationError) -> AgentConfiguration {
        guard let thingName else {
            throw ConfigurationError(setting: "thingName", message: "is required: set \"thingName\" in the config file or pass --thing-name NAME")
        }
        if let problem = NameRule.thingName(thingName) {
            throw ConfigurationError(setting: "thingName", message: "'\(thingName)' is not valid: \(problem)")
        }
        var config = AgentConfiguration(thingName: thingName)
        config.thingGroups = groupsFromFlags.isEmpty ? thingGroups : groupsFromFlags
        for group in config.thingGroups {
            if let problem = NameRule.groupName(group) {
                throw ConfigurationError(setting: "thingGroups", message: "'\(group)' is not valid: \(problem)")
            }
        }
        if Set(config.thingGroups).count != config.thingGroups.count {
            throw ConfigurationError(setting: "thingGroups", message: "names a group twice; list each group once")
        }
        if let brokerHost { config.brokerHost = brokerHost }
        if let tlsCA {
            config.tls = .init(caFile: tlsCA, certFile: tlsCert, keyFile: tlsKey)
            config.brokerPort = 8883
        } else if tlsCert != nil || tlsKey != nil {
            throw ConfigurationError(setting: "broker.tls.ca", message: "a client certificate needs the CA that signed the broker's: set broker.tls.ca or --tls-ca")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ConfigurationError(setting: tlsCert == nil ? "broker.tls.cert" : "broker.tls.key",
                                     message: "mutual TLS needs both a certificate and its key: set broker.tls.cert and broker.tls.key")
        }
        if let brokerPort {
            guard (1...65535).contains(brokerPort) else {
                throw ConfigurationError(setting: "broker.port", message: "\(brokerPort) is not a port; use 1 to 65535")
            }
            config.brokerPort = brokerPort
        }
        if let keepAlive {
            guard (5...3600).contains(keepAlive) else {
                throw ConfigurationError(setting: "broker.keepAliveSeconds", message: "\(keepAlive) is out of range; use 5 to 3600")
            }
            config.keepAliveSeconds = keepAlive
        }
        if let stateDir {
            guard stateDir.hasPrefix("/") else {
                throw ConfigurationError(setting: "stateDir", message: "'\(stateDir)' must be an absolute path")
            }
            config.stateDir = stateDir
        }
        if let healthInterval {
            guard (1...86_400).contains(healthInterval) else {
                throw ConfigurationError(setting: "healthIntervalSeconds", message: "\(healthInterval) is out of range; use 1 to 86400")
            }
            config.healthIntervalSeconds = healthInterval
        }
        if let logLevel {
            guard let level = LogLevel(name: logLevel) else {
                throw ConfigurationError(setting: "logLevel", message: "'\(logLevel)' is not a level; use debug, info, warning or error")
            }
            config.logLevel = level
        }
        config.runtimeDir = runtimeDir
        if let python { config.python = python }
        return config
    }

    private func checkKnown(_ members: [String: JSONValue], _ known: [String], prefix: String) throws(ConfigurationError) {
        for key in members.keys.sorted() where !known.contains(key) {
            throw ConfigurationError(setting: prefix + key, message: "unknown setting; known here: \(known.joined(separator: ", "))")
        }
    }

    private func string(_ members: [String: JSONValue], _ key: String, prefix: String) throws(ConfigurationError) -> String? {
        guard let value = members[key] else { return nil }
        guard let text = value.stringValue, !text.isEmpty else {
            throw ConfigurationError(setting: prefix + key, message: "must be a non-empty string, not \(value.excerpt())")
        }
        return text
    }

    private func int(_ members: [String: JSONValue], _ key: String, prefix: String) throws(ConfigurationError) -> Int? {
        guard let value = members[key] else { return nil }
        guard let number = value.intValue else {
            throw ConfigurationError(setting: prefix + key, message: "must be a whole number, not \(value.excerpt())")
        }
        return Int(number)
    }
}
