import EdgeCore
import EdgePOSIX

// The agent's services, in the order they start (and stop in reverse): the MQTT session first
// and last, so every result, status and the offline report still go out while the rest stops.

/// The broker connection and the outbox: connects at start; at stop, publishes the retained
/// offline report, waits for its acknowledgement (2 s at most) and disconnects cleanly, so the
/// broker does not send the last will.
final class MQTTSessionService: AgentService {
    let serviceName = "mqtt session"
    let stopDeadlineMs = 2500
    private unowned let agent: Agent
    private var awaitedAck: Int32?
    private var finish: (() -> Void)?

    init(_ agent: Agent) { self.agent = agent }

    func start() {
        agent.client.start { [unowned agent] event in agent.handle(event) }
    }

    func stop(_ done: @escaping () -> Void) {
        if agent.connected {
            awaitedAck = agent.outbox.publish(agent.topics.health,
                                              HealthDocument.offline(thing: agent.config.thingName, reason: "agent stopped", timestamp: Clock.wallMs(),
                                                                                     groups: agent.config.thingGroups),
                                              qos: 1, retain: true, coalesce: true)
        }
        finish = done
        if awaitedAck == nil {
            disconnect()
        } else {
            agent.loop.after(2000) { [weak self] in self?.disconnect() }
        }
    }

    /// An acknowledgement from the broker: the offline report's ends the wait.
    func acknowledged(_ messageId: Int32) {
        if let awaited = awaitedAck, awaited == messageId { disconnect() }
    }

    private func disconnect() {
        guard let done = finish else { return }
        finish = nil
        agent.client.stop()
        agent.outbox.close()
        done()
    }
}

/// The I/O worker: at stop, waits until the saves and cgroup clean-ups queued so far are done,
/// so that what the agent accepted is on disk (and the statuses waiting for it go out) before
/// the connection closes.
final class IOService: AgentService {
    let serviceName = "i/o worker"
    let stopDeadlineMs = 10_000
    private let io: IOWorker

    init(_ io: IOWorker) { self.io = io }

    func start() {}

    func stop(_ done: @escaping () -> Void) {
        io.drain([.cgroups, .storage], then: done)
    }
}

/// Health: the periodic report and, with cgroups, the sampling of what functions use. At stop
/// no more reports are made.
final class HealthService: AgentService {
    let serviceName = "health"
    let stopDeadlineMs = 100
    private unowned let agent: Agent
    private(set) var running = false

    init(_ agent: Agent) { self.agent = agent }

    func start() {
        running = true
        agent.scheduleHealthInterval()
        if agent.host.cgroups != nil { agent.scheduleUsageSampling() }
    }

    func stop(_ done: @escaping () -> Void) {
        running = false
        for timer in [agent.healthTimer, agent.healthDue, agent.usageTimer] { agent.loop.cancel(timer) }
        done()
    }
}

/// The thing's shadows: restored at start (the classic desired state applied before any function
/// starts); at stop the agent stops reporting into them.
final class ShadowService: AgentService {
    let serviceName = "shadows"
    let stopDeadlineMs = 100
    private unowned let agent: Agent
    private(set) var reporting = false

    init(_ agent: Agent) { self.agent = agent }

    func start() {
        reporting = true
        agent.restoreShadows()
    }

    func stop(_ done: @escaping () -> Void) {
        reporting = false
        agent.loop.cancel(agent.shadowReportDue)
        done()
    }
}

/// The functions: the last applied deployment restored at start; at stop every function is
/// stopped gracefully (a function that ignores everything is killed by its deadline), then the
/// agent's cgroup subtree is removed.
final class FunctionsService: AgentService {
    let serviceName = "functions"
    private unowned let agent: Agent
    private var finish: (() -> Void)?

    init(_ agent: Agent) { self.agent = agent }

    /// The longest a function may take to stop gracefully, and a second more.
    var stopDeadlineMs: Int { agent.coordinator.longestStopMs + 1000 }

    func start() {
        agent.coordinator.restore()
    }

    func stop(_ done: @escaping () -> Void) {
        finish = done
        agent.coordinator.stopAll()
        processesChanged()
    }

    /// Called after children are reaped: the stop is over once no function process is left.
    func processesChanged() {
        guard let done = finish, !agent.coordinator.hasLiveProcesses else { return }
        finish = nil
        agent.io.drain([.cgroups]) { [agent] in
            agent.host.cgroups?.removeSubtree()
            done()
        }
    }
}
