import EdgeCore
import EdgeJSON
import EdgePOSIX
import EdgeSigning

/// What the coordinator needs from the agent around it.
protocol DeploymentCoordinatorDelegate: AnyObject {
    func coordinator(_ coordinator: DeploymentCoordinator, publish status: DeploymentStatus)
    func coordinator(_ coordinator: DeploymentCoordinator, makeRunner id: RunnerID, spec: FunctionSpec, directory: String,
                     deploymentId: String) -> FunctionRunner
    func coordinator(_ coordinator: DeploymentCoordinator, event: AgentEvent)
    /// The routes changed: subscriptions, health and the shadow's report must follow.
    func coordinatorFunctionsChanged(_ coordinator: DeploymentCoordinator)
    /// Staging runs elsewhere; the agent calls `staged(_:attempt:)` with the result on its own thread.
    func coordinator(_ coordinator: DeploymentCoordinator, stage specs: [FunctionSpec], attempt: Int)
    /// The agent calls `subscriptionsAnswered(attempt:refused:)` once the broker has answered
    /// every subscription asked for (at once when none waits, or offline).
    func coordinator(_ coordinator: DeploymentCoordinator, confirmSubscriptionsFor attempt: Int)
}

/// The shell around the `Rollout`: it reads deployment documents and the saved state, feeds the
/// rollout what happens (documents, staging results, runners ready, failed or stopped, timers)
/// and performs what it decides (stage, make, start and stop runners, hold and release events,
/// persist, publish). The decisions are all the rollout's.
final class DeploymentCoordinator {
    private(set) var rollout: Rollout
    private let store: DeploymentStore
    /// The keys deployments must be signed with (none: unsigned documents are applied).
    private let trust: DeploymentTrust
    private let thing: String
    /// Stateless and Sendable: staging runs on a worker thread with it.
    let stager: ArtifactStager
    /// Called on the loop once unused function folders are removed (their uids can be given back).
    var garbageCollected: (() -> Void)?
    private let loop: EventLoop
    private let io: IOWorker
    private let logger: Logger
    weak var delegate: DeploymentCoordinatorDelegate?
    /// Every runner not yet stopped: those in service and those being retired.
    private var runners: [RunnerID: FunctionRunner] = [:]
    private(set) lazy var router = Router { [unowned self] id in self.runners[id] }
    private lazy var timers = NamedTimers<RolloutTimer>(loop: loop) { [unowned self] timer in self.handle(.timer(timer)) }
    private let pump = EventPump<RolloutEvent>()
    /// The last status published (not one still waiting for its save), with each function's
    /// state as it was then: what a reconnect and health repeat.
    private(set) var lastStatus: DeploymentStatus?
    /// Saves asked for and done (the storage lane runs them in order), and the statuses that wait
    /// for the saves asked for before them: a status goes out only once what it reports is on
    /// disk, and statuses go out in order.
    private var savesRequested = 0
    private var savesDone = 0
    private var statusesAfterSave = RingQueue<(status: DeploymentStatus, afterSave: Int)>()

    init(thing: String, groups: [String], shadowRoot: String = "$aws", stateDir: String, trust: DeploymentTrust = DeploymentTrust(),
         loop: EventLoop, io: IOWorker, logger: Logger, admit: ((FunctionSpec) -> Result<FunctionAdmission, DocumentRejection>)?) {
        self.io = io
        self.trust = trust
        self.thing = thing
        rollout = Rollout(thing: thing, groups: groups, shadowRoot: shadowRoot, admit: admit)
        store = DeploymentStore(path: "\(stateDir)/deployments.json")
        stager = ArtifactStager(stateDir: stateDir)
        self.loop = loop
        self.logger = logger
    }

    // MARK: Inputs

    /// Starts what was applied before the agent stopped, from local files only (read at start,
    /// before anything is served).
    func restore() {
        handle(.restore(store.load().mapError { StoreFailure($0.description) }))
    }

    /// A retained deployment document arrived (an empty payload clears that source).
    func received(_ payload: [UInt8], from source: DeploymentSource) {
        if payload.isEmpty {
            guard trust.requiresSignature else {
                handle(.received(.cleared, from: source))
                return
            }
            // Clearing stops every function the source ran: with signatures required, anyone who
            // may publish must not be able to do that unsigned.
            handle(.received(.untrusted(nil, [ValidationIssue(
                path: "(document)", value: nil,
                message: "is empty (the source was cleared), and this agent applies only signed deployments: to stop its "
                    + "functions, deploy a signed document that lists none (edgectl undeploy --key KEYFILE)")]), from: source))
            return
        }
        switch JSONCodec.parse(payload, maxDepth: 32, uniqueKeys: true) {
        case .success(let document): handle(.received(opened(document, from: source), from: source))
        case .failure(let error) where trust.requiresSignature:
            // Not even an envelope: refused without waiting, like any untrusted document.
            handle(.received(.untrusted(nil, [ValidationIssue(path: "(document)", value: nil, message: error.message)]), from: source))
        case .failure(let error): handle(.received(.invalid(error.message), from: source))
        }
    }

