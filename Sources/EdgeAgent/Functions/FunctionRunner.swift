#if canImport(Glibc)
import Glibc
#endif
import EdgeCgroups
import EdgeCore
import EdgeJSON
import EdgePOSIX

/// The shell around one function's `Supervisor`: it feeds the supervisor what happens (messages
/// on fd 3, exits, timers) and performs what the supervisor decides (spawn, send, signal, arm a
/// timer, publish an outcome). The decisions are all the supervisor's.
final class FunctionRunner {
    let id: RunnerID
    private(set) var supervisor: Supervisor
    let directory: String
    let deploymentId: String
    let host: FunctionHost
    let loop: EventLoop
    let logger: Logger
    weak var delegate: FunctionRunnerDelegate?
    /// Which deployment document this function's spec came from.
    var origin: DeploymentSource?

    private(set) var processes: [InstanceID: FunctionProcess] = [:]
    let janitor: CgroupJanitor
    private lazy var timers = NamedTimers<SupervisorTimer>(loop: loop) { [unowned self] timer in self.handle(.timer(timer)) }
    private let pump = EventPump<SupervisorEvent>()

    /// Limit counters of instances already gone, so health totals survive replacements.
    var retiredOomKills: Int64 = 0
    var retiredPidsLimitHits: Int64 = 0
    /// The highest memory peak of instances already gone (an OOM-killed one peaks at its limit).
    var retiredMemoryPeak: Int64?

    init(id: RunnerID, spec: FunctionSpec, directory: String, deploymentId: String, host: FunctionHost, loop: EventLoop, logger: Logger) {
        self.id = id
        janitor = CgroupJanitor(io: host.io, loop: loop)
        self.directory = directory
        self.deploymentId = deploymentId
        self.host = host
        self.loop = loop
        self.logger = logger.with("function", spec.name).with("version", spec.version)
        let budget = CPUBudget(spec: spec, mayLimitOtherUsers: host.mayLimitOtherUsers)
        cpuBudget = budget
        supervisor = Supervisor(spec: spec, thing: host.thing, deploymentId: deploymentId,
                                logPath: "\(host.logDir)/\(spec.name).log", watchesCPU: budget.map { !$0.byKernel } ?? false)
    }

    var spec: FunctionSpec { supervisor.spec }
    var name: String { supervisor.name }
    var state: FunctionState { supervisor.state }
    var lastError: String? { supervisor.lastError }
    var takesLiveConfig: Bool { supervisor.takesLiveConfig }
    var pids: [pid_t] { supervisor.pids }
    var hasInstances: Bool { supervisor.hasInstances }
    var logPath: String { supervisor.logPath }
    /// Who its processes run as, for health and logs: a user's name, or "uid N" for a uid of its
    /// own (no account has it), or nil for the agent's own user.
    var runsAs: String? {
        if let user = spec.user { return user }
        return Users.isRoot ? host.functionUids?.uid(of: name).map { "uid \($0)" } : nil
    }
    /// limits.cpuSeconds of an on-demand function, enforced by the kernel or watched by the agent.
    private let cpuBudget: CPUBudget?
    /// What the function may publish itself, and what it did.
    private(set) lazy var publishBudget = PublishBudget(spec.limits)
    /// One log per function, shared by its instances, so the size cap holds for the function.
    private lazy var log = RotatingLog(path: logPath)

    // MARK: Inputs

    func start() { handle(.start) }

    /// Stops every instance gracefully: `shutdown`, then SIGTERM after `stopTimeoutMs`, then SIGKILL.
    /// Queued events are answered with a `Stopped` error unless taken first with `takeQueue`.
    func stop() { handle(.stop) }

    /// A new configuration, given to the running instances without a restart (`config` message).
    func updateConfig(_ updated: FunctionSpec) { handle(.updateConfig(updated)) }

    /// Hands the events not yet started to a successor (a new version of this function).
    func takeQueue() -> [Invocation] { supervisor.takeQueue() }

    /// Queues an event; a full queue or a BROKEN function answers with an error at once.
    func enqueue(_ invocation: Invocation) { handle(.enqueue(invocation)) }

    func enqueue(contentsOf invocations: [Invocation]) {
        for invocation in invocations { handle(.enqueue(invocation)) }
    }

    /// Called while `pid` is an unreaped zombie: kills what it left behind (its process group and
    /// cgroup). False when the pid is not one of this function's.
    func beforeReaping(_ pid: pid_t) -> Bool {
        guard let process = process(pid) else { return false }
        process.killLeftovers(janitor: janitor)
        return true
    }

