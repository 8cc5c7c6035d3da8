#if canImport(Glibc)
import Glibc
#endif
import EdgeArtifacts
import EdgeCgroups
import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// The edge agent: one reactor thread that owns all state and drives the MQTT client's socket,
/// fed also by the staging worker, the MQTT connect attempts, child-exit signals and timers.
public final class Agent {
    let config: AgentConfiguration
    let topics: Topics
    var logger: Logger
    let loop = EventLoop()
    /// Blocking work (saves, cgroup clean-up, downloads), off the reactor.
    let io: IOWorker
    let signals: SignalChannel
    let client: MQTTClient
    /// Every message the agent publishes goes through it.
    let outbox: Outbox
    let coordinator: DeploymentCoordinator
    /// The thing's shadows, served over the AWS IoT Device Shadow MQTT API (`serve`), or the
    /// shadow service's copies of them (`cloud`).
    let shadows: ShadowServer
    /// In `cloud` mode, the agent's side of the shadow service's API.
    var cloudShadows: CloudShadowClient?
    /// Functions' shadow requests waiting for the service, by request number.
    var cloudShadowReplies: [Int: (CloudShadowClient.Answer) -> Void] = [:]
    var cloudShadowRequests = 0
    var cloudShadowExpiry: EventLoop.Token?
    /// The health interval in effect: the configuration's, or the classic shadow's.
    var healthIntervalSeconds: Int
    var shadowReportDue: EventLoop.Token?
    var shadowReportInFlight = false
    var shadowReportAgain = false
    /// The last reason the agent's own report into its shadow was refused (413, say), logged once.
    var shadowReportProblem: String?
    let host: FunctionHost
    let policy: FunctionHostPolicy
    /// Why cgroup caps are off, when they are.
    let cgroupProblem: String?
    let startedMs = Clock.wallMs()
    var usageTimer: EventLoop.Token?
    /// How often the functions' cgroups are read for the limits they hit.
    static let usageSampleMs = 2000

    var connected = false
    var protocolVersion = 0
    var reconnects = 0
    /// Why the last connect attempt failed, for health.
    var lastConnectionFailure: String?
    /// Each distinct failure since the last connection: when it was last said at its level, and
    /// how many times it came since.
    var failureLog: [String: (saidMs: Int64, since: Int)] = [:]
    var everConnected = false
    var subscribed: [String: Int] = [:]
    /// Subscriptions sent whose SUBACK has not come yet.
    var unconfirmedSubscriptions: Set<String> = []
    /// Subscriptions the broker refused since they last took, and the timer that asks again.
    var refusedSubscriptions: Set<String> = []
    var subscriptionRetry: EventLoop.Token?
    /// The deployment attempt waiting for the broker to answer the subscriptions asked for.
    var subscriptionGate: Int?
    /// Whether the broker delivers to this session (see `DeliveryProbe`).
    var deliveryProbe = DeliveryProbe()
    var deliveryProbeTimer: EventLoop.Token?
    /// The message id of the probe in flight, to tell its PUBACK from the outbox's.
    var deliveryProbeMessage: Int32?
    var deliveryProbeRefusalSaid = false
    var invocationCounter = 0
    /// The control topic's rates (Agent+Control).
    var controlBudget = PublishBudget(messagesPerSecond: Agent.controlRequestsPerSecond, bytesPerSecond: 1)
    var logBudget = PublishBudget(messagesPerSecond: Agent.controlRequestsPerSecond, bytesPerSecond: Agent.controlLogBytesPerSecond)
    var healthTimer: EventLoop.Token?
    var healthDue: EventLoop.Token?
    /// When the report `healthDue` will be made (monotonic ms).
    var healthDueAtMs: Int64?
    // The services, in the order they start; they stop in reverse.
    lazy var session = MQTTSessionService(self)
    lazy var healthService = HealthService(self)
    lazy var shadowService = ShadowService(self)
    lazy var functions = FunctionsService(self)
    lazy var services = ServiceGroup([session, IOService(io), healthService, shadowService, functions], loop: loop, logger: logger)
    /// Whether the agent is stopping (its services are being stopped, or are).
    var shuttingDown: Bool { services.phase == .stopping || services.phase == .stopped }

