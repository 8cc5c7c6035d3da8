#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// Builds the retained document on `edge/things/{thing}/health`.
public struct HealthReport {
    public static let agentVersion = "0.1.0"

    var thing: String
    var startedMs: Int64
    var broker: String
    var tls: Bool
    var connected: Bool
    var protocolVersion: Int
    var reconnects: Int
    var deployment: DeploymentStatus?
    var runners: [FunctionRunner]
    var outboxQueued: Int
    var outboxDropped: Int
    var refused: Int
    /// Which cgroup version is in use and with what, or why none.
    var cgroups: JSONValue

    func document(now: Int64) -> JSONValue {
        var functions: [String: JSONValue] = [:]
        for runner in runners {
            var entry: [String: JSONValue] = [
                "state": .string(runner.state.rawValue), "version": .string(runner.spec.version),
                "lifecycle": .string(runner.spec.lifecycle.rawValue),
                "pids": .array(runner.pids.map { .int(Int64($0)) }),
                "restarts": .int(Int64(runner.supervisor.restarts)), "invocations": .int(Int64(runner.supervisor.invocations)),
                "errors": .int(Int64(runner.supervisor.errors)), "timeouts": .int(Int64(runner.supervisor.timeouts)),
                "queue": ["depth": .int(Int64(runner.supervisor.queueDepth)), "capacity": .int(Int64(runner.spec.queueSize)),
                          "dropped": .int(Int64(runner.supervisor.dropped))],
            ]
            if let pid = runner.pids.first { entry["pid"] = .int(Int64(pid)) }
            if let latency = runner.supervisor.latency.percentiles([0.5, 0.99]) {
                entry["latencyMs"] = ["p50": .double(rounded(latency[0])), "p99": .double(rounded(latency[1]))]
            }
            if let error = runner.lastError { entry["lastError"] = .string(error) }
            entry["user"] = runner.spec.user.map { .string($0) } ?? .string(HealthReport.agentUser)
            entry["limits"] = runner.spec.limits.json
            entry["usage"] = runner.usage()
            functions[runner.name] = .object(entry)
        }
        var deploymentEntry: [String: JSONValue] = [:]
        if let deployment {
            deploymentEntry["status"] = .string(deployment.state.rawValue)
            if let id = deployment.deploymentId { deploymentEntry["deploymentId"] = .string(id) }
            if let revision = deployment.revision { deploymentEntry["revision"] = .int(revision) }
        }
        return [
            "thing": .string(thing), "status": "online", "agentVersion": .string(Self.agentVersion),
            "uptimeSeconds": .int((now - startedMs) / 1000), "timestamp": .int(now),
            "connection": ["connected": .bool(connected), "broker": .string(broker), "tls": .bool(tls),
                           "protocolVersion": .int(Int64(protocolVersion)), "reconnects": .int(Int64(reconnects))],
            "deployment": .object(deploymentEntry),
            "functions": .object(functions),
            "cgroups": cgroups,
            "outbox": ["queued": .int(Int64(outboxQueued)), "dropped": .int(Int64(outboxDropped)), "refused": .int(Int64(refused))],
        ]
    }

    /// The agent's own user name, which functions without a user of their own run as.
    static let agentUser: String = Users.name(of: geteuid()) ?? String(geteuid())

    private func rounded(_ value: Double) -> Double {
        (value * 1000).rounded() / 1000
    }

    static func offline(thing: String, reason: String, now: Int64) -> JSONValue {
        ["thing": .string(thing), "status": "offline", "reason": .string(reason), "timestamp": .int(now)]
    }
}
