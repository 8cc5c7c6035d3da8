#if canImport(Glibc)
import Glibc
#endif
import CEdgeSpawn
import EdgeCgroups
import EdgeCore
import EdgePOSIX

/// Supervises one function: starts its instances, feeds them events from a bounded queue,
/// enforces timeouts, restarts crashed instances with backoff and gives up as BROKEN.
final class FunctionRunner {
    /// Replaced in place only by a live configuration change (`updateConfig`).
    private(set) var spec: FunctionSpec
    let directory: String
    let deploymentId: String
    let host: FunctionHost
    let loop: EventLoop
    let logger: Logger
    weak var delegate: FunctionRunnerDelegate?
    /// Which deployment document this function's spec came from.
    var origin: DeploymentSource?

    private(set) var state: FunctionState = .stopped
    private(set) var instances: [FunctionInstance] = []
    private var queue: [Invocation] = []
    private var restartTimer: EventLoop.Token?
    private var consecutiveFailures = 0
    private var announcedReady = false
    private var stopCompletionPending = false
    /// false once an instance declared in `ready` that it cannot take `config` messages.
    private(set) var takesLiveConfig = true

    // Counters for health.
    private(set) var invocations = 0
    private(set) var errors = 0
    private(set) var timeouts = 0
    private(set) var restarts = 0
    private(set) var dropped = 0
    var lastError: String?
    private(set) var latency = LatencyWindow()
    /// Limit counters of instances already gone, so health totals survive replacements.
    var retiredOomKills: Int64 = 0
    var retiredPidsLimitHits: Int64 = 0
    /// The highest memory peak of instances already gone (an OOM-killed one peaks at its limit).
    var retiredMemoryPeak: Int64?

    /// How long an instance must stay up after `ready` before its failure count resets.
    static let stableMs = 10_000
    /// After SIGTERM, how long before SIGKILL.
    static let killGraceMs = 2000

    init(spec: FunctionSpec, directory: String, deploymentId: String, host: FunctionHost, loop: EventLoop, logger: Logger) {
        self.spec = spec
        self.directory = directory
        self.deploymentId = deploymentId
        self.host = host
        self.loop = loop
        self.logger = logger.with("function", spec.name).with("version", spec.version)
    }

    var name: String { spec.name }
    var queueDepth: Int { queue.count }
    var pids: [pid_t] { instances.map(\.pid) }
    var logPath: String { "\(host.logDir)/\(spec.name).log" }
    /// limits.cpuSeconds of an on-demand function, enforced by the kernel or watched by the agent.
    private lazy var cpuBudget = CPUBudget(spec: spec, mayLimitOtherUsers: host.mayLimitOtherUsers)
    /// One log per function, shared by its instances, so the size cap holds for the function.
    private lazy var log = RotatingLog(path: logPath)

    // MARK: Lifecycle

    /// Starts the function: its long-lived instances, or one on-demand instance to prove it loads.
    func start() {
        guard spec.enabled else {
            // Turned off by the shadow: deployed, ready as wanted, running nothing.
            state = .disabled
            delegate?.runnerReady(self)
            delegate?.runnerChanged(self)
            return
        }
        state = .starting
        announcedReady = false
        fillInstances(minimum: spec.lifecycle == .longLived ? spec.concurrency : 1)
        delegate?.runnerChanged(self)
    }

    /// Stops every instance gracefully: `shutdown`, then SIGTERM after `stopTimeoutMs`, then SIGKILL.
    /// Queued events are answered with a `Stopped` error unless taken first with `takeQueue`.
    func stop() {
        guard state != .stopped else {
            delegate?.runnerStopped(self)
            return
        }
        loop.cancel(restartTimer)
        restartTimer = nil
        state = .stopping
        failQueued(type: "Stopped", message: "function \(spec.name) was stopped before this event ran")
        stopCompletionPending = true
        if instances.isEmpty {
            finishStop()
            return
        }
        for instance in instances { end(instance, reason: .stopRequested, gracefully: true) }
        delegate?.runnerChanged(self)
    }