    /// Called by the agent when it reaps `pid`; false when the pid is not one of this function's.
    func reaped(_ pid: pid_t, status: ExitStatus) -> Bool {
        guard let process = process(pid) else { return false }
        processes[process.id] = nil
        // An exec that failed is reported before the child exits: read it before the exit.
        readSpawnReport(of: process, executable: "", final: true)
        process.closeIO()
        logger.info("function instance exited", ("pid", String(pid)), ("status", status.description))
        let limitReason = retire(process, status: status)
        // What it printed is in the log (drained above); nothing at all is worth saying where the status points at the log.
        let silent = log.written == process.logWrittenAtStart ? ", printing nothing" : ""
        handle(.exited(process.id, status: status.description + silent, limitReason: limitReason))
        return true
    }

    private func process(_ pid: pid_t) -> FunctionProcess? {
        processes.values.first { $0.pid == pid }
    }

    /// Gives one event to the supervisor and performs what it decides, then any events that caused.
    func handle(_ event: SupervisorEvent) {
        pump.feed(event) { next in
            for effect in supervisor.handle(next, now: Clock.monotonicNs()) { perform(effect) }
        }
    }

    // MARK: Effects

    private func perform(_ effect: SupervisorEffect) {
        switch effect {
        case .spawn(let id):
            spawn(id)
        case .send(let id, let message):
            processes[id]?.channel?.send(message.json)
        case .invoke(let id, let invocation, let timeoutMs):
            guard let process = processes[id] else { return }
            process.channel?.sendInvoke(invocation, timeoutMs: timeoutMs)
            cpuBudget?.arm(process, logger: logger)
        case .signal(let id, let signal):
            processes[id]?.signal(signal == .kill ? SIGKILL : SIGTERM, janitor: janitor)
        case .checkCPU(let id):
            if let process = processes[id], let budget = cpuBudget, budget.exceeded(process) {
                handle(.cpuBudgetExceeded(id, reason: budget.reason))
            }
        case .arm(let timer, let afterMs):
            timers.arm(timer, afterMs: afterMs)
        case .cancel(let timer):
            timers.cancel(timer)
        case .complete(let invocation, let outcome, let durationMs):
            delegate?.runner(self, finished: invocation, outcome: outcome, durationMs: durationMs)
        case .event(let event):
            delegate?.runner(self, event: event)
        case .announceReady:
            delegate?.runnerReady(self)
        case .liveConfigDeclined:
            delegate?.runnerDeclinedLiveConfig(self)
        case .failed(let reason, let broken):
            delegate?.runner(self, failed: reason, broken: broken)
        case .stopped:
            delegate?.runnerStopped(self)
        case .changed:
            delegate?.runnerChanged(self)
        case .log(.failed(let reason, let failures)):
            logger.warning("function failed", ("reason", reason), ("failures", String(failures)))
        case .log(.configUpdated(let instances)):
            logger.info("configuration updated live", ("instances", String(instances)))
        }
    }

    // MARK: Processes

    /// Starts one process for instance `id`, and tells the supervisor whether it runs.
    private func spawn(_ id: InstanceID) {
        let beganNs = Clock.monotonicNs()
        var cgroup: FunctionCgroup?
        do {
            // Every descriptor is owned here: on a failure, those opened so far are closed as the
            // scope ends, before the catch removes the cgroup.
            let channel = try Channels.makeSocketPair()
            let channelAgent = channel.agent
            let channelChild = channel.child
            let out = try Channels.makePipe()
            let outRead = out.readEnd
            let outWrite = out.writeEnd
            let err = try Channels.makePipe()
            let errRead = err.readEnd
            let errWrite = err.writeEnd
            let own = try FunctionFiles.prepare(spec, directory: directory, host: host)
            var request = try LaunchPlan.request(for: spec, directory: directory, host: host, own: own,
                                                 stdout: outWrite.rawValue, stderr: errWrite.rawValue, channel: channelChild.rawValue)
            var joining = FileDescriptorList()
            if let tree = host.cgroups {
                let made = try tree.makeInstance(function: spec.name, limits: spec.limits)
                cgroup = made
                joining = try made.openForJoining()
                request.cgroupProcsFDs = joining.rawValues
            }
            // Not waiting for the exec: the child joins its cgroup and sets itself up while the
            // agent goes on; its report says later whether the exec worked.
            let started = try Spawner.start(request)
            // The child holds its ends now; the agent keeps only its own (closed unreported:
            // never written here).
            _ = consume channelChild
            _ = consume outWrite
            _ = consume errWrite
            _ = consume joining
            let pid = started.pid
            let report = started.report
            let reportNumber = report.rawValue
            let process = FunctionProcess(id: id, pid: pid, cgroup: cgroup, startedNs: beganNs)
            process.spawnReport = consume report
            let executable = request.executable
            process.spawnReportWatch = loop.watch(reportNumber) { [weak self, weak process] _ in
                guard let self, let process else { return }
                self.readSpawnReport(of: process, executable: executable)
            }
            process.channel = RuntimeChannel(descriptor: channelAgent, loop: loop) { [weak self] incoming in
                self?.received(incoming, from: id)
            }
            let reportLogError: (SystemError) -> Void = { [logger] error in
                logger.warning("cannot write the function's log", ("error", error.description))
            }
            do { try log.create() } catch { reportLogError(error) }
            process.logWrittenAtStart = log.written
            process.stdout = OutputCapture(descriptor: outRead, loop: loop, log: log, onError: reportLogError)
            process.stderr = OutputCapture(descriptor: errRead, loop: loop, log: log, onError: reportLogError)
            processes[id] = process
            logger.info("function instance started", ("pid", String(pid)), ("cgroup", cgroup?.path ?? "none"),
                        ("user", runsAs ?? "(the agent's)"))
            handle(.spawned(id, pid: pid))
        } catch {
            if let cgroup { removeCgroup(cgroup) }
            handle(.spawnFailed(id, reason: String(describing: error)))
        }
    }