    /// Prepares everything that can fail on a bad configuration, so that the agent stops at start with a clear message.
    public init(config: AgentConfiguration) throws(StartupError) {
        self.config = config
        topics = Topics(thing: config.thingName, shadowRoot: config.shadows.topicRoot)
        logger = Logger(level: config.logLevel, recent: RecentLines()).with("thing", config.thingName)
        let logDir = "\(config.stateDir)/logs"
        do {
            // Others may traverse (not list) the state directory: functions running as their own
            // user reach their folders below it.
            try Files.makeDirectories(config.stateDir, mode: 0o711)
            try Files.makeDirectories(logDir, mode: 0o750)
            try Files.allowTraversal(config.stateDir)
        } catch {
            throw StartupError("stateDir: cannot create \(config.stateDir) (\(error.reason.lowercased())): choose a writable folder with --state-dir")
        }
        var runtime = try Agent.pythonRuntime(config)
        if let folder = runtime, Users.isRoot, DeviceProbe.traversalProblem("\(folder)/edge_runtime.py", need: "r") != nil {
            // Functions run as another user, who must be able to read the runtime module.
            runtime = Agent.installRuntime(from: folder, stateDir: config.stateDir, logger: logger) ?? folder
        }
        if runtime == nil {
            logger.warning("the Python runtime was not found; python3 functions will fail to start until runtimeDir is set")
        }
        do {
            signals = try SignalChannel([SIGTERM, SIGINT, SIGCHLD, SIGHUP])
            io = try IOWorker(loop: loop, logger: logger, slowDiskMs: Agent.testSlowDiskMs)
        } catch {
            throw StartupError("cannot set up the agent's event sources: \(error)")
        }
        var settings = MQTTSettings(clientId: config.thingName, endpoints: config.brokers, keepAliveSeconds: config.keepAliveSeconds)
        settings.reconnect = ReconnectBackoff(maxMs: config.reconnectMaxMs)
        settings.protocolSetting = config.protocolSetting
        settings.connackTimeoutMs = config.connectTimeoutMs
        if let credentials = config.credentials {
            settings.username = credentials.username
            settings.password = try BrokerPassword.read(credentials, logger: logger)
        }
        if let tls = config.tls {
            settings.tls = .init(caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile)
        }
        settings.will = .init(topic: topics.health,
                              payload: JSONCodec.serialize(HealthDocument.offline(thing: config.thingName, reason: "connection lost", timestamp: nil,
                                                                                 groups: config.thingGroups)),
                              qos: 1, retain: true)
        do {
            client = try MQTTClient(settings: settings, loop: loop)
        } catch {
            throw StartupError("broker.tls: \(error.description)")
        }
        // Cgroups last: nothing after this can fail, so a start that fails leaves no cgroup behind.
        // Orphaned descendants of functions become the agent's to reap.
        if !Signals.becomeSubreaper() { logger.warning("cannot become the reaper of orphaned function processes") }
        let tree: CgroupTree?
        switch Agent.claimCgroups(config) {
        case .success(let made):
            tree = made
            cgroupProblem = made.problems.isEmpty ? nil : made.problems.joined(separator: "; ")
        case .failure(let error):
            tree = nil
            cgroupProblem = error.description
        }
        let python = Agent.resolveExecutable(config.python) ?? config.python
        let functionUids = try Agent.functionUids(config, logger: logger)
        host = FunctionHost(thing: config.thingName, python: python, pythonRuntimeDir: runtime, logDir: logDir, cgroups: tree,
                            mayLimitOtherUsers: DeviceProbe.hasCapability(DeviceProbe.capSysResource), io: io,
                            functionUids: functionUids)
        let pythonProblem = DeviceProbe.traversalProblem(python, need: "x").map { "\(python): \($0)" }
            ?? runtime.flatMap { folder in DeviceProbe.traversalProblem("\(folder)/edge_runtime.py", need: "r").map { "\(folder): \($0)" } }
        var policy = FunctionHostPolicy(
            defaultLimits: config.defaultLimits, defaultUser: config.functionUser ?? (Users.isRoot && functionUids == nil ? Agent.defaultFunctionUser : nil),
            allowRoot: config.allowRootFunctions, agentUid: geteuid(), capacity: DeviceProbe.capacity(),
            controllers: tree?.controllers ?? [], cgroupProblem: cgroupProblem, allowUncapped: config.allowUncapped)
        policy.functionUids = functionUids?.range
        policy.stateDirProblem = DeviceProbe.traversalProblem(config.stateDir)
        policy.pythonProblem = pythonProblem
        self.policy = policy
        outbox = Outbox(client: client, loop: loop, io: io, store: OutboxStore(stateDir: config.stateDir, sync: config.outbox.sync),
                        limits: config.outbox, logger: logger)
        loop.beforeWait = { [outbox] in outbox.endOfTurn() }
        healthIntervalSeconds = config.healthIntervalSeconds
        shadows = ShadowServer(thing: config.thingName, topicRoot: config.shadows.topicRoot, stateDir: config.stateDir, io: io, logger: logger) { [outbox] topic, payload in
            outbox.publish(topic, payload, qos: 1)
        }
        if config.shadows.mode == .cloud { cloudShadows = CloudShadowClient(topics: shadows.topics) }
        coordinator = DeploymentCoordinator(thing: config.thingName, groups: config.thingGroups, shadowRoot: config.shadows.topicRoot,
                                            stateDir: config.stateDir, trust: config.deploymentTrust,
                                            loop: loop, io: io, logger: logger) { [policy] spec in
            FunctionAdmission.check(spec, policy: policy, lookupUser: Users.lookup) { name in
                functionUids.map { $0.assign(name) } ?? .failure(FunctionUidProblem(message: "functions.uids is off"))
            }
        }
        coordinator.garbageCollected = { functionUids?.releaseGone() }
        coordinator.delegate = self
    }