    /// A new configuration, given to the running instances over the runtime protocol without a
    /// restart (`config` message); only `config` may differ from the current spec.
    func updateConfig(_ updated: FunctionSpec) {
        spec = updated
        for instance in instances where !isEnding(instance) {
            instance.channel?.send(["type": "config", "config": .object(spec.config)])
            instance.config = spec.config
        }
        logger.info("configuration updated live", ("instances", String(instances.count)))
    }

    /// Hands the events not yet started to a successor (a new version of this function).
    func takeQueue() -> [Invocation] {
        let taken = queue
        queue.removeAll()
        return taken
    }

    // MARK: Events

    /// Queues an event; a full queue or a BROKEN function answers with an error at once.
    func enqueue(_ invocation: Invocation) {
        switch state {
        case .disabled:
            complete(invocation, .failure(type: "Disabled", message: "function \(spec.name) is disabled by the thing's shadow (functions.\(spec.name).enabled is false)"), durationMs: 0)
            return
        case .broken:
            complete(invocation, .failure(type: "Broken", message: "function \(spec.name) is BROKEN after \(consecutiveFailures) failures: \(lastError ?? "see its log")"), durationMs: 0)
            return
        case .stopping, .stopped:
            complete(invocation, .failure(type: "Stopped", message: "function \(spec.name) is stopped"), durationMs: 0)
            return
        default:
            break
        }
        // An invoke line carries the payload as JSON or base64 (4/3 larger); it must fit one protocol line.
        if invocation.payload.count / 3 * 4 + 4096 > RuntimeChannel.maxLineBytes {
            complete(invocation, .failure(type: "PayloadTooLarge", message: "the event is \(invocation.payload.count) bytes; a function takes events up to about 3 MiB"), durationMs: 0)
            return
        }
        guard queue.count < spec.queueSize else {
            dropped += 1
            complete(invocation, .failure(type: "QueueFull", message: "function \(spec.name) has \(queue.count) events waiting (queueSize \(spec.queueSize)); this one was dropped"), durationMs: 0)
            if dropped == 1 || dropped % 100 == 0 {
                delegate?.runner(self, event: "function.queue_overflow", ["dropped": .int(Int64(dropped)), "queueSize": .int(Int64(spec.queueSize))])
            }
            return
        }
        queue.append(invocation)
        dispatch()
    }

    func enqueue(contentsOf invocations: [Invocation]) {
        for invocation in invocations { enqueue(invocation) }
    }

    /// Sends queued events to idle instances, starting on-demand instances as needed.
    private func dispatch() {
        while !queue.isEmpty, let instance = instances.first(where: { $0.isIdle && !isEnding($0) }) {
            let invocation = queue.removeFirst()
            send(invocation, to: instance)
        }
        // Once the function has proven it loads, more events may start more processes even while one is starting.
        let mayScale = state == .idle || state == .running || (state == .starting && announcedReady)
        guard !queue.isEmpty, spec.lifecycle == .onDemand, mayScale else { return }
        let alive = instances.filter { !isEnding($0) }
        let starting = alive.filter { if case .starting = $0.phase { return true } else { return false } }.count
        let needed = min(queue.count - starting, spec.concurrency - alive.count)
        guard needed > 0 else { return }
        if state == .idle { state = .starting }
        for _ in 0..<needed {
            guard spawnInstance() else { break }
        }
    }

    private func send(_ invocation: Invocation, to instance: FunctionInstance) {
        loop.cancel(instance.idleTimer)
        instance.idleTimer = nil
        instance.phase = .busy(invocation, startedNs: Clock.monotonicNs())
        var message: [String: JSONValue] = [
            "type": "invoke", "id": .string(invocation.id), "topic": .string(invocation.topic),
            "event": invocation.event ?? .null, "timeoutMs": .int(Int64(spec.timeoutMs)),
        ]
        if invocation.event == nil { message["payloadBase64"] = .string(Base64.encode(invocation.payload)) }
        instance.channel?.send(.object(message))
        cpuBudget?.arm(instance, loop: loop, logger: logger) { [weak self] instance in
            guard let self, let budget = self.cpuBudget else { return }
            self.end(instance, reason: .failure(budget.reason), gracefully: false)
        }
        instance.invocationTimer = loop.after(spec.timeoutMs) { [weak self, weak instance] in
            guard let self, let instance else { return }
            self.invocationTimedOut(instance)
        }
    }

