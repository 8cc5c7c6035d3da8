/// The retained document on `edge/things/{thing}/health` (docs/topics.md, "Health"), built only
/// here; the agent gathers the figures into it.
public struct HealthDocument: Sendable, Equatable {
    public struct Connection: Sendable, Equatable {
        public var connected: Bool
        public var broker: String
        public var tls: Bool
        public var protocolVersion: Int
        public var reconnects: Int
        /// Every endpoint the agent may use, in order; `broker` is the one it is on (or tries next).
        public var endpoints: [String]
        /// Why the last connect attempt failed, if one failed since the agent started.
        public var lastFailure: String?
        /// Sessions the broker confirmed the subscriptions of but delivered nothing to (found by
        /// `DeliveryProbe`), each subscribed again.
        public var deafSessions: Int
        /// The broker delivered the agent's check message on this connection.
        public var delivering: Bool

        public init(connected: Bool, broker: String, tls: Bool, protocolVersion: Int, reconnects: Int,
                    endpoints: [String] = [], lastFailure: String? = nil, deafSessions: Int = 0, delivering: Bool = false) {
            self.connected = connected
            self.broker = broker
            self.tls = tls
            self.protocolVersion = protocolVersion
            self.reconnects = reconnects
            self.endpoints = endpoints.isEmpty ? [broker] : endpoints
            self.lastFailure = lastFailure
            self.deafSessions = deafSessions
            self.delivering = delivering
        }

        var json: JSONValue {
            var members: [String: JSONValue] = [
                "connected": .bool(connected), "broker": .string(broker), "tls": .bool(tls),
                "protocolVersion": .int(Int64(protocolVersion)), "reconnects": .int(Int64(reconnects)),
                "endpoints": .array(endpoints.map { .string($0) }), "deafSessions": .int(Int64(deafSessions)),
                "delivering": .bool(delivering),
            ]
            if let lastFailure { members["lastFailure"] = .string(lastFailure) }
            return .object(members)
        }
    }

    public struct Function: Sendable, Equatable {
        public var state: FunctionState
        public var version: String
        public var lifecycle: FunctionSpec.Lifecycle
        public var pids: [Int32]
        public var restarts: Int
        public var invocations: Int
        public var errors: Int
        public var timeouts: Int
        public var queueDepth: Int
        public var queueCapacity: Int
        public var dropped: Int
        /// p50 and p99 of the recent invocations, when there were some.
        public var latencyMs: (p50: Double, p99: Double)?
        public var lastError: String?
        public var user: String
        public var limits: JSONValue
        public var usage: JSONValue
        /// The function's own publishes: sent, and refused for its publish rate.
        public var publishes: (sent: Int, refused: Int) = (0, 0)

        public init(state: FunctionState, version: String, lifecycle: FunctionSpec.Lifecycle, pids: [Int32], restarts: Int,
                    invocations: Int, errors: Int, timeouts: Int, queueDepth: Int, queueCapacity: Int, dropped: Int,
                    latencyMs: (p50: Double, p99: Double)?, lastError: String?, user: String, limits: JSONValue, usage: JSONValue) {
            self.state = state
            self.version = version
            self.lifecycle = lifecycle
            self.pids = pids
            self.restarts = restarts
            self.invocations = invocations
            self.errors = errors
            self.timeouts = timeouts
            self.queueDepth = queueDepth
            self.queueCapacity = queueCapacity
            self.dropped = dropped
            self.latencyMs = latencyMs
            self.lastError = lastError
            self.user = user
            self.limits = limits
            self.usage = usage
        }

        public static func == (lhs: Function, rhs: Function) -> Bool { lhs.json == rhs.json }

        public var json: JSONValue {
            var entry: [String: JSONValue] = [
                "state": .string(state.rawValue), "version": .string(version), "lifecycle": .string(lifecycle.rawValue),
                "pids": .array(pids.map { .int(Int64($0)) }), "restarts": .int(Int64(restarts)),
                "invocations": .int(Int64(invocations)), "errors": .int(Int64(errors)), "timeouts": .int(Int64(timeouts)),
                "queue": ["depth": .int(Int64(queueDepth)), "capacity": .int(Int64(queueCapacity)), "dropped": .int(Int64(dropped))],
                "user": .string(user), "limits": limits, "usage": usage,
                "publish": ["sent": .int(Int64(publishes.sent)), "refused": .int(Int64(publishes.refused))],
            ]
            if let pid = pids.first { entry["pid"] = .int(Int64(pid)) }
            if let latencyMs { entry["latencyMs"] = ["p50": .double(rounded(latencyMs.p50)), "p99": .double(rounded(latencyMs.p99))] }
            if let lastError { entry["lastError"] = .string(lastError) }
            return .object(entry)
        }
    }

