/// An event about one function on `edge/things/{thing}/events` (the agent adds `function`,
/// `version`, `thing` and `timestamp`); see docs/topics.md.
public enum FunctionEvent: Sendable, Equatable {
    case started(pid: Int32)
    case ready(pid: Int32, startupMs: Double)
    case timeout(invocationId: String, timeoutMs: Int)
    case protocolError(String)
    case crashed(reason: String, failures: Int, maxFailures: Int)
    case broken(reason: String, failures: Int)
    case queueOverflow(dropped: Int, queueSize: Int)
    case oomKilled(memoryMB: Int?, oomKills: Int64, pid: Int32)
    case pidsLimit(pids: Int?, hits: Int64, current: Int64?, pid: Int32)
    case cpuThrottled(cpus: Double?, throttledPercent: Double, windowSeconds: Double, pid: Int32)
    /// Publishes refused for the function's publish rate since the last such event (at most one a second).
    case publishRefused(refused: Int, perSecond: Int, kbPerSecond: Int)

    public var type: String {
        switch self {
        case .started: return "function.started"
        case .ready: return "function.ready"
        case .timeout: return "function.timeout"
        case .protocolError: return "function.protocol_error"
        case .crashed: return "function.crashed"
        case .broken: return "function.broken"
        case .queueOverflow: return "function.queue_overflow"
        case .oomKilled: return "function.oom_killed"
        case .pidsLimit: return "function.pids_limit"
        case .cpuThrottled: return "function.cpu_throttled"
        case .publishRefused: return "function.publish_refused"
        }
    }

    public var detail: [String: JSONValue] {
        switch self {
        case .started(let pid):
            return ["pid": .int(Int64(pid))]
        case .ready(let pid, let startupMs):
            return ["pid": .int(Int64(pid)), "startupMs": .double(startupMs)]
        case .timeout(let invocationId, let timeoutMs):
            return ["invocationId": .string(invocationId), "timeoutMs": .int(Int64(timeoutMs))]
        case .protocolError(let message):
            return ["message": .string(message)]
        case .crashed(let reason, let failures, let maxFailures):
            return ["reason": .string(reason), "failures": .int(Int64(failures)), "maxFailures": .int(Int64(maxFailures))]
        case .broken(let reason, let failures):
            return ["reason": .string(reason), "failures": .int(Int64(failures))]
        case .queueOverflow(let dropped, let queueSize):
            return ["dropped": .int(Int64(dropped)), "queueSize": .int(Int64(queueSize))]
        case .oomKilled(let memoryMB, let oomKills, let pid):
            return ["limit": "memoryMB", "memoryMB": memoryMB.map { .int(Int64($0)) } ?? .null, "oomKills": .int(oomKills),
                    "pid": .int(Int64(pid))]
        case .pidsLimit(let pids, let hits, let current, let pid):
            return ["limit": "pids", "pids": pids.map { .int(Int64($0)) } ?? .null, "hits": .int(hits),
                    "current": current.map { .int($0) } ?? .null, "pid": .int(Int64(pid))]
        case .cpuThrottled(let cpus, let throttledPercent, let windowSeconds, let pid):
            return ["limit": "cpus", "cpus": cpus.map { .double($0) } ?? .null, "throttledPercent": .double(throttledPercent),
                    "windowSeconds": .double(windowSeconds), "pid": .int(Int64(pid))]
        case .publishRefused(let refused, let perSecond, let kbPerSecond):
            return ["limit": "publishPerSecond", "refused": .int(Int64(refused)), "publishPerSecond": .int(Int64(perSecond)),
                    "publishKBPerSecond": .int(Int64(kbPerSecond))]
        }
    }
}
