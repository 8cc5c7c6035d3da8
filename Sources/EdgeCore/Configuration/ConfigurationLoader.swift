/// Builds an `AgentConfiguration` from a parsed config file and the command line.
public enum ConfigurationLoader {
    public static let usage = """
        usage: edge-agent [--config FILE] [options]
          --config FILE            JSON configuration file (flags override it)
          --thing-name NAME        the thing name, also the MQTT client id (required)
          --thing-group NAME       a thing group whose deployments apply (repeatable)
          --broker-host HOST       MQTT broker host (default localhost)
          --broker-port PORT       MQTT broker port (default 1883, 8883 with TLS)
          --broker HOST[:PORT]     a broker endpoint, repeatable: the nodes of a cluster, tried in turn
          --mqtt-protocol VERSION  auto (MQTT 5, else 3.1.1), 5 or 3.1.1 (default auto)
          --username NAME          the broker user name
          --password-file FILE     a file holding the broker password (or EDGE_BROKER_PASSWORD;
                                   never on the command line)
          --shadows MODE           serve (the agent is the shadow service, default) or cloud
                                   (the broker's side serves it: AWS IoT Core)
          --shadow-topic-root ROOT the shadow topics' root (default $aws)
          --tls-ca FILE            CA certificate; turns TLS on
          --tls-cert FILE          client certificate for mutual TLS
          --tls-key FILE           client private key for mutual TLS
          --state-dir DIR          where deployments, artifacts and logs live (default /var/lib/edge-agent)
          --health-interval SECS   seconds between health reports (default 30)
          --log-level LEVEL        debug, info, warning or error (default info)
          --runtime-dir DIR        folder holding python/edge_runtime.py
          --python PATH            the Python interpreter for python3 functions (default: python3 on PATH)
          --function-user NAME     the user functions run as unless their deployment names one
                                   (default edgefn when the agent is root)
          --function-uids RANGE    the uids functions get one each of, FIRST-LAST, or off (default
                                   61000-61183; used when root and no user is named)
          --allow-root-functions   let functions run as root
          --cgroups MODE           auto, v2, v1 or off (default auto: what the machine has)
          --cgroup-root PATH       the agent's cgroup subtree: absolute from each hierarchy's root,
                                   or relative to the agent's own cgroup (default: see docs/resource-caps.md)
          --allow-uncapped         run functions whose memory, cpus or pids limits no cgroup can enforce
          --version                print the version and exit
        """

    static let fileFields = ["thingName", "thingGroups", "broker", "brokers", "shadows", "stateDir", "healthIntervalSeconds",
                             "logLevel", "runtimeDir", "python", "functions", "cgroups", "outbox", "deployments"]
    static let functionsFields = ["user", "uids", "allowRoot", "limits"]
    static let cgroupsFields = ["mode", "root", "allowUncapped"]
    static let brokerFields = ["host", "port", "keepAliveSeconds", "reconnectMaxMs", "tls", "protocol", "username", "password",
                               "passwordFile", "connectTimeoutMs", "allowPasswordWithoutTLS"]
    static let tlsFields = ["ca", "cert", "key"]
    static let outboxFields = ["maxMessages", "maxBytes", "maxInFlight", "sync"]

    /// The value of `--config` in `arguments`, if any, so the caller can read the file first.
    public static func configPath(in arguments: [String]) throws(ConfigurationError) -> String? {
        guard let index = arguments.firstIndex(of: "--config") else { return nil }
        guard index + 1 < arguments.count else {
            throw ConfigurationError(setting: "--config", message: "needs a file path, for example --config /etc/edge-agent/config.json")
        }
        return arguments[index + 1]
    }

