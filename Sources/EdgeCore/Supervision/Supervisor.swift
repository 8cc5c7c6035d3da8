/// Supervises one function, as a pure state machine: it takes events and the time and returns
/// effects (spawn, send, signal, arm a timer, publish an outcome), never touching a process, a
/// descriptor or a clock itself. It starts the function's instances, feeds them events from a
/// bounded queue, enforces timeouts, restarts crashed instances with backoff, gives up as BROKEN,
/// and stops gracefully. The shell around it (EdgeAgent's FunctionRunner) performs the effects.
public struct Supervisor: Sendable {
    /// Replaced in place only by a live configuration change.
    public private(set) var spec: FunctionSpec
    /// Where the function's log is, for failure messages.
    public let logPath: String
    /// Whether the agent watches `limits.cpuSeconds` itself (the kernel cannot be asked to).
    public let watchesCPU: Bool
    /// What the `init` message tells each instance.
    public let thing: String
    public let deploymentId: String

    public private(set) var state: FunctionState = .stopped
    public private(set) var instances: [Instance] = []
    private var queue = RingQueue<Invocation>()
    private var consecutiveFailures = 0
    private var announcedReady = false
    private var stopCompletionPending = false
    private var nextInstance = 1
    /// The instance whose spawn the shell has not answered yet: spawns go one at a time, so one
    /// that fails stops the rest (a failure counts once, not once per missing instance).
    private var spawnPending: InstanceID?
    /// How many live instances a fill in progress aims at.
    private var fillTarget: Int?
    /// Counts every change to the set of processes (one added, given its pid, or gone), so
    /// `.changed` can be decided without building anything per event.
    private var processesChanged = 0
    private var effects: [SupervisorEffect] = []
    private var now: Int64 = 0
    /// false once an instance declared in `ready` that it cannot take `config` messages.
    public private(set) var takesLiveConfig = true

    // Counters for health.
    public private(set) var invocations = 0
    public private(set) var errors = 0
    public private(set) var timeouts = 0
    public private(set) var restarts = 0
    public private(set) var dropped = 0
    public private(set) var lastError: String?
    public private(set) var latency = LatencyWindow()

    /// How long an instance must stay up after `ready` before the failure count resets.
    public static let stableMs = 10_000
    /// After SIGTERM, how long before SIGKILL.
    public static let killGraceMs = 2000
    /// How long an instance that closed fd 3 may keep running before it is killed.
    public static let closedChannelGraceMs = 1000
    /// How often the agent looks at the CPU time of an event when it watches the budget.
    public static let cpuCheckMs = 200

    /// One process of the function, as the supervisor sees it.
    public struct Instance: Sendable {
        public enum Phase: Sendable, Equatable {
            case starting
            case idle
            case busy(Invocation, startedNs: Int64)
            case stopping
        }

        /// Why the supervisor ended the process itself, so its exit is not mistaken for a crash.
        public enum EndReason: Sendable, Equatable {
            case stopRequested
            case idleTimeout
            case invocationTimeout
            /// Replaced by a fresh instance (a configuration it cannot take live).
            case replaced
            case failure(String)
        }

        public let id: InstanceID
        public internal(set) var pid: Int32?
        public let startedNs: Int64
        public internal(set) var phase: Phase = .starting
        public internal(set) var endReason: EndReason?
        /// The configuration it was last given (`init` or `config`).
        public internal(set) var config: [String: JSONValue]

        var isIdle: Bool { phase == .idle }
        var isEnding: Bool { endReason != nil }
        var isStarting: Bool { phase == .starting }
        var currentInvocation: Invocation? {
            if case .busy(let invocation, _) = phase { return invocation }
            return nil
        }
    }

    public init(spec: FunctionSpec, thing: String, deploymentId: String, logPath: String, watchesCPU: Bool = false) {
        self.spec = spec
        self.thing = thing
        self.deploymentId = deploymentId
        self.logPath = logPath
        self.watchesCPU = watchesCPU
    }

    public var name: String { spec.name }
    public var queueDepth: Int { queue.count }
    public var pids: [Int32] { instances.compactMap(\.pid) }
    public var hasInstances: Bool { !instances.isEmpty }

