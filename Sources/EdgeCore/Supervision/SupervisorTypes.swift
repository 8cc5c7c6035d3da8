/// Names one process of a function for its supervisor; never reused within a supervisor.
public struct InstanceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: Int

    public init(_ value: Int) { self.value = value }

    public static func < (lhs: InstanceID, rhs: InstanceID) -> Bool { lhs.value < rhs.value }
    public var description: String { "#\(value)" }
}

/// A timer the supervisor asks for; arming one that is armed already replaces it.
public enum SupervisorTimer: Hashable, Sendable {
    /// The instance must send `ready` by then (`startTimeoutMs`).
    case startDeadline(InstanceID)
    /// The event in flight must be answered by then (`timeoutMs`).
    case invocationDeadline(InstanceID)
    /// Look at the CPU time of the event in flight (a budget the agent watches).
    case cpuCheck(InstanceID)
    /// An idle on-demand instance is stopped then (`idleTimeoutMs`).
    case idle(InstanceID)
    /// An instance up this long after `ready` resets the failure count.
    case stable(InstanceID)
    /// An instance that closed fd 3 but kept running is killed then.
    case channelClosedGrace(InstanceID)
    /// After `shutdown`: SIGTERM (`stopTimeoutMs`).
    case stopGrace(InstanceID)
    /// After SIGTERM: SIGKILL.
    case killGrace(InstanceID)
    /// The restart backoff of a crashed function.
    case restart

    /// The instance the timer belongs to, if one.
    public var instance: InstanceID? {
        switch self {
        case .startDeadline(let id), .invocationDeadline(let id), .cpuCheck(let id), .idle(let id), .stable(let id),
             .channelClosedGrace(let id), .stopGrace(let id), .killGrace(let id):
            return id
        case .restart:
            return nil
        }
    }
}

/// What happened to a function, as its supervisor's shell saw it.
public enum SupervisorEvent: Sendable {
    /// Start the function (after a deployment or a re-arm).
    case start
    /// Stop every instance gracefully; queued events are answered `Stopped`.
    case stop
    /// An operator's restart (`edgectl restart`): replace every process with a fresh one, each
    /// once it has answered the event in hand; a function waiting out a crash's backoff starts now.
    case restartRequested
    /// An event for the function.
    case enqueue(Invocation)
    /// A configuration change to give the running instances live (only `config` differs).
    case updateConfig(FunctionSpec)
    /// A process asked for with `.spawn` is running with this pid.
    case spawned(InstanceID, pid: Int32)
    /// A process asked for with `.spawn` could not be started.
    case spawnFailed(InstanceID, reason: String)
    /// The child reported that its set-up or exec failed; it exits by itself.
    case execFailed(InstanceID, reason: String)
    /// A line from the instance.
    case message(InstanceID, FunctionMessage)
    /// The instance closed its end of fd 3.
    case channelClosed(InstanceID)
    /// The instance broke the protocol (a line that is not JSON, too long).
    case protocolError(InstanceID, String)
    /// The process was reaped: how it ended, and the limit that ended it, if one did.
    case exited(InstanceID, status: String, limitReason: String?)
    /// The event in flight used more CPU time than `limits.cpuSeconds`.
    case cpuBudgetExceeded(InstanceID, reason: String)
    /// A resource limit was hit (an OOM kill seen in the cgroup, say): the last error to show.
    case limitHit(String)
    case timer(SupervisorTimer)
}

/// What the supervisor asks its shell to do, in order.
public enum SupervisorEffect: Sendable, Equatable {
    /// Start a process for the function (its spec and directory are the shell's).
    case spawn(InstanceID)
    /// Send a message on the instance's fd 3.
    case send(InstanceID, AgentMessage)
    /// Send an event on the instance's fd 3 (the invoke line, with the event spliced in).
    case invoke(InstanceID, Invocation, timeoutMs: Int)
    /// Signal the instance's process group (SIGKILL also kills its cgroup).
    case signal(InstanceID, SupervisorSignal)
    /// Read the CPU time of the event in flight against the budget.
    case checkCPU(InstanceID)
    case arm(SupervisorTimer, afterMs: Int)
    case cancel(SupervisorTimer)
    /// An invocation ended: publish its outcome.
    case complete(Invocation, InvocationOutcome, durationMs: Double)
    /// Something an operator should see on the events topic.
    case event(FunctionEvent)
    /// Every wanted instance is ready (once per start).
    case announceReady
    /// An instance said it cannot take `config` messages (said once).
    case liveConfigDeclined
    /// An instance failed; `broken` when the function gave up.
    case failed(reason: String, broken: Bool)
    /// The last instance has exited after `stop`.
    case stopped
    /// State, pids or counters changed: health is due.
    case changed
    case log(SupervisorLog)
}

public enum SupervisorSignal: Sendable, Equatable {
    case terminate
    case kill
}

/// What the supervisor logs, for the shell's logger.
public enum SupervisorLog: Sendable, Equatable {
    case failed(reason: String, failures: Int)
    case configUpdated(instances: Int)
}