    /// Merges the file (if any), the flags and the environment (EDGE_BROKER_USERNAME and
    /// EDGE_BROKER_PASSWORD, used when neither names credentials), then checks every setting.
    public static func load(file: JSONValue?, arguments: [String],
                            environment: [String: String] = [:]) throws(ConfigurationError) -> AgentConfiguration {
        var settings = Settings()
        if let file { try settings.read(file: file) }
        try settings.read(arguments: arguments)
        settings.read(environment: environment)
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
    var brokerHostFromFlags = false
    /// `brokers` in the file, or `--broker` flags (which replace the file's).
    var brokerList: [Endpoint] = []
    var brokerListFromFlags: [Endpoint] = []
    var mqttProtocol: String?
    var username: String?
    var password: String?
    var passwordFile: String?
    var environmentUsername: String?
    var environmentPassword: String?
    var connectTimeout: Int?
    var allowPasswordWithoutTLS: Bool?
    var shadowMode: String?
    var shadowTopicRoot: String?
    var keepAlive: Int?
    var reconnectMax: Int?
    var tlsCA: String?
    var tlsCert: String?
    var tlsKey: String?
    var stateDir: String?
    var healthInterval: Int?
    var logLevel: String?
    var runtimeDir: String?
    var python: String?
    var functionUser: String?
    var functionUids: String?
    var allowRootFunctions: Bool?
    var defaultLimits = ResourceLimits()
    var cgroupMode: String?
    var cgroupRoot: String?
    var allowUncapped: Bool?
    var outboxMaxMessages: Int?
    var outboxMaxBytes: Int?
    var outboxMaxInFlight: Int?
    var outboxSync: String?
    /// `deployments.trustedKeys`, checked as read (DeploymentTrustSetting.swift).
    var trustedKeys: [String: [UInt8]] = [:]

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
        if let members = try section(top, "broker", known: ConfigurationLoader.brokerFields, holding: "host, port, keepAliveSeconds, reconnectMaxMs, tls") {
            brokerHost = try string(members, "host", prefix: "broker.")
            brokerPort = try int(members, "port", prefix: "broker.")
            keepAlive = try int(members, "keepAliveSeconds", prefix: "broker.")
            reconnectMax = try int(members, "reconnectMaxMs", prefix: "broker.")
            try readConnection(members)
            if let tlsMembers = try section(members, "tls", in: "broker.", known: ConfigurationLoader.tlsFields, holding: "ca, cert, key (file paths)") {
                tlsCA = try string(tlsMembers, "ca", prefix: "broker.tls.")
                tlsCert = try string(tlsMembers, "cert", prefix: "broker.tls.")
                tlsKey = try string(tlsMembers, "key", prefix: "broker.tls.")
            }
        }
        try readBrokerList(top["brokers"])
        try readShadows(top["shadows"])
        stateDir = try string(top, "stateDir", prefix: "")
        healthInterval = try int(top, "healthIntervalSeconds", prefix: "")
        logLevel = try string(top, "logLevel", prefix: "")
        runtimeDir = try string(top, "runtimeDir", prefix: "")
        python = try string(top, "python", prefix: "")
        if let members = try section(top, "functions", known: ConfigurationLoader.functionsFields, holding: "user, uids, allowRoot, limits") {
            functionUser = try string(members, "user", prefix: "functions.")
            functionUids = try string(members, "uids", prefix: "functions.")
            allowRootFunctions = try bool(members, "allowRoot", prefix: "functions.")
            if members["limits"] != nil {
                let reader = FieldReader()
                defaultLimits = FunctionSpecParser.parseLimits(members["limits"], at: "functions.limits", reader: reader)
                if let issue = reader.issues.first {
                    throw ConfigurationError(setting: issue.path, message: issue.message + (issue.value.map { " (got \($0))" } ?? ""))
                }
            }
        }
        if let members = try section(top, "outbox", known: ConfigurationLoader.outboxFields, holding: "maxMessages, maxBytes, maxInFlight, sync") {
            outboxMaxMessages = try int(members, "maxMessages", prefix: "outbox.")
            outboxMaxBytes = try int(members, "maxBytes", prefix: "outbox.")
            outboxMaxInFlight = try int(members, "maxInFlight", prefix: "outbox.")
            outboxSync = try string(members, "sync", prefix: "outbox.")
        }
        try readDeployments(top)
        if let members = try section(top, "cgroups", known: ConfigurationLoader.cgroupsFields, holding: "mode, root, allowUncapped") {
            cgroupMode = try string(members, "mode", prefix: "cgroups.")
            cgroupRoot = try string(members, "root", prefix: "cgroups.")
            allowUncapped = try bool(members, "allowUncapped", prefix: "cgroups.")
        }
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
            case "--broker-host":
                brokerHost = try value(flag)
                brokerHostFromFlags = true
            case "--broker-port":
                brokerPort = try number(flag)
                brokerHostFromFlags = true
            case "--broker": brokerListFromFlags.append(try Settings.endpoint(flag: try value(flag)))
            case "--mqtt-protocol": mqttProtocol = try value(flag)
            case "--username": username = try value(flag)
            case "--password-file": passwordFile = try value(flag)
            case "--password":
                throw ConfigurationError(setting: flag, message: "a password on the command line is visible to every user of the machine: use --password-file FILE, broker.passwordFile, or EDGE_BROKER_PASSWORD")
            case "--shadows": shadowMode = try value(flag)
            case "--shadow-topic-root": shadowTopicRoot = try value(flag)
            case "--tls-ca": tlsCA = try value(flag)
            case "--tls-cert": tlsCert = try value(flag)
            case "--tls-key": tlsKey = try value(flag)
            case "--state-dir": stateDir = try value(flag)
            case "--health-interval": healthInterval = try number(flag)
            case "--log-level": logLevel = try value(flag)
            case "--runtime-dir": runtimeDir = try value(flag)
            case "--python": python = try value(flag)
            case "--function-user": functionUser = try value(flag)
            case "--function-uids": functionUids = try value(flag)
            case "--allow-root-functions": allowRootFunctions = true
            case "--cgroups": cgroupMode = try value(flag)
            case "--cgroup-root": cgroupRoot = try value(flag)
            case "--allow-uncapped": allowUncapped = true
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
        if let tlsCA {
            config.tls = .init(caFile: tlsCA, certFile: tlsCert, keyFile: tlsKey)
        } else if tlsCert != nil || tlsKey != nil {
            throw ConfigurationError(setting: "broker.tls.ca", message: "a client certificate needs the CA that signed the broker's: set broker.tls.ca or --tls-ca")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ConfigurationError(setting: tlsCert == nil ? "broker.tls.cert" : "broker.tls.key",
                                     message: "mutual TLS needs both a certificate and its key: set broker.tls.cert and broker.tls.key")
        }
        try resolveBrokers(into: &config)
        if let keepAlive {
            guard (5...3600).contains(keepAlive) else {
                throw ConfigurationError(setting: "broker.keepAliveSeconds", message: "\(keepAlive) is out of range; use 5 to 3600")
            }
            config.keepAliveSeconds = keepAlive
        }
        if let reconnectMax {
            let range = ReconnectBackoff.maxMsRange
            guard range.contains(reconnectMax) else {
                throw ConfigurationError(setting: "broker.reconnectMaxMs",
                                         message: "\(reconnectMax) is out of range; use \(range.lowerBound) to \(range.upperBound)")
            }
            config.reconnectMaxMs = reconnectMax
        }
        try resolveOutbox(into: &config)
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
        if let functionUser {
            if let problem = NameRule.check(functionUser, extra: "._-", what: "a user name", maxLength: 32) {
                throw ConfigurationError(setting: "functions.user", message: "'\(functionUser)' is not valid: \(problem)")
            }
            config.functionUser = functionUser
        }
        if let functionUids {
            if functionUids == "off" {
                config.functionUids = nil
            } else {
                switch FunctionUidRange.parse(functionUids) {
                case .success(let range): config.functionUids = range
                case .failure(let problem): throw ConfigurationError(setting: "functions.uids", message: problem.message)
                }
            }
        }
        config.allowRootFunctions = allowRootFunctions ?? false
        config.deploymentTrust = DeploymentTrust(keys: trustedKeys)
        config.defaultLimits = defaultLimits
        if let cgroupMode {
            guard let mode = CgroupMode(rawValue: cgroupMode) else {
                throw ConfigurationError(setting: "cgroups.mode", message: "'\(cgroupMode)' is not a mode; use auto, v2, v1 or off")
            }
            config.cgroupMode = mode
        }
        if let cgroupRoot {
            let parts = cgroupRoot.split(separator: "/")
            guard !parts.isEmpty || cgroupRoot == "/", !parts.contains(where: { $0 == ".." || $0 == "." }) else {
                throw ConfigurationError(setting: "cgroups.root", message: "'\(cgroupRoot)' must be a cgroup path without '.' or '..', for example edge-agent or /edge-agent")
            }
            config.cgroupRoot = cgroupRoot
        }
        config.allowUncapped = allowUncapped ?? false
        return config
    }