    public func instance(_ id: InstanceID) -> Instance? {
        instances.first { $0.id == id }
    }

    /// Hands the events not yet started to a successor (a new version of this function).
    public mutating func takeQueue() -> [Invocation] {
        let taken = Array(queue)
        queue.removeAll()
        return taken
    }

    /// Takes one event at time `now` (monotonic nanoseconds) and says what to do, in order.
    public mutating func handle(_ event: SupervisorEvent, now: Int64) -> [SupervisorEffect] {
        self.now = now
        let before = signature
        switch event {
        case .start: start()
        case .stop: stop()
        case .restartRequested: restartRequested()
        case .enqueue(let invocation): enqueue(invocation)
        case .updateConfig(let updated): updateConfig(updated)
        case .spawned(let id, let pid): spawned(id, pid: pid)
        case .spawnFailed(let id, let reason): spawnFailed(id, reason: reason)
        case .execFailed(let id, let reason):
            update(id) { instance in
                if instance.endReason == nil {
                    instance.endReason = .failure(reason)
                    instance.phase = .stopping
                }
            }
        case .message(let id, let message): received(message, from: id)
        case .channelClosed(let id):
            // Usually the process is exiting: its exit status, reaped in a moment, says more.
            if let instance = instance(id), instance.endReason == nil {
                effects.append(.arm(.channelClosedGrace(id), afterMs: Self.closedChannelGraceMs))
            }
        case .protocolError(let id, let problem):
            guard instance(id) != nil else { break }
            effects.append(.event(.protocolError(problem)))
            end(id, reason: .failure("protocol error: \(problem)"), gracefully: false)
        case .exited(let id, let status, let limitReason): exited(id, status: status, limitReason: limitReason)
        case .cpuBudgetExceeded(let id, let reason):
            if instance(id)?.currentInvocation != nil { end(id, reason: .failure(reason), gracefully: false) }
        case .limitHit(let reason): lastError = reason
        case .timer(let timer): fired(timer)
        }
        // Health follows what it shows of the function (its state, its processes), not every
        // event answered: the counters go out with the next report.
        if signature != before { effects.append(.changed) }
        defer { effects.removeAll(keepingCapacity: true) }
        return effects
    }

    /// What `.changed` is about: the state and the processes.
    private var signature: Signature { Signature(state: state, processes: processesChanged) }

    private struct Signature: Equatable {
        var state: FunctionState
        var processes: Int
    }

    // MARK: Lifecycle

    private mutating func start() {
        guard spec.enabled else {
            // Turned off by the shadow: deployed, ready as wanted, running nothing.
            state = .disabled
            effects.append(.announceReady)
            return
        }
        state = .starting
        announcedReady = false
        fillInstances(minimum: wantedAtStart)
    }

    private var wantedAtStart: Int { spec.lifecycle == .longLived ? spec.concurrency : 1 }

    private mutating func stop() {
        guard state != .stopped else {
            effects.append(.stopped)
            return
        }
        effects.append(.cancel(.restart))
        state = .stopping
        failQueued(.stopped, "function \(spec.name) was stopped before this event ran")
        stopCompletionPending = true
        if instances.isEmpty {
            finishStop()
            return
        }
        for id in instances.map(\.id) { end(id, reason: .stopRequested, gracefully: true) }
    }

    private mutating func restartRequested() {
        switch state {
        case .restarting:
            effects.append(.cancel(.restart))
            fired(.restart)
        case .running, .starting, .idle:
            // Replaced, not stopped: each exit brings a fresh instance (long-lived) or lets the
            // next event start one (on-demand); consecutive failures are not counted.
            for id in instances.filter({ !$0.isEnding }).map(\.id) { end(id, reason: .replaced, gracefully: true) }
        case .broken, .disabled, .stopping, .stopped:
            // Re-arming a BROKEN function or turning on a DISABLED one is the deployment's (the shell's).
            break
        }
    }