    private func invocationTimedOut(_ instance: FunctionInstance) {
        guard case .busy(let invocation, let startedNs) = instance.phase else { return }
        timeouts += 1
        let elapsed = Double(Clock.monotonicNs() - startedNs) / 1e6
        lastError = "invocation \(invocation.id) timed out after \(spec.timeoutMs) ms"
        instance.phase = .stopping
        complete(invocation, .failure(type: "Timeout", message: "the handler did not answer within timeoutMs (\(spec.timeoutMs) ms); the instance was replaced"), durationMs: elapsed)
        delegate?.runner(self, event: "function.timeout", ["invocationId": .string(invocation.id), "timeoutMs": .int(Int64(spec.timeoutMs))])
        // Its state is unknown once it missed a deadline: replace it.
        end(instance, reason: .invocationTimeout, gracefully: false)
    }

    // MARK: Messages from an instance

    private func received(_ incoming: RuntimeChannel.Incoming, from instance: FunctionInstance) {
        switch incoming {
        case .closed:
            // Usually the process is exiting: its exit status, reaped in a moment, says more.
            guard instance.endReason == nil else { return }
            instance.timers.append(loop.after(1000) { [weak self, weak instance] in
                guard let self, let instance, instance.endReason == nil else { return }
                self.end(instance, reason: .failure("closed its runtime channel (fd 3) but kept running"), gracefully: false)
            })
        case .protocolError(let problem):
            delegate?.runner(self, event: "function.protocol_error", ["message": .string(problem)])
            end(instance, reason: .failure("protocol error: \(problem)"), gracefully: false)
        case .message(let members):
            handle(members, from: instance)
        }
    }

    private func handle(_ members: [String: JSONValue], from instance: FunctionInstance) {
        let type = members["type"]?.stringValue ?? ""
        switch type {
        case "ready":
            guard case .starting = instance.phase else { return }
            if members["liveConfig"]?.boolValue == false {
                takesLiveConfig = false
                // It started before a configuration change it cannot take: replace it.
                if instance.config != spec.config {
                    end(instance, reason: .replaced, gracefully: true)
                    return
                }
            }
            instance.phase = .idle
            let startupMs = Double((Clock.monotonicNs() - instance.startedNs) / 1000) / 1000
            delegate?.runner(self, event: "function.ready", ["pid": .int(Int64(instance.pid)), "startupMs": .double(startupMs)])
            let stable = loop.after(Self.stableMs) { [weak self, weak instance] in
                guard let self, let instance, instance.endReason == nil else { return }
                self.consecutiveFailures = 0
            }
            instance.timers.append(stable)
            instanceBecameIdle(instance)
            updateReadiness()
        case "result", "error":
            guard case .busy(let invocation, let startedNs) = instance.phase,
                  members["id"]?.stringValue == invocation.id
            else {
                end(instance, reason: .failure("protocol error: a \(type) for id \(members["id"]?.excerpt() ?? "(none)") that is not the invocation in flight"), gracefully: false)
                return
            }
            loop.cancel(instance.invocationTimer)
            loop.cancel(instance.cpuWatchTimer)
            instance.invocationTimer = nil
            instance.cpuWatchTimer = nil
            let elapsed = Double(Clock.monotonicNs() - startedNs) / 1e6
            if type == "result" {
                complete(invocation, .result(members["result"] ?? .null), durationMs: elapsed)
            } else {
                let error = members["error"]?.objectValue ?? [:]
                let errorType = error["type"]?.stringValue ?? "Error"
                let message = error["message"]?.stringValue ?? "the handler failed without a message"
                lastError = "\(errorType): \(message)"
                complete(invocation, .failure(type: errorType, message: message), durationMs: elapsed)
            }
            consecutiveFailures = 0
            if instance.endReason == nil {
                instance.phase = .idle
                instanceBecameIdle(instance)
            } else {
                instance.phase = .stopping
            }
        case "publish":
            let topic = members["topic"]?.stringValue ?? ""
            let qos = Int(members["qos"]?.intValue ?? 0)
            let refusal = delegate?.runner(self, publish: topic, payload: members["payload"] ?? .null,
                                           qos: qos == 1 ? 1 : 0, retain: members["retain"]?.boolValue ?? false)
            if let refusal {
                instance.channel?.send(["type": "publishError", "topic": .string(topic), "message": .string(refusal)])
            }
        case "shadow.get", "shadow.update":
            if let reply = delegate?.runner(self, shadow: type, members) { instance.channel?.send(reply) }
        default:
            end(instance, reason: .failure("protocol error: unknown message type '\(type)'"), gracefully: false)
        }
    }