    /// The document to apply: `document` itself, or what its verified envelope carries. The
    /// decision is `DeploymentTrust`'s; the signature check is libcrypto's.
    private func opened(_ document: JSONValue, from source: DeploymentSource) -> DeploymentPayload {
        func parsed(_ bytes: [UInt8]) -> Result<JSONValue, JSONParseError> { JSONCodec.parse(bytes, maxDepth: 32, uniqueKeys: true) }
        func placed(_ document: JSONValue, signed: Bool) -> DeploymentPayload {
            if let issue = DeploymentTarget.issue(document, from: source, thing: thing, signed: signed) { return .untrusted(document, [issue]) }
            return .document(document)
        }
        switch trust.open(document, verify: DeploymentSigner.verify) {
        case .success(.plain(let plain)):
            return placed(plain, signed: false)
        case .success(.signed(let payload, let keyid)):
            switch parsed(payload) {
            case .success(let inner) where SignedEnvelope.isEnvelope(inner):
                return .untrusted(nil, [ValidationIssue(path: "payload", value: nil, message: "holds another envelope; sign the deployment document itself")])
            case .success(let inner):
                if let keyid {
                    logger.info("deployment signature verified", ("source", source.description), ("keyid", keyid))
                } else {
                    logger.warning("a signed deployment is applied unchecked: this agent trusts no key (deployments.trustedKeys)",
                                   ("source", source.description))
                }
                return placed(inner, signed: keyid != nil)
            case .failure(let error):
                return .untrusted(nil, [ValidationIssue(path: "payload", value: nil, message: "is not a JSON document: \(error.message)")])
            }
        case .failure(let refusal):
            // The refused payload is read only to name its deploymentId and revision in the status.
            var inner: JSONValue? = SignedEnvelope.isEnvelope(document) ? nil : document
            if let payload = refusal.payload, case .success(let opened) = parsed(payload) { inner = opened }
            return .untrusted(inner, refusal.issues)
        }
    }

    func shadowChanged(_ overrides: ShadowOverrides, rearm: Set<String>) {
        handle(.shadowChanged(overrides, rearm: rearm))
    }

    /// The worker finished staging for attempt `number`.
    func staged(_ result: Result<[String: String], StagingFailure>, attempt number: Int) {
        handle(.staged(attempt: number, result))
    }

    func subscriptionsAnswered(attempt: Int, refused: [String]) { handle(.subscribed(attempt: attempt, refused: refused)) }
    func runnerReady(_ runner: FunctionRunner) { handle(.runnerReady(runner.id)) }
    func runnerFailed(_ runner: FunctionRunner, reason: String, broken: Bool) { handle(.runnerFailed(runner.id, reason: reason, broken: broken)) }
    func runnerDeclinedLiveConfig(_ runner: FunctionRunner) { handle(.runnerDeclinedLiveConfig(runner.id)) }

    func runnerStopped(_ runner: FunctionRunner) {
        handle(.runnerStopped(runner.id))
        if rollout.live[runner.name]?.id != runner.id { runners[runner.id] = nil }
    }

    /// Stops every function (agent shutdown), abandoning a deployment in flight without saving it.
    func stopAll() { handle(.stopAll) }

    /// Gives one event to the rollout and performs what it decides, then any events that caused.
    private func handle(_ event: RolloutEvent) {
        pump.feed(event) { next in
            for effect in rollout.handle(next) { perform(effect) }
        }
    }

    // MARK: Effects

    private func perform(_ effect: RolloutEffect) {
        switch effect {
        case .publish(var status):
            if status.state != .rejected { status.functions = functionDetail() }
            if savesDone < savesRequested || !statusesAfterSave.isEmpty {
                statusesAfterSave.append((status, savesRequested))
            } else {
                send(status)
            }
        case .stage(let attempt, let specs):
            delegate?.coordinator(self, stage: specs, attempt: attempt)
        case .create(let id, let spec, let directory, let deploymentId, let origin):
            guard let runner = delegate?.coordinator(self, makeRunner: id, spec: spec, directory: directory, deploymentId: deploymentId) else { return }
            runner.origin = origin
            runners[id] = runner
        case .start(let id):
            runners[id]?.start()
        case .stop(let id):
            runners[id]?.stop()
        case .updateConfig(let id, let spec):
            runners[id]?.updateConfig(spec)
        case .hold(let name, let id, let capacity):
            router.hold(name, from: runners[id], capacity: capacity)
        case .release(let name, let id):
            router.release(name, to: runners[id])
        case .routes(let routes):
            router.update(routes)
            delegate?.coordinatorFunctionsChanged(self)
        case .arm(let timer, let afterMs):
            timers.arm(timer, afterMs: afterMs)
        case .cancel(let timer):
            timers.cancel(timer)
        case .persist(let saved):
            persist(saved)
        case .confirmSubscriptions(let attempt):
            delegate?.coordinator(self, confirmSubscriptionsFor: attempt)
        case .save(let saved, let attempt):
            persist(saved) { [weak self] failure in self?.handle(.saved(attempt: attempt, failure: failure?.description)) }
        case .collectGarbage(let keeping):
            // On the lane that stages, after what was staged before it: removing an old version's
            // files takes the disk's time, and a folder being staged is never listed half-made.
            let stager = self.stager
            io.run(.network, { stager.collectGarbage(keeping: keeping) }) { [logger, garbageCollected] problem in
                if let problem { logger.warning("cannot remove unused artifacts", ("reason", problem)) }
                garbageCollected?()
            }
        case .log(let line):
            log(line)
        }
    }