    /// The members of the object at `key`, every one of them known; nil when `key` is absent.
    func section(_ members: [String: JSONValue], _ key: String, in prefix: String = "", known: [String],
                         holding description: String) throws(ConfigurationError) -> [String: JSONValue]? {
        guard let value = members[key] else { return nil }
        guard let object = value.objectValue else {
            throw ConfigurationError(setting: prefix + key, message: "must be an object with \(description)")
        }
        try checkKnown(object, known, prefix: "\(prefix)\(key).")
        return object
    }

    func checkKnown(_ members: [String: JSONValue], _ known: [String], prefix: String) throws(ConfigurationError) {
        for key in members.keys.sorted() where !known.contains(key) {
            throw ConfigurationError(setting: prefix + key, message: "unknown setting; known here: \(known.joined(separator: ", "))")
        }
    }

    func string(_ members: [String: JSONValue], _ key: String, prefix: String) throws(ConfigurationError) -> String? {
        guard let value = members[key] else { return nil }
        guard let text = value.stringValue, !text.isEmpty else {
            throw ConfigurationError(setting: prefix + key, message: "must be a non-empty string, not \(value.excerpt())")
        }
        return text
    }

    func bool(_ members: [String: JSONValue], _ key: String, prefix: String) throws(ConfigurationError) -> Bool? {
        guard let value = members[key] else { return nil }
        guard let flag = value.boolValue else {
            throw ConfigurationError(setting: prefix + key, message: "must be true or false, not \(value.excerpt())")
        }
        return flag
    }