    /// Sets up the agent's cgroup subtree and takes it (no other agent may use it at the same time).
    static func claimCgroups(_ config: AgentConfiguration) -> Result<CgroupTree, CgroupError> {
        switch Cgroups.setUp(mode: config.cgroupMode, root: config.cgroupRoot, name: Cgroups.subtreeName(thing: config.thingName)) {
        case .success(let tree):
            do {
                try tree.claim()
            } catch {
                return .failure(error)
            }
            return .success(tree)
        case .failure(let error):
            return .failure(error)
        }
    }

    /// A delay added to every save, for tests of the agent on a slow disk; never set in production.
    static var testSlowDiskMs: Int {
        getenv("EDGE_AGENT_TEST_SLOW_DISK_MS").flatMap { Int(String(cString: $0)) }.map { max(0, min($0, 60_000)) } ?? 0
    }

    /// The table of per-function uids, when functions get one each: the agent is root, and
    /// neither `functions.user` nor `functions.uids: off` says otherwise (an explicit user wins).
    static func functionUids(_ config: AgentConfiguration, logger: Logger) throws(StartupError) -> FunctionUidStore? {
        guard let range = config.functionUids, config.functionUser == nil else { return nil }
        guard Users.isRoot else { return nil }
        let store = try FunctionUidStore(stateDir: config.stateDir, range: range, logger: logger)
        // What was removed while the agent was down (or before a crash) is given back now.
        store.releaseGone()
        logger.info("functions run under uids of their own", ("range", range.description), ("held", String(store.table.held.count)))
        return store
    }

    /// The user functions run as by default when the agent is root (created by scripts/setup.sh).
    static let defaultFunctionUser = "edgefn"

    /// Finds `python/edge_runtime.py`: the configured folder, the installed one, or the source tree's.
    static func pythonRuntime(_ config: AgentConfiguration) throws(StartupError) -> String? {
        if let configured = config.runtimeDir {
            let folder = "\(configured)/python"
            guard Files.exists("\(folder)/edge_runtime.py") else {
                throw StartupError("runtimeDir: \(folder)/edge_runtime.py does not exist: point runtimeDir at the folder that holds python/edge_runtime.py")
            }
            return folder
        }
        guard let executable = Files.executablePath() else { return nil }
        var folder = Files.parent(of: executable)
        var candidates = ["\(folder)/../share/edge-agent/runtime/python", "/usr/share/edge-agent/runtime/python"]
        for _ in 0..<5 {
            candidates.append("\(folder)/runtime/python")
            folder = Files.parent(of: folder)
        }
        return candidates.first { Files.exists("\($0)/edge_runtime.py") }
    }

    /// Copies `edge_runtime.py` into `<stateDir>/runtime/python`, readable by every user, for when
    /// the folder it was found in is not (a source tree under /root). nil if the copy failed.
    static func installRuntime(from folder: String, stateDir: String, logger: Logger) -> String? {
        let target = "\(stateDir)/runtime/python"
        do {
            try Files.makeDirectories(target, mode: 0o755)
            let module = try Files.read("\(folder)/edge_runtime.py", maxBytes: 1 << 20)
            try Files.writeAtomically("\(target)/edge_runtime.py", module, mode: 0o644)
            logger.info("the Python runtime was copied where functions can read it", ("from", folder), ("to", target))
            return target
        } catch {
            logger.warning("cannot copy the Python runtime where functions can read it", ("error", error.description))
            return nil
        }
    }