    /// Saves the applied documents on the I/O worker's storage lane, in order; a failure is said
    /// where the operator looks (an event) once it is known.
    private func persist(_ saved: SavedDeployments, then answer: ((SystemError?) -> Void)? = nil) {
        let store = self.store
        savesRequested += 1
        io.save({ () -> SystemError? in
            do throws(SystemError) {
                try store.save(saved)
                return nil
            } catch {
                return error
            }
        }, then: { [weak self] failure in
            guard let self else { return }
            self.savesDone += 1
            if let failure {
                self.logger.error(answer == nil ? "cannot save the applied deployment; it will not survive a restart"
                                  : "cannot save the new deployment; it is rolled back", ("error", failure.description))
                self.delegate?.coordinator(self, event: .persistFailed(failure.description))
            }
            answer?(failure)
            while let next = self.statusesAfterSave.first, next.afterSave <= self.savesDone {
                _ = self.statusesAfterSave.popFirst()
                self.send(next.status)
            }
        })
    }

    private func send(_ status: DeploymentStatus) {
        lastStatus = status
        delegate?.coordinator(self, publish: status)
    }

    private func log(_ line: RolloutLog) {
        switch line {
        case .restoreFailed(let reason):
            logger.error("cannot restore the last deployment", ("reason", reason))
        case .savedDocumentInvalid(let source):
            logger.error("a saved deployment no longer validates; it is skipped", ("source", source.description))
        case .savedDocumentUnrunnable(let source, let issues):
            logger.error("a saved deployment cannot run on this device any more; it is skipped", ("source", source.description),
                         ("errors", issues.map(\.description).joined(separator: "; ")))
        case .restoring(let sources):
            logger.info("restoring the last applied deployment", ("sources", String(sources)))
        case .restoreUnrunnable:
            logger.error("the saved deployment cannot run on this device any more; nothing was started")
        case .sourceCleared(let source):
            logger.info("deployment source cleared", ("source", source.description))
        case .revisionSeen(let source, let revision):
            logger.debug("deployment revision already seen; ignored", ("source", source.description), ("revision", String(revision)))
        case .superseded(let source, let revision):
            logger.info("a waiting deployment revision was skipped for a newer one", ("source", source.description),
                        ("revision", String(revision)))
        case .rejected(let source, let issues):
            logger.warning("deployment rejected", ("source", source.description), ("errors", issues.map(\.description).joined(separator: "; ")))
        case .shadowUnapplicable(let errors):
            logger.error("the shadow's desired state cannot be applied: a deployed function cannot run here", ("errors", errors))
        case .started(let source, let start, let stop):
            logger.info("deployment started", ("source", source.description), ("start", start.joined(separator: ",")),
                        ("stop", stop.joined(separator: ",")))
        case .rollingBack(let reason):
            logger.warning("deployment failed; rolling back", ("reason", reason))
        case .finished(let state, let reason):
            logger.info("deployment finished", ("status", state.rawValue), ("reason", reason ?? ""))
        case .abandoned(let source):
            logger.warning("the agent stops in the middle of a deployment; it is not saved", ("source", source.description))
        }
    }

    // MARK: Queries

    /// The runner serving each function now.
    var liveRunners: [String: FunctionRunner] {
        var live: [String: FunctionRunner] = [:]
        for (name, runner) in rollout.live { live[name] = runners[runner.id] }
        return live
    }

    /// All runners, including those still stopping, for reaping children.
    var allRunners: [FunctionRunner] { Array(runners.values) }

    var current: EffectiveDeployment { rollout.current }
    var shadowFailure: String? { rollout.shadowFailure }

    func functionDetail() -> [String: JSONValue] {
        var detail: [String: JSONValue] = [:]
        for (name, runner) in liveRunners {
            var entry: [String: JSONValue] = ["version": .string(runner.spec.version), "state": .string(runner.state.rawValue)]
            if let error = runner.lastError { entry["lastError"] = .string(error) }
            if let origin = runner.origin { entry["source"] = .string(origin.description) }
            detail[name] = .object(entry)
        }
        return detail
    }

    /// The longest a function may take to stop gracefully: its grace, then SIGTERM's.
    var longestStopMs: Int { rollout.longestStopMs }

    var hasLiveProcesses: Bool {
        rollout.hasRetiring || runners.values.contains { $0.hasInstances }
    }
}