    /// The outbox (docs/topics.md, "The outbox"): messages waiting for the broker, in flight,
    /// and what was lost, with why the store is not on disk, if it is not.
    public struct Outbox: Sendable, Equatable {
        /// Stored, not yet handed to the broker.
        public var queued: Int
        /// Handed to the broker, its acknowledgement awaited.
        public var inFlight: Int
        /// Payload bytes stored (waiting and in flight).
        public var storedBytes: Int
        /// Dropped, oldest first, for room (or not storable while offline).
        public var dropped: Int
        /// Waiting health reports replaced by a newer one.
        public var replaced: Int
        /// Refused by the MQTT client for good (an invalid topic, too large).
        public var refused: Int
        public var durable: Bool
        public var problem: String?

        public init(queued: Int, inFlight: Int = 0, storedBytes: Int = 0, dropped: Int, replaced: Int = 0, refused: Int,
                    durable: Bool = true, problem: String? = nil) {
            self.queued = queued
            self.inFlight = inFlight
            self.storedBytes = storedBytes
            self.dropped = dropped
            self.replaced = replaced
            self.refused = refused
            self.durable = durable
            self.problem = problem
        }

        public var json: JSONValue {
            var members: [String: JSONValue] = [
                "queued": .int(Int64(queued)), "inFlight": .int(Int64(inFlight)), "storedBytes": .int(Int64(storedBytes)),
                "dropped": .int(Int64(dropped)), "replaced": .int(Int64(replaced)), "refused": .int(Int64(refused)),
                "durable": .bool(durable),
            ]
            if let problem { members["problem"] = .string(problem) }
            return .object(members)
        }
    }

    public var thing: String
    public var agentVersion: String
    public var uptimeSeconds: Int64
    public var timestamp: Int64
    public var connection: Connection
    public var deployment: DeploymentStatus?
    public var functions: [String: Function]
    /// Which cgroup version is in use and with what, or why none.
    public var cgroups: JSONValue
    public var outbox: Outbox
    /// The state directory's file system: bytes still available to write, and its size.
    public struct Disk: Sendable, Equatable {
        public var availableBytes: Int64
        public var totalBytes: Int64

        public init(availableBytes: Int64, totalBytes: Int64) {
            self.availableBytes = availableBytes
            self.totalBytes = totalBytes
        }
    }

    /// nil when it cannot be told.
    public var disk: Disk?
    /// The thing groups the agent takes deployments from (`thingGroups`), for the operator's fleet view.
    public var groups: [String]

    public init(thing: String, agentVersion: String, uptimeSeconds: Int64, timestamp: Int64, connection: Connection,
                deployment: DeploymentStatus?, functions: [String: Function], cgroups: JSONValue, outbox: Outbox, groups: [String] = [],
                disk: Disk? = nil) {
        self.thing = thing
        self.disk = disk
        self.groups = groups
        self.agentVersion = agentVersion
        self.uptimeSeconds = uptimeSeconds
        self.timestamp = timestamp
        self.connection = connection
        self.deployment = deployment
        self.functions = functions
        self.cgroups = cgroups
        self.outbox = outbox
    }

    public var json: JSONValue {
        var deploymentEntry: [String: JSONValue] = [:]
        if let deployment {
            deploymentEntry["status"] = .string(deployment.state.rawValue)
            if let id = deployment.deploymentId { deploymentEntry["deploymentId"] = .string(id) }
            if let revision = deployment.revision { deploymentEntry["revision"] = .int(revision) }
        }
        return [
            "thing": .string(thing), "status": "online", "agentVersion": .string(agentVersion),
            "uptimeSeconds": .int(uptimeSeconds), "timestamp": .int(timestamp),
            "connection": connection.json,
            "deployment": .object(deploymentEntry),
            "functions": .object(functions.mapValues(\.json)),
            "cgroups": cgroups,
            "outbox": outbox.json,
            "groups": .array(groups.map { .string($0) }),
            "disk": disk.map { ["availableBytes": .int($0.availableBytes), "totalBytes": .int($0.totalBytes)] } ?? .null,
        ]
    }

    /// What the health topic says when the agent is gone: its clean stop, or the last will.
    public static func offline(thing: String, reason: String, timestamp: Int64?, groups: [String] = []) -> JSONValue {
        var members: [String: JSONValue] = ["thing": .string(thing), "status": "offline", "reason": .string(reason)]
        if !groups.isEmpty { members["groups"] = .array(groups.map { .string($0) }) }
        if let timestamp { members["timestamp"] = .int(timestamp) }
        return .object(members)
    }
}

private func rounded(_ value: Double) -> Double {
    (value * 1000).rounded() / 1000
}