    private mutating func updateConfig(_ updated: FunctionSpec) {
        spec = updated
        for index in instances.indices where !instances[index].isEnding {
            effects.append(.send(instances[index].id, .config(spec.config)))
            instances[index].config = spec.config
        }
        effects.append(.log(.configUpdated(instances: instances.count)))
    }

    // MARK: Events

    private mutating func enqueue(_ invocation: Invocation) {
        switch state {
        case .disabled:
            complete(invocation, .failure(.init(.disabled, "function \(spec.name) is disabled by the thing's shadow (functions.\(spec.name).enabled is false)")), durationMs: 0)
            return
        case .broken:
            complete(invocation, .failure(.init(.broken, "function \(spec.name) is BROKEN after \(consecutiveFailures) failures: \(lastError ?? "see its log")")), durationMs: 0)
            return
        case .stopping, .stopped:
            complete(invocation, .failure(.init(.stopped, "function \(spec.name) is stopped")), durationMs: 0)
            return
        default:
            break
        }
        guard RuntimeProtocol.fits(payloadBytes: invocation.payload.count) else {
            complete(invocation, .failure(.init(.payloadTooLarge, "the event is \(invocation.payload.count) bytes; a function takes events up to about 3 MiB")), durationMs: 0)
            return
        }
        guard queue.count < spec.queueSize else {
            dropped += 1
            complete(invocation, .failure(.init(.queueFull, "function \(spec.name) has \(queue.count) events waiting (queueSize \(spec.queueSize)); this one was dropped")), durationMs: 0)
            if dropped == 1 || dropped % 100 == 0 {
                effects.append(.event(.queueOverflow(dropped: dropped, queueSize: spec.queueSize)))
            }
            return
        }
        queue.append(invocation)
        dispatch()
    }

    /// Sends queued events to idle instances, starting on-demand instances as needed.
    private mutating func dispatch() {
        while !queue.isEmpty, let index = instances.firstIndex(where: { $0.isIdle && !$0.isEnding }) {
            send(queue.popFirst()!, to: index)
        }
        // Once the function has proven it loads, more events may start more processes even while one is starting.
        let mayScale = state == .idle || state == .running || (state == .starting && announcedReady)
        guard !queue.isEmpty, spec.lifecycle == .onDemand, mayScale else { return }
        let alive = instances.filter { !$0.isEnding }
        let starting = alive.filter(\.isStarting).count
        let needed = min(queue.count - starting, spec.concurrency - alive.count)
        guard needed > 0, spawnPending == nil else { return }
        if state == .idle { state = .starting }
        // One at a time: the answer to this spawn asks for the next, if still needed.
        spawnInstance()
    }

    private mutating func send(_ invocation: Invocation, to index: Int) {
        let id = instances[index].id
        effects.append(.cancel(.idle(id)))
        instances[index].phase = .busy(invocation, startedNs: now)
        effects.append(.invoke(id, invocation, timeoutMs: spec.timeoutMs))
        if watchesCPU { effects.append(.arm(.cpuCheck(id), afterMs: Self.cpuCheckMs)) }
        effects.append(.arm(.invocationDeadline(id), afterMs: spec.timeoutMs))
    }

    // MARK: Messages from an instance