    private func instanceBecameIdle(_ instance: FunctionInstance) {
        dispatch()
        if instance.isIdle && spec.lifecycle == .onDemand && state != .starting {
            armIdleTimer(instance)
        }
        delegate?.runnerChanged(self)
    }

    private func armIdleTimer(_ instance: FunctionInstance) {
        loop.cancel(instance.idleTimer)
        instance.idleTimer = loop.after(spec.idleTimeoutMs) { [weak self, weak instance] in
            guard let self, let instance, instance.isIdle else { return }
            self.end(instance, reason: .idleTimeout, gracefully: true)
        }
    }

    private func updateReadiness() {
        guard state == .starting || state == .restarting else { return }
        let wanted = spec.lifecycle == .longLived ? spec.concurrency : 1
        let ready = instances.filter { instance in
            switch instance.phase {
            case .idle, .busy: return true
            default: return false
            }
        }.count
        guard ready >= wanted || (spec.lifecycle == .onDemand && ready > 0) else { return }
        state = .running
        if !announcedReady {
            announcedReady = true
            delegate?.runnerReady(self)
        }
        if spec.lifecycle == .onDemand {
            for instance in instances where instance.isIdle { armIdleTimer(instance) }
        }
        delegate?.runnerChanged(self)
    }

    // MARK: Processes

    private func isEnding(_ instance: FunctionInstance) -> Bool {
        instance.endReason != nil
    }

    private func fillInstances(minimum: Int) {
        while instances.filter({ !isEnding($0) }).count < minimum {
            guard spawnInstance() else { return }
        }
    }

    /// Starts one process; false when it could not be started (already counted as a failure).
    private func spawnInstance() -> Bool {
        let beganNs = Clock.monotonicNs()
        var request: SpawnRequest
        var opened: [Int32] = []
        var cgroup: FunctionCgroup?
        do {
            let channel = try Channels.socketPair()
            opened += [channel.agent, channel.child]
            let out = try Channels.pipe()
            opened += [out.read, out.write]
            let err = try Channels.pipe()
            opened += [err.read, err.write]
            request = try LaunchPlan.request(for: spec, directory: directory, host: host,
                                             stdout: out.write, stderr: err.write, channel: channel.child)
            if let tree = host.cgroups {
                let made = try tree.makeInstance(function: spec.name, limits: spec.limits)
                cgroup = made
                request.cgroupProcsFDs = try made.openForJoining()
                opened += request.cgroupProcsFDs
            }
            // Not waiting for the exec: the child joins its cgroup and sets itself up while the
            // agent goes on; its report says later whether the exec worked.
            let (pid, report) = try Spawner.start(request)
            // The child holds its ends now; the agent keeps only its own.
            for fd in [channel.child, out.write, err.write] + request.cgroupProcsFDs { close(fd) }
            let instance = FunctionInstance(pid: pid, cgroup: cgroup, startedNs: beganNs)
            instance.spawnReport = report
            instance.spawnReportWatch = loop.watch(report) { [weak self, weak instance] _ in
                guard let self, let instance else { return }
                self.readSpawnReport(of: instance, executable: request.executable)
            }
            instance.channel = RuntimeChannel(fd: channel.agent, loop: loop) { [weak self, weak instance] incoming in
                guard let self, let instance else { return }
                self.received(incoming, from: instance)
            }
            let reportLogError: (SystemError) -> Void = { [logger] error in
                logger.warning("cannot write the function's log", ("error", error.description))
            }
            instance.stdout = OutputCapture(fd: out.read, loop: loop, log: log, onError: reportLogError)
            instance.stderr = OutputCapture(fd: err.read, loop: loop, log: log, onError: reportLogError)
            instance.timers.append(loop.after(spec.startTimeoutMs) { [weak self, weak instance] in
                guard let self, let instance, case .starting = instance.phase, instance.endReason == nil else { return }
                self.end(instance, reason: .failure("did not send ready within startTimeoutMs (\(spec.startTimeoutMs) ms)"), gracefully: false)
            })
            instance.channel?.send(["type": "init", "function": .string(spec.name), "version": .string(spec.version),
                                    "thing": .string(host.thing), "deploymentId": .string(deploymentId),
                                    "config": .object(spec.config)])
            instance.config = spec.config
            instances.append(instance)
            logger.info("function instance started", ("pid", String(pid)), ("cgroup", cgroup?.path ?? "none"),
                        ("user", spec.user ?? "(the agent's)"))
            delegate?.runner(self, event: "function.started", ["pid": .int(Int64(pid))])
            return true
        } catch {
            for fd in opened { close(fd) }
            if let cgroup { removeCgroup(cgroup) }
            recordFailure(String(describing: error))
            return false
        }
    }

