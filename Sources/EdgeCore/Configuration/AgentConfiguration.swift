/// The agent's settings, from a JSON file and command-line flags (flags win).
public struct AgentConfiguration: Sendable, Equatable {
    public struct TLS: Sendable, Equatable {
        public var caFile: String
        public var certFile: String?
        public var keyFile: String?
    }

    /// Who the agent is to the broker; the password is never logged.
    public struct Credentials: Sendable, Equatable {
        public var username: String
        /// Given in the file or by EDGE_BROKER_PASSWORD; nil when it comes from `passwordFile`.
        public var password: String?
        /// A file that holds the password (its first line), read at start.
        public var passwordFile: String?
    }

    public var thingName: String
    public var thingGroups: [String] = []
    /// The broker's addresses, tried in turn: one broker, or the nodes of a cluster.
    public var brokers = [BrokerEndpoint(host: "localhost", port: 1883)]
    /// MQTT 5, 3.1.1, or 5 falling back to 3.1.1 (`broker.protocol`).
    public var protocolSetting = MQTTProtocolSetting.auto
    public var credentials: Credentials?
    /// How long a broker may take to answer a CONNECT.
    public var connectTimeoutMs = 10_000
    /// Send a password without TLS to a broker that is not on this machine.
    public var allowPasswordWithoutTLS = false
    /// Who serves the thing's shadows, and on which topics.
    public var shadows = ShadowSettings()
    public var keepAliveSeconds = 30
    /// The longest wait between connect attempts (ReconnectBackoff): how soon the agent is back
    /// once its broker is.
    public var reconnectMaxMs = ReconnectBackoff.defaultMaxMs
    public var tls: TLS?
    public var stateDir = "/var/lib/edge-agent"
    /// The outbox's bounds and how it syncs (`outbox` in the file).
    public var outbox = OutboxLimits()
    public var healthIntervalSeconds = 30
    public var logLevel: LogLevel = .info
    public var runtimeDir: String?
    /// The interpreter for python3 functions: a path, or a name looked up on PATH at start.
    public var python = "python3"
    /// The user functions run as when their spec names none; nil: `edgefn` when the agent is root,
    /// else the agent's own user.
    public var functionUser: String?
    /// The uids functions get one each of (`functions.uids`), or nil (`off`); used only when the
    /// agent is root and neither the configuration nor the function's spec names a user.
    public var functionUids: FunctionUidRange? = .standard
    /// Whether a function may run as root (uid 0); off unless the operator says so.
    public var allowRootFunctions = false
    /// Limits every function gets unless its deployment sets them.
    public var defaultLimits = ResourceLimits()
    public var cgroupMode: CgroupMode = .auto
    /// The agent's cgroup subtree: absolute from each hierarchy's root, or relative to the agent's own cgroup.
    public var cgroupRoot: String?
    /// Whether functions with memory, CPU or pids limits may run when no cgroup can enforce them.
    public var allowUncapped = false
    /// The keys whose signatures deployments must carry (`deployments.trustedKeys`); none: unsigned
    /// documents are applied.
    public var deploymentTrust = DeploymentTrust()

    public init(thingName: String) { self.thingName = thingName }

    /// The first broker endpoint's host and port (the only one, unless `brokers` lists a cluster).
    public var brokerHost: String { brokers[0].host }
    public var brokerPort: Int { brokers[0].port }
}

/// Who serves the AWS IoT Device Shadow API for the thing, and under which topic root.
public struct ShadowSettings: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// The agent is the shadow service (any broker that allows `$aws/...`).
        case serve
        /// The broker's side serves it (AWS IoT Core, or another implementation): the agent is a
        /// device client of it.
        case cloud
    }

    public var mode = Mode.serve
    /// The root of the shadow topics, `$aws` as AWS IoT has it; another root (for brokers that
    /// refuse `$` topics) is not understood by unmodified AWS SDK clients.
    public var topicRoot = "$aws"

    public init(mode: Mode = .serve, topicRoot: String = "$aws") {
        self.mode = mode
        self.topicRoot = topicRoot
    }
}

/// Which cgroup version the agent uses: what the machine has (`auto`), one forced, or none.
public enum CgroupMode: String, Sendable, CaseIterable {
    case auto, v1, v2, off
}

/// Severity of a log line.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug, info, warning, error

    public var name: String {
        switch self {
        case .debug: return "debug"
        case .info: return "info"
        case .warning: return "warning"
        case .error: return "error"
        }
    }

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A setting that stops the agent at start, with the fix.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var setting: String
    public var message: String

    public init(setting: String, message: String) {
        self.setting = setting
        self.message = message
    }

    public var description: String { "configuration: \(setting): \(message)" }
}