    private mutating func received(_ message: FunctionMessage, from id: InstanceID) {
        guard let index = instances.firstIndex(where: { $0.id == id }) else { return }
        switch message {
        case .ready(let liveConfig):
            guard instances[index].isStarting else { return }
            if !liveConfig {
                if takesLiveConfig { effects.append(.liveConfigDeclined) }
                takesLiveConfig = false
                // It started before a configuration change it cannot take: replace it.
                if instances[index].config != spec.config {
                    end(id, reason: .replaced, gracefully: true)
                    return
                }
            }
            instances[index].phase = .idle
            let startupMs = Double((now - instances[index].startedNs) / 1000) / 1000
            effects.append(.event(.ready(pid: instances[index].pid ?? 0, startupMs: startupMs)))
            effects.append(.arm(.stable(id), afterMs: Self.stableMs))
            becameIdle(id)
            updateReadiness()
        case .result(let answered, _), .error(let answered, _, _):
            guard case .busy(let invocation, let startedNs) = instances[index].phase, answered?.stringValue == invocation.id else {
                let kind = if case .result = message { "result" } else { "error" }
                let quoted = answered?.excerpt() ?? "(none)"
                end(id, reason: .failure("protocol error: a \(kind) for id \(quoted) that is not the invocation in flight"), gracefully: false)
                return
            }
            effects += [.cancel(.invocationDeadline(id)), .cancel(.cpuCheck(id))]
            let elapsed = Double(now - startedNs) / 1e6
            switch message {
            case .result(_, let value):
                complete(invocation, .result(value), durationMs: elapsed)
            case .error(_, let type, let text):
                lastError = "\(type): \(text)"
                complete(invocation, .failure(.init(.handler(type), text)), durationMs: elapsed)
            default:
                break
            }
            consecutiveFailures = 0
            if instances[index].endReason == nil {
                instances[index].phase = .idle
                becameIdle(id)
            } else {
                instances[index].phase = .stopping
            }
        case .unknown(let type):
            end(id, reason: .failure("protocol error: unknown message type '\(type)'"), gracefully: false)
        case .publish, .shadow:
            // The shell answers these itself: they change nothing here.
            break
        }
    }

    private mutating func becameIdle(_ id: InstanceID) {
        dispatch()
        if instance(id)?.isIdle == true && spec.lifecycle == .onDemand && state != .starting {
            effects.append(.arm(.idle(id), afterMs: spec.idleTimeoutMs))
        }
    }

    private mutating func updateReadiness() {
        guard state == .starting || state == .restarting else { return }
        let ready = instances.filter { instance in
            switch instance.phase {
            case .idle, .busy: return true
            default: return false
            }
        }.count
        guard ready >= wantedAtStart || (spec.lifecycle == .onDemand && ready > 0) else { return }
        state = .running
        if !announcedReady {
            announcedReady = true
            effects.append(.announceReady)
        }
        if spec.lifecycle == .onDemand {
            for instance in instances where instance.isIdle {
                effects.append(.arm(.idle(instance.id), afterMs: spec.idleTimeoutMs))
            }
        }
    }

    // MARK: Timers

    private mutating func fired(_ timer: SupervisorTimer) {
        switch timer {
        case .restart:
            guard state == .restarting else { return }
            restarts += 1
            if spec.lifecycle == .onDemand && announcedReady {
                // It has loaded before: the next event starts it.
                state = .idle
                dispatch()
            } else {
                state = .starting
                fillInstances(minimum: wantedAtStart)
            }
        case .startDeadline(let id):
            guard let instance = instance(id), instance.isStarting, instance.endReason == nil else { return }
            end(id, reason: .failure("did not send ready within startTimeoutMs (\(spec.startTimeoutMs) ms)"), gracefully: false)
        case .invocationDeadline(let id):
            timedOut(id)
        case .cpuCheck(let id):
            guard instance(id)?.currentInvocation != nil else { return }
            effects += [.checkCPU(id), .arm(.cpuCheck(id), afterMs: Self.cpuCheckMs)]
        case .idle(let id):
            guard instance(id)?.isIdle == true else { return }
            end(id, reason: .idleTimeout, gracefully: true)
        case .stable(let id):
            guard let instance = instance(id), instance.endReason == nil else { return }
            consecutiveFailures = 0
        case .channelClosedGrace(let id):
            guard let instance = instance(id), instance.endReason == nil else { return }
            end(id, reason: .failure("closed its runtime channel (fd 3) but kept running"), gracefully: false)
        case .stopGrace(let id):
            guard instance(id) != nil else { return }
            effects += [.signal(id, .terminate), .arm(.killGrace(id), afterMs: Self.killGraceMs)]
        case .killGrace(let id):
            guard instance(id) != nil else { return }
            effects.append(.signal(id, .kill))
        }
    }