    func int(_ members: [String: JSONValue], _ key: String, prefix: String) throws(ConfigurationError) -> Int? {
        guard let value = members[key] else { return nil }
        guard let number = value.intValue else {
            throw ConfigurationError(setting: prefix + key, message: "must be a whole number, not \(value.excerpt())")
        }
        return Int(number)
    }
}

extension Settings {
    func resolveOutbox(into config: inout AgentConfiguration) throws(ConfigurationError) {
        func bounded(_ value: Int?, _ name: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
            guard let value else { return nil }
            guard range.contains(value) else {
                throw ConfigurationError(setting: "outbox.\(name)", message: "\(value) is out of range; use \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }
        if let value = try bounded(outboxMaxMessages, "maxMessages", OutboxLimits.maxMessagesRange) { config.outbox.maxMessages = value }
        if let value = try bounded(outboxMaxBytes, "maxBytes", OutboxLimits.maxBytesRange) { config.outbox.maxBytes = value }
        if let value = try bounded(outboxMaxInFlight, "maxInFlight", OutboxLimits.maxInFlightRange) { config.outbox.maxInFlight = value }
        if let outboxSync {
            guard let sync = OutboxLimits.Sync(rawValue: outboxSync) else {
                throw ConfigurationError(setting: "outbox.sync", message: "'\(outboxSync)' is not a mode; use normal (survives the agent being killed) or full (also a power cut)")
            }
            config.outbox.sync = sync
        }
    }
}
