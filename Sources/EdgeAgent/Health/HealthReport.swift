#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// Gathers the figures of the health document from the agent and its runners.
public struct HealthReport {
    public static let agentVersion = ProductVersion.text

    var thing: String
    var startedMs: Int64
    var connection: HealthDocument.Connection
    var deployment: DeploymentStatus?
    var runners: [FunctionRunner]
    var outbox: HealthDocument.Outbox
    /// Which cgroup version is in use and with what, or why none.
    var cgroups: JSONValue
    var groups: [String] = []
    var disk: HealthDocument.Disk?

    func document(now: Int64) -> HealthDocument {
        var functions: [String: HealthDocument.Function] = [:]
        for runner in runners {
            let supervisor = runner.supervisor
            let latency = supervisor.latency.percentiles([0.5, 0.99]).map { (p50: $0[0], p99: $0[1]) }
            var entry = HealthDocument.Function(
                state: supervisor.state, version: runner.spec.version, lifecycle: runner.spec.lifecycle, pids: supervisor.pids,
                restarts: supervisor.restarts, invocations: supervisor.invocations, errors: supervisor.errors,
                timeouts: supervisor.timeouts, queueDepth: supervisor.queueDepth, queueCapacity: runner.spec.queueSize,
                dropped: supervisor.dropped, latencyMs: latency, lastError: supervisor.lastError,
                user: runner.runsAs ?? HealthReport.agentUser, limits: runner.spec.limits.json, usage: runner.usage())
            entry.publishes = (runner.publishBudget.allowed, runner.publishBudget.refused)
            functions[runner.name] = entry
        }
        return HealthDocument(thing: thing, agentVersion: Self.agentVersion, uptimeSeconds: (now - startedMs) / 1000, timestamp: now,
                              connection: connection, deployment: deployment, functions: functions, cgroups: cgroups, outbox: outbox,
                              groups: groups, disk: disk)
    }

    /// The agent's own user name, which functions without a user of their own run as.
    static let agentUser: String = Users.name(of: geteuid()) ?? String(geteuid())
}