    private mutating func timedOut(_ id: InstanceID) {
        guard let index = instances.firstIndex(where: { $0.id == id }),
              case .busy(let invocation, let startedNs) = instances[index].phase
        else { return }
        timeouts += 1
        let elapsed = Double(now - startedNs) / 1e6
        lastError = "invocation \(invocation.id) timed out after \(spec.timeoutMs) ms"
        instances[index].phase = .stopping
        complete(invocation, .failure(.init(.timeout, "the handler did not answer within timeoutMs (\(spec.timeoutMs) ms); the instance was replaced")), durationMs: elapsed)
        effects.append(.event(.timeout(invocationId: invocation.id, timeoutMs: spec.timeoutMs)))
        // Its state is unknown once it missed a deadline: replace it.
        end(id, reason: .invocationTimeout, gracefully: false)
    }

    // MARK: Processes

    private mutating func fillInstances(minimum: Int) {
        fillTarget = minimum
        continueFilling()
    }

    /// Asks for the next spawn of a fill in progress, once the one before it has been answered.
    private mutating func continueFilling() {
        guard spawnPending == nil, let target = fillTarget else { return }
        if instances.filter({ !$0.isEnding }).count < target {
            spawnInstance()
        } else {
            fillTarget = nil
        }
    }

    private mutating func spawnInstance() {
        let id = InstanceID(nextInstance)
        nextInstance += 1
        instances.append(Instance(id: id, startedNs: now, config: spec.config))
        processesChanged += 1
        spawnPending = id
        effects.append(.spawn(id))
    }

    private mutating func spawned(_ id: InstanceID, pid: Int32) {
        if spawnPending == id { spawnPending = nil }
        guard let index = instances.firstIndex(where: { $0.id == id }) else { return }
        instances[index].pid = pid
        processesChanged += 1
        instances[index].config = spec.config
        effects.append(.arm(.startDeadline(id), afterMs: spec.startTimeoutMs))
        effects.append(.send(id, .initialize(function: spec.name, version: spec.version, thing: thing, deploymentId: deploymentId, config: spec.config)))
        effects.append(.event(.started(pid: pid)))
        guard state != .stopping && state != .stopped && state != .broken else {
            fillTarget = nil
            return
        }
        continueFilling()
        if spec.lifecycle == .onDemand { dispatch() }
    }

    private mutating func spawnFailed(_ id: InstanceID, reason: String) {
        if spawnPending == id { spawnPending = nil }
        fillTarget = nil
        guard let index = instances.firstIndex(where: { $0.id == id }) else { return }
        instances.remove(at: index)
        processesChanged += 1
        recordFailure(reason)
        if state == .stopping && instances.isEmpty { finishStop() }
    }

    /// Ends an instance: gracefully (shutdown message, SIGTERM after stopTimeoutMs, SIGKILL after
    /// that; an instance not ready yet gets SIGTERM at once) or at once with SIGKILL.
    private mutating func end(_ id: InstanceID, reason: Instance.EndReason, gracefully: Bool) {
        guard let index = instances.firstIndex(where: { $0.id == id }) else { return }
        if instances[index].endReason == nil { instances[index].endReason = reason }
        let wasStarting = instances[index].isStarting
        if case .busy(let invocation, let startedNs) = instances[index].phase {
            if gracefully, reason == .stopRequested || reason == .replaced {
                // Let it finish: a graceful stop or restart waits for the event in flight.
                scheduleGracefulEnd(id)
                return
            }
            let elapsed = Double(now - startedNs) / 1e6
            if case .failure(let why) = reason {
                complete(invocation, .failure(.init(.crashed, "the function \(why) while handling this event")), durationMs: elapsed)
            } else if state == .broken {
                complete(invocation, .failure(.init(.broken, "function \(spec.name) was stopped (BROKEN: \(lastError ?? "see its log")) while handling this event")), durationMs: elapsed)
            } else {
                complete(invocation, .failure(.init(.stopped, "function \(spec.name) was stopped (stop requested) while handling this event")), durationMs: elapsed)
            }
        }
        instances[index].phase = .stopping
        cancelTimers(of: id)
        if gracefully && wasStarting {
            // Not ready yet: it has no event to finish and does not read its channel, so the
            // grace would only be waited out (a deployment superseded while a model loads).
            effects += [.signal(id, .terminate), .arm(.killGrace(id), afterMs: Self.killGraceMs)]
        } else if gracefully {
            scheduleGracefulEnd(id)
        } else {
            effects.append(.signal(id, .kill))
        }
    }