    private func received(_ incoming: RuntimeChannel.Incoming, from id: InstanceID) {
        switch incoming {
        case .closed:
            handle(.channelClosed(id))
        case .protocolError(let problem):
            handle(.protocolError(id, problem))
        case .message(let message):
            switch message {
            case .publish(let topic, let payload, let qos, let retain):
                // A string payload goes out as its text, anything else as JSON.
                let bytes = payload.stringValue.map { Array($0.utf8) } ?? JSONCodec.serialize(payload)
                if let refusal = admitPublish(bytes: bytes.count)
                    ?? delegate?.runner(self, publish: topic, bytes: bytes, qos: qos, retain: retain) {
                    if !refusal.isEmpty {
                        processes[id]?.channel?.send(AgentMessage.publishError(topic: topic, message: refusal).json)
                    }
                }
            case .shadow(let type, let request):
                // The answer goes to the instance that asked, if it is still there.
                delegate?.runner(self, shadow: type, request) { [weak self] reply in self?.processes[id]?.channel?.send(reply) }
            default:
                handle(.message(id, message))
            }
        }
    }

    /// The function's publish rate (`PublishBudget`): nil when this publish may go; else what
    /// to tell the function, empty when it was told less than a second ago (a flood is not
    /// answered with a flood).
    private func admitPublish(bytes: Int) -> String? {
        publishBudget.retune(spec.limits)
        switch publishBudget.take(bytes: bytes, nowMs: Clock.monotonicMs()) {
        case .allowed:
            return nil
        case .tooLarge(let notice):
            guard notice != nil else { return "" }
            return "a publish of \(bytes) bytes is more than this function may publish in a second "
                + "(limits.publishKBPerSecond: \(publishBudget.bytesPerSecond / 1024)); raise functions.\(name).limits.publishKBPerSecond"
        case .refused(let notice):
            guard let count = notice else { return "" }
            announce(.publishRefused(refused: count, perSecond: publishBudget.messagesPerSecond, kbPerSecond: publishBudget.bytesPerSecond / 1024))
            return publishBudget.refusal(count: count, field: "functions.\(name)")
        }
    }

    /// What a child's spawn report says: nothing yet, its exec worked, or a step failed (then the
    /// child exits by itself, and its exit is a failure with this reason, not a crash).
    private func readSpawnReport(of process: FunctionProcess, executable: String, final: Bool = false) {
        let outcome: Spawner.Outcome
        switch process.spawnReport {
        case .some(let report): outcome = Spawner.outcome(of: report, executable: executable.isEmpty ? launchExecutable : executable)
        case .none: return
        }
        if case .pending = outcome, !final { return }
        if let watch = process.spawnReportWatch { loop.unwatch(watch) }
        process.spawnReportWatch = nil
        // Closed unreported: a read end, nothing written through it.
        process.spawnReport = nil
        if case .failed(let error) = outcome { handle(.execFailed(process.id, reason: error.description)) }
    }

    /// The executable the function's instances run, for messages.
    private var launchExecutable: String {
        switch spec.entry {
        case .python: return host.python
        case .command(let argv): return argv[0].hasPrefix("/") ? argv[0] : "\(directory)/\(argv[0])"
        }
    }
}