    /// What a child's spawn report says: nothing yet, its exec worked, or a step failed (then the
    /// child exits by itself, and its exit is a failure with this reason, not a crash).
    private func readSpawnReport(of instance: FunctionInstance, executable: String, final: Bool = false) {
        guard instance.spawnReport >= 0 else { return }
        let outcome = Spawner.outcome(of: instance.spawnReport, executable: executable.isEmpty ? launchExecutable : executable)
        if case .pending = outcome, !final { return }
        if let watch = instance.spawnReportWatch { loop.unwatch(watch) }
        instance.spawnReportWatch = nil
        close(instance.spawnReport)
        instance.spawnReport = -1
        if case .failed(let error) = outcome, instance.endReason == nil {
            instance.endReason = .failure(error.description)
            instance.phase = .stopping
        }
    }

    /// The executable the function's instances run, for messages.
    private var launchExecutable: String {
        switch spec.entry {
        case .python: return host.python
        case .command(let argv): return argv[0].hasPrefix("/") ? argv[0] : "\(directory)/\(argv[0])"
        }
    }

    /// Ends an instance: gracefully (shutdown message, SIGTERM after stopTimeoutMs, SIGKILL after
    /// that) or at once with SIGKILL.
    private func end(_ instance: FunctionInstance, reason: FunctionInstance.EndReason, gracefully: Bool) {
        if instance.endReason == nil { instance.endReason = reason }
        if case .busy(let invocation, let startedNs) = instance.phase {
            if case .stopRequested = reason, gracefully {
                // Let it finish: a graceful stop waits for the event in flight.
                scheduleGracefulEnd(instance)
                return
            }
            let elapsed = Double(Clock.monotonicNs() - startedNs) / 1e6
            if case .failure(let why) = reason {
                complete(invocation, .failure(type: "Crashed", message: "the function \(why) while handling this event"), durationMs: elapsed)
            } else {
                let type = state == .broken ? "Broken" : "Stopped"
                complete(invocation, .failure(type: type, message: "function \(spec.name) was stopped (\(type == "Broken" ? "BROKEN: \(lastError ?? "see its log")" : "stop requested")) while handling this event"), durationMs: elapsed)
            }
        }
        instance.phase = .stopping
        instance.cancelTimers(loop)
        if gracefully {
            scheduleGracefulEnd(instance)
        } else {
            instance.signal(SIGKILL)
        }
    }

    private func scheduleGracefulEnd(_ instance: FunctionInstance) {
        instance.channel?.send(["type": "shutdown"])
        instance.timers.append(loop.after(spec.stopTimeoutMs) { [weak self, weak instance] in
            guard let self, let instance else { return }
            instance.signal(SIGTERM)
            instance.timers.append(self.loop.after(Self.killGraceMs) { [weak instance] in instance?.signal(SIGKILL) })
        })
    }

    /// Called while `pid` is an unreaped zombie: kills what it left behind (its process group and
    /// cgroup). False when the pid is not one of this function's.
    func beforeReaping(_ pid: pid_t) -> Bool {
        guard let instance = instances.first(where: { $0.pid == pid }) else { return false }
        instance.killLeftovers()
        return true
    }