    private mutating func scheduleGracefulEnd(_ id: InstanceID) {
        effects += [.send(id, .shutdown), .arm(.stopGrace(id), afterMs: spec.stopTimeoutMs)]
    }

    private mutating func cancelTimers(of id: InstanceID) {
        effects += [.cancel(.startDeadline(id)), .cancel(.invocationDeadline(id)), .cancel(.cpuCheck(id)), .cancel(.idle(id)),
                    .cancel(.stable(id)), .cancel(.channelClosedGrace(id)), .cancel(.stopGrace(id)), .cancel(.killGrace(id))]
    }

    private mutating func exited(_ id: InstanceID, status: String, limitReason: String?) {
        guard let index = instances.firstIndex(where: { $0.id == id }) else { return }
        let instance = instances.remove(at: index)
        processesChanged += 1
        cancelTimers(of: id)
        if let invocation = instance.currentInvocation {
            complete(invocation, .failure(.init(.crashed, "the function \(status) while handling this event")), durationMs: 0)
        }
        switch instance.endReason {
        case .stopRequested?, .idleTimeout?:
            break
        case .invocationTimeout?, .replaced?:
            if state == .running || state == .starting { replaceInstances() }
        case .failure(let why)?:
            recordFailure(why)
        case nil:
            let phase = instance.isStarting ? " before sending ready" : ""
            recordFailure("\(limitReason ?? status)\(phase) (see \(logPath))")
        }
        if state == .stopping && instances.isEmpty {
            finishStop()
        } else if spec.lifecycle == .onDemand && instances.isEmpty && state == .running {
            state = .idle
        }
        if state == .idle || state == .running { dispatch() }
    }

    /// After an instance was replaced (a timeout, a configuration it could not take, a restart):
    /// long-lived functions fill up again; an on-demand one that has loaded before waits for its
    /// next event, and one that has not yet must start again itself, or it would stay STARTING.
    private mutating func replaceInstances() {
        if spec.lifecycle == .longLived {
            fillInstances(minimum: spec.concurrency)
        } else if !announcedReady {
            fillInstances(minimum: wantedAtStart)
        } else {
            dispatch()
        }
    }

    private mutating func recordFailure(_ reason: String) {
        guard state != .stopping && state != .stopped && state != .broken else { return }
        consecutiveFailures += 1
        lastError = reason
        effects.append(.log(.failed(reason: reason, failures: consecutiveFailures)))
        let broken = consecutiveFailures >= spec.restart.maxFailures
        effects.append(.event(.crashed(reason: reason, failures: consecutiveFailures, maxFailures: spec.restart.maxFailures)))
        if broken {
            state = .broken
            for id in instances.filter({ !$0.isEnding }).map(\.id) { end(id, reason: .stopRequested, gracefully: false) }
            failQueued(.broken, "function \(spec.name) is BROKEN: \(reason)")
            effects.append(.event(.broken(reason: reason, failures: consecutiveFailures)))
        } else {
            state = .restarting
            effects.append(.arm(.restart, afterMs: spec.restart.delayMs(afterFailures: consecutiveFailures)))
        }
        effects.append(.failed(reason: reason, broken: broken))
    }

    private mutating func failQueued(_ kind: ErrorKind, _ message: String) {
        while let invocation = queue.popFirst() { complete(invocation, .failure(.init(kind, message)), durationMs: 0) }
    }

    private mutating func finishStop() {
        state = .stopped
        if stopCompletionPending {
            stopCompletionPending = false
            effects.append(.stopped)
        }
    }

    private mutating func complete(_ invocation: Invocation, _ outcome: InvocationOutcome, durationMs: Double) {
        invocations += 1
        if outcome.isFailure { errors += 1 }
        if durationMs > 0 { latency.record(durationMs) }
        effects.append(.complete(invocation, outcome, durationMs: durationMs))
    }

    private mutating func update(_ id: InstanceID, _ change: (inout Instance) -> Void) {
        guard let index = instances.firstIndex(where: { $0.id == id }) else { return }
        change(&instances[index])
    }
}