    /// An absolute path for `name`: itself if it has a slash, else the first match on PATH.
    static func resolveExecutable(_ name: String) -> String? {
        if name.contains("/") { return name }
        let path = getenv("PATH").map { String(cString: $0) } ?? LaunchPlan.basePath
        for folder in path.split(separator: ":") where Files.isAccessible("\(folder)/\(name)", X_OK) {
            return "\(folder)/\(name)"
        }
        return nil
    }

    /// Runs until SIGTERM or SIGINT, then stops the functions and disconnects cleanly.
    public func run() {
        logger.info("edge-agent starting", ("version", HealthReport.agentVersion),
                    ("brokers", config.brokers.map(\.description).joined(separator: ",")),
                    ("protocol", config.protocolSetting.rawValue), ("tls", config.tls == nil ? "off" : "on"),
                    ("user", config.credentials?.username ?? "-"), ("shadows", config.shadows.mode.rawValue), ("stateDir", config.stateDir))
        loop.watch(signals.descriptor.rawValue) { [unowned self] _ in self.handleSignals() }
        reportCgroups()
        if Users.isRoot, let user = policy.defaultUser, Users.lookup(user) == nil {
            logger.error("the user functions run as by default does not exist: every deployment that names no user will be rejected",
                         ("user", user), ("fix", "useradd --system --no-create-home --shell /usr/sbin/nologin \(user), or set functions.user"))
        }
        services.start()
        loop.run()
        logger.info("edge-agent stopped")
    }

    // MARK: Cgroups

    /// Says at start which cgroup version is in use, cleans up after an earlier run, or says
    /// plainly that cgroup caps are off.
    private func reportCgroups() {
        guard let tree = host.cgroups else {
            logger.warning("cgroup caps are off: functions get rlimits only", ("reason", cgroupProblem ?? "unknown"),
                           ("deployments with memoryMB, cpus or pids", config.allowUncapped ? "run uncapped (cgroups.allowUncapped)" : "are rejected"))
            return
        }
        logger.info("cgroups in use", ("version", tree.version.rawValue), ("controllers", tree.controllers.sorted().joined(separator: ",")),
                    ("subtree", tree.paths.joined(separator: ",")), ("agentLeaf", tree.agentLeaf ?? "-"))
        for problem in tree.problems { logger.warning("a cgroup controller is not available", ("problem", problem)) }
        let stale = tree.cleanStale()
        if !stale.cleaned.isEmpty {
            logger.info("removed cgroups an earlier run left, with their processes", ("cgroups", stale.cleaned.joined(separator: ",")))
        }
        for path in stale.leftover { logger.warning("a stale cgroup could not be removed", ("cgroup", path)) }
    }

    func scheduleUsageSampling() {
        usageTimer = loop.after(Agent.usageSampleMs) { [unowned self] in
            for runner in self.coordinator.allRunners { runner.sampleUsage() }
            self.scheduleUsageSampling()
        }
    }

    // MARK: Signals and shutdown

    private func handleSignals() {
        for signal in signals.drain() {
            switch signal {
            case SIGCHLD:
                reapChildren()
            case SIGTERM, SIGINT:
                beginShutdown(reason: "stopped by \(Signals.name(signal))")
            default:
                logger.info("signal ignored", ("signal", Signals.name(signal)))
            }
        }
    }

    private func reapChildren() {
        let runners = coordinator.allRunners
        let ended = Signals.reapChildren { pid in _ = runners.first { $0.beforeReaping(pid) } }
        for (pid, status) in ended {
            let owner = coordinator.allRunners.first { $0.reaped(pid, status: status) }
            if owner == nil { logger.debug("reaped a process that is no function's", ("pid", String(pid))) }
        }
        functions.processesChanged()
    }

    /// Stops the services in reverse order (the functions first, the MQTT session last), then the loop.
    private func beginShutdown(reason: String) {
        services.shutdown(reason: reason) { [unowned self] in
            // Also when a function outlived its deadline: nothing of the agent's stays behind.
            self.host.cgroups?.removeSubtree()
            self.loop.stop()
        }
    }
}

/// A setting or resource that keeps the agent from starting, with the fix.
public struct StartupError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