    /// Called by the agent when it reaps `pid`; false when the pid is not one of this function's.
    func reaped(_ pid: pid_t, status: ExitStatus) -> Bool {
        guard let index = instances.firstIndex(where: { $0.pid == pid }) else { return false }
        let instance = instances.remove(at: index)
        // An exec that failed is reported before the child exits: read it before the exit.
        readSpawnReport(of: instance, executable: "", final: true)
        instance.cancelTimers(loop)
        instance.closeIO()
        logger.info("function instance exited", ("pid", String(pid)), ("status", status.description))
        let limitReason = retire(instance, status: status)
        let reason = instance.endReason
        if let invocation = instance.currentInvocation {
            complete(invocation, .failure(type: "Crashed", message: "the function \(status) while handling this event"), durationMs: 0)
        }
        switch reason {
        case .stopRequested?, .idleTimeout?:
            break
        case .invocationTimeout?, .replaced?:
            if state == .running || state == .starting { replaceInstances() }
        case .failure(let why)?:
            recordFailure(why)
        case nil:
            let phase: String
            if case .starting = instance.phase { phase = " before sending ready" } else { phase = "" }
            recordFailure("\(limitReason ?? "\(status)")\(phase) (see \(logPath))")
        }
        if state == .stopping && instances.isEmpty {
            finishStop()
        } else if spec.lifecycle == .onDemand && instances.isEmpty && state == .running {
            state = .idle
        }
        if state == .idle || state == .running { dispatch() }
        delegate?.runnerChanged(self)
        return true
    }

    private func replaceInstances() {
        if spec.lifecycle == .longLived { fillInstances(minimum: spec.concurrency) } else { dispatch() }
    }

    private func recordFailure(_ reason: String) {
        guard state != .stopping && state != .stopped && state != .broken else { return }
        consecutiveFailures += 1
        lastError = reason
        logger.warning("function failed", ("reason", reason), ("failures", String(consecutiveFailures)))
        let broken = consecutiveFailures >= spec.restart.maxFailures
        delegate?.runner(self, event: "function.crashed", [
            "reason": .string(reason), "failures": .int(Int64(consecutiveFailures)),
            "maxFailures": .int(Int64(spec.restart.maxFailures)),
        ])
        if broken {
            state = .broken
            for instance in instances where !isEnding(instance) { end(instance, reason: .stopRequested, gracefully: false) }
            failQueued(type: "Broken", message: "function \(spec.name) is BROKEN: \(reason)")
            delegate?.runner(self, event: "function.broken", ["reason": .string(reason), "failures": .int(Int64(consecutiveFailures))])
        } else {
            state = .restarting
            let delay = spec.restart.delayMs(afterFailures: consecutiveFailures)
            loop.cancel(restartTimer)
            restartTimer = loop.after(delay) { [weak self] in
                guard let self, self.state == .restarting else { return }
                self.restartTimer = nil
                self.restarts += 1
                if self.spec.lifecycle == .onDemand && self.announcedReady {
                    // It has loaded before: the next event starts it.
                    self.state = .idle
                    self.dispatch()
                } else {
                    self.state = .starting
                    self.fillInstances(minimum: self.spec.lifecycle == .longLived ? self.spec.concurrency : 1)
                }
                self.delegate?.runnerChanged(self)
            }
        }
        delegate?.runner(self, failed: reason, broken: broken)
    }

    private func failQueued(type: String, message: String) {
        let pending = queue
        queue.removeAll()
        for invocation in pending { complete(invocation, .failure(type: type, message: message), durationMs: 0) }
    }

    private func finishStop() {
        state = .stopped
        if stopCompletionPending {
            stopCompletionPending = false
            delegate?.runnerStopped(self)
        }
    }

    private func complete(_ invocation: Invocation, _ outcome: InvocationOutcome, durationMs: Double) {
        invocations += 1
        if case .failure = outcome { errors += 1 }
        if durationMs > 0 { latency.record(durationMs) }
        delegate?.runner(self, finished: invocation, outcome: outcome, durationMs: durationMs)
    }
}
