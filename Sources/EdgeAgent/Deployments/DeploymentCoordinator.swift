import EdgeCore
import EdgeJSON
import EdgePOSIX

/// What the coordinator needs from the agent around it.
protocol DeploymentCoordinatorDelegate: AnyObject {
    func coordinator(_ coordinator: DeploymentCoordinator, publish status: DeploymentStatus)
    func coordinator(_ coordinator: DeploymentCoordinator, makeRunner spec: FunctionSpec, directory: String,
                     deploymentId: String) -> FunctionRunner
    func coordinator(_ coordinator: DeploymentCoordinator, event type: String, _ detail: [String: JSONValue])
    /// The set of runners changed: subscriptions and health must follow.
    func coordinatorFunctionsChanged(_ coordinator: DeploymentCoordinator)
    /// Staging runs elsewhere; the agent calls `staged(_:attempt:)` with the result on its own thread.
    func coordinator(_ coordinator: DeploymentCoordinator, stage specs: [FunctionSpec], attempt: Int)
}

/// Takes deployment documents as they arrive and moves the thing from what it runs to what
/// they ask for: validate, stage artifacts, switch over, watch health, then commit or roll back.
/// One attempt runs at a time; documents that arrive meanwhile wait their turn.
final class DeploymentCoordinator {
    private let thing: String
    private let groups: [String]
    private let store: DeploymentStore
    /// Stateless and Sendable: staging runs on a worker thread with it.
    let stager: ArtifactStager
    private let loop: EventLoop
    private let logger: Logger
    weak var delegate: DeploymentCoordinatorDelegate?
    /// Checks a function against this device (user, limits, caps); nil admits everything as written.
    var admit: ((FunctionSpec) -> Result<FunctionAdmission, DocumentRejection>)?
    /// What the classic shadow's desired state asks of the functions; applied to every deployment.
    private(set) var overrides = ShadowOverrides()
    /// Whether the overrides changed since they were last applied, and the BROKEN functions to re-arm.
    private var reconcilePending = false
    private var rearmPending: Set<String> = []
    /// Why the last change from the shadow failed and was rolled back, until one succeeds.
    private(set) var shadowFailure: String?

    /// What is applied now, and the documents it came from.
    private(set) var applied = DeploymentSet()
    private var appliedRaw: [DeploymentSource: JSONValue] = [:]
    private(set) var current = EffectiveDeployment()
    private var currentDirs: [String: String] = [:]
    private var previous = EffectiveDeployment()

    private(set) var runners: [String: FunctionRunner] = [:]
    /// Events for functions being replaced, held for their successor.
    private var handover: [String: [Invocation]] = [:]
    private var pending: [(DeploymentSource, [UInt8])] = []
    private var attempt: Attempt?
    private var attemptCounter = 0
    private(set) var lastStatus: DeploymentStatus?
    /// The documents loaded at start, kept as applied while their restore is in flight.
    private var restoredDocuments: DeploymentSet?
    private var shuttingDown = false

    private struct Attempt {
        var number: Int
        var source: DeploymentSource
        var deployment: Deployment?
        var candidate: DeploymentSet
        var candidateRaw: [DeploymentSource: JSONValue]
        var effective: EffectiveDeployment
        var started: [String]
        var stopped: [String]
        var dirs: [String: String] = [:]
        var phase: Phase = .staging
        var isRestore: Bool
        /// Started by a change of the classic shadow, not by a deployment document.
        var fromShadow = false
        var healthTimer: EventLoop.Token?

        enum Phase { case staging, stopping(Set<String>), starting(Set<String>), observing, rollingBack(String, Set<String>) }

        var policy: DeploymentPolicy {
            isRestore ? DeploymentPolicy(onFailure: .none, healthySeconds: 0) : effective.policy
        }
    }

    init(thing: String, groups: [String], stateDir: String, loop: EventLoop, logger: Logger) {
        self.thing = thing
        self.groups = groups
        self.store = DeploymentStore(path: "\(stateDir)/deployments.json")
        self.stager = ArtifactStager(stateDir: stateDir)
        self.loop = loop
        self.logger = logger
    }


    // MARK: Inputs

    /// Starts what was applied before the agent stopped, from local files only.
    func restore() {
        let snapshot: DeploymentStore.Snapshot
        switch store.load() {
        case .success(let loaded): snapshot = loaded
        case .failure(let problem):
            logger.error("cannot restore the last deployment", ("reason", problem.description))
            return
        }
        var set = DeploymentSet(documents: [:], seenRevisions: snapshot.seen)
        var unrunnable: Set<DeploymentSource> = []
        for (source, raw) in snapshot.documents {
            guard case .success(let deployment) = DeploymentParser.parse(raw, thing: thing) else {
                logger.error("a saved deployment no longer validates; it is skipped", ("source", source.description))
                continue
            }
            let issues = admissionIssues(deployment)
            guard issues.isEmpty else {
                // Said where the operator looks (its status), and kept: once the device is fixed
                // (the user created, say), the next start runs it again.
                logger.error("a saved deployment cannot run on this device any more; it is skipped", ("source", source.description),
                             ("errors", issues.map(\.description).joined(separator: "; ")))
                reject(source: source, document: raw, issues: issues,
                       reason: "the deployment saved on this device cannot run here any more; it was not started (\(issues.count) problem\(issues.count == 1 ? "" : "s"))")
                unrunnable.insert(source)
                continue
            }
            set.set(deployment, from: source)
        }
        // What was saved stays saved even if this restore fails: the next start tries again.
        applied = DeploymentSet(documents: [:], seenRevisions: set.seenRevisions)
        appliedRaw = snapshot.documents.filter { set.documents[$0.key] != nil || unrunnable.contains($0.key) }
        restoredDocuments = set
        guard !set.documents.isEmpty else { return }
        logger.info("restoring the last applied deployment", ("sources", String(set.documents.count)))
        guard case .success(let effective) = admitted(set.effective(groupOrder: groups)) else {
            logger.error("the saved deployment cannot run on this device any more; nothing was started")
            return
        }
        begin(Attempt(number: nextAttempt(), source: .thing, deployment: nil, candidate: set,
                      candidateRaw: snapshot.documents, effective: effective, started: [], stopped: [], isRestore: true))
    }

    /// A retained deployment document arrived (an empty payload clears that source).
    func received(_ payload: [UInt8], from source: DeploymentSource) {
        if shuttingDown { return }
        if attempt != nil {
            pending.removeAll { $0.0 == source }
            pending.append((source, payload))
            return
        }
        process(payload, from: source)
    }

    private func process(_ payload: [UInt8], from source: DeploymentSource) {
        var candidate = applied
        var candidateRaw = appliedRaw
        var deployment: Deployment?
        if payload.isEmpty {
            guard applied.documents[source] != nil else { return }
            candidate.set(nil, from: source)
            candidateRaw[source] = nil
            logger.info("deployment source cleared", ("source", source.description))
        } else {
            let document: JSONValue
            switch JSONCodec.parse(payload, maxDepth: 32) {
            case .success(let parsed): document = parsed
            case .failure(let error):
                reject(source: source, document: nil, issues: [ValidationIssue(path: "(document)", value: nil, message: error.message)])
                return
            }
            switch DeploymentParser.parse(document, thing: thing) {
            case .failure(let rejection):
                reject(source: source, document: document, issues: rejection.issues)
                return
            case .success(let parsed):
                guard applied.isNewer(parsed.revision, from: source) else {
                    logger.debug("deployment revision already seen; ignored", ("source", source.description),
                                 ("revision", String(parsed.revision)))
                    return
                }
                let issues = admissionIssues(parsed)
                guard issues.isEmpty else {
                    reject(source: source, document: document, issues: issues)
                    return
                }
                deployment = parsed
                candidate.set(parsed, from: source)
                candidateRaw[source] = document
            }
        }
        let effective: EffectiveDeployment
        switch admitted(candidate.effective(groupOrder: groups)) {
        case .success(let admittedDeployment): effective = admittedDeployment
        case .failure(let rejection):
            // A function of another document can no longer run here (its user was removed, say).
            reject(source: source, document: candidateRaw[source], issues: rejection.issues)
            return
        }
        var changes = effective.changes(from: current)
        // Redeploying re-arms a BROKEN function even when its spec is unchanged.
        for name in changes.unchanged where runners[name]?.state == .broken {
            changes.started.append(name)
            changes.stopped.append(name)
        }
        begin(Attempt(number: nextAttempt(), source: source, deployment: deployment, candidate: candidate,
                      candidateRaw: candidateRaw, effective: effective, started: changes.started.sorted(),
                      stopped: changes.stopped.sorted(), isRestore: false))
    }

    /// What keeps a document's functions from running here (unknown user, a limit the device
    /// cannot meet or enforce), every problem at once.
    private func admissionIssues(_ deployment: Deployment) -> [ValidationIssue] {
        guard let admit else { return [] }
        var issues: [ValidationIssue] = []
        for name in deployment.functions.keys.sorted() {
            if case .failure(let rejection) = admit(deployment.functions[name]!) { issues += rejection.issues }
        }
        return issues
    }

    /// The deployment with each function's limits and user as they will apply (defaults filled
    /// in), or every problem that keeps one of its functions from running here now.
    private func admitted(_ deployment: EffectiveDeployment) -> Result<EffectiveDeployment, DocumentRejection> {
        guard let admit else { return .success(deployment) }
        var result = deployment
        var issues: [ValidationIssue] = []
        for name in deployment.functions.keys.sorted() {
            let spec = deployment.functions[name]!
            switch admit(spec) {
            case .success(let admission):
                var applied = spec
                applied.limits = admission.limits
                applied.user = admission.user
                result.functions[name] = overridden(applied, in: &result)
            case .failure(let rejection):
                issues += rejection.issues
            }
        }
        for (path, problem) in overrides.unknownFunctions(deployed: Set(deployment.functions.keys)).merging(overrides.problems, uniquingKeysWith: { a, _ in a }) {
            result.overrideProblems[path] = problem
        }
        return issues.isEmpty ? .success(result) : .failure(DocumentRejection(issues))
    }

    /// An admitted spec with the shadow's overrides: enabled, config keys, limits no higher than
    /// the admitted ones and enforceable here. What cannot apply is left out and noted.
    private func overridden(_ spec: FunctionSpec, in deployment: inout EffectiveDeployment) -> FunctionSpec {
        guard overrides.functions[spec.name] != nil else { return spec }
        var (result, problems) = overrides.apply(to: spec, ceiling: spec.limits)
        if result.limits != spec.limits, let admit, case .failure(let rejection) = admit(result) {
            for issue in rejection.issues { problems[issue.path] = issue.message }
            result.limits = spec.limits
        }
        for (path, problem) in problems { deployment.overrideProblems[path] = problem }
        return result
    }

    // MARK: The shadow

    /// The classic shadow's desired state changed: functions follow it once no deployment is in flight.
    /// `rearm` names functions whose `enabled: true` the update carried: a BROKEN one starts again.
    /// An update that left what the agent acts on as it was (a reported state, another key) changes
    /// nothing: no new attempt, and a change that was rolled back is not tried again by the way.
    func shadowChanged(_ updated: ShadowOverrides, rearm: Set<String>) {
        if updated == overrides && rearm.isEmpty { return }
        overrides = updated
        reconcilePending = true
        rearmPending.formUnion(rearm)
        if attempt == nil { reconcile() }
    }

    /// Applies the overrides to what runs: configuration live where the function takes it, a
    /// switch-over (like a deployment, rolled back on failure) for everything else.
    private func reconcile() {
        guard reconcilePending, attempt == nil, !shuttingDown else { return }
        reconcilePending = false
        let rearm = rearmPending
        rearmPending = []
        let effective: EffectiveDeployment
        switch admitted(applied.effective(groupOrder: groups)) {
        case .success(let admittedDeployment): effective = admittedDeployment
        case .failure(let rejection):
            logger.error("the shadow's desired state cannot be applied: a deployed function cannot run here",
                         ("errors", rejection.description))
            return
        }
        var changes = effective.changes(from: current)
        for name in changes.started {
            guard var before = current.functions[name], let after = effective.functions[name], let runner = runners[name],
                  runner.takesLiveConfig, runner.state != .disabled, runner.state != .broken
            else { continue }
            before.config = after.config
            guard before == after else { continue }
            runner.updateConfig(after)
            current.functions[name] = after
            changes.started.removeAll { $0 == name }
            changes.stopped.removeAll { $0 == name }
        }
        for name in rearm.sorted() where runners[name]?.state == .broken && !changes.started.contains(name) {
            changes.started.append(name)
            changes.stopped.append(name)
        }
        guard !changes.started.isEmpty || !changes.stopped.isEmpty else {
            current = effective
            shadowFailure = nil
            delegate?.coordinatorFunctionsChanged(self)
            return
        }
        var next = Attempt(number: nextAttempt(), source: .thing, deployment: nil, candidate: applied, candidateRaw: appliedRaw,
                           effective: effective, started: changes.started.sorted(), stopped: changes.stopped.sorted(), isRestore: false)
        next.fromShadow = true
        begin(next)
    }

    private func nextAttempt() -> Int {
        attemptCounter += 1
        return attemptCounter
    }

    private func reject(source: DeploymentSource, document: JSONValue?, issues: [ValidationIssue], reason: String? = nil) {
        var status = DeploymentStatus(state: .rejected, source: source)
        status.deploymentId = document?["deploymentId"]?.stringValue
        status.revision = document?["revision"]?.intValue
        status.reason = reason ?? "the deployment document is invalid; nothing was changed (\(issues.count) problem\(issues.count == 1 ? "" : "s"))"
        status.issues = issues
        status.sources = current.sources
        logger.warning("deployment rejected", ("source", source.description), ("errors", issues.map(\.description).joined(separator: "; ")))
        publish(status)
    }

    // MARK: The attempt

    private func begin(_ new: Attempt) {
        var next = new
        if next.isRestore { next.started = next.effective.functions.keys.sorted() }
        attempt = next
        logger.info("deployment started", ("source", next.source.description), ("start", next.started.joined(separator: ",")),
                    ("stop", next.stopped.joined(separator: ",")))
        let reason = next.isRestore ? "restoring the deployment applied before the agent restarted"
            : next.fromShadow ? "applying the classic shadow's desired state to \(next.started.joined(separator: ", "))" : nil
        publish(status(.inProgress, reason: reason))
        let specs = next.started.compactMap { next.effective.functions[$0] }
        delegate?.coordinator(self, stage: specs, attempt: next.number)
    }

    /// The worker finished staging for attempt `number`.
    func staged(_ result: Result<[String: String], StagingFailure>, attempt number: Int) {
        guard var current = attempt, current.number == number, case .staging = current.phase else { return }
        switch result {
        case .failure(let failure):
            finish(.failed, reason: "\(failure.path): \(failure.message); the running functions were not touched", keepCandidate: false)
        case .success(let dirs):
            current.dirs = dirs
            let stopping = retire(current.stopped, successors: current.started)
            current.phase = .stopping(Set(stopping.map(\.name)))
            attempt = current
            delegate?.coordinatorFunctionsChanged(self)
            for runner in stopping { runner.stop() }
            advanceIfStopped()
        }
    }

    private var retiring: [ObjectIdentifier: FunctionRunner] = [:]

    /// Takes the runners of `names` out of service (the caller stops them); events queued for a
    /// function that has a successor in `successors` are held for that successor.
    private func retire(_ names: [String], successors: [String]) -> [FunctionRunner] {
        var retired: [FunctionRunner] = []
        for name in names {
            guard let runner = runners.removeValue(forKey: name) else { continue }
            if successors.contains(name) { handover[name, default: []].append(contentsOf: runner.takeQueue()) }
            retiring[ObjectIdentifier(runner)] = runner
            retired.append(runner)
        }
        return retired
    }

    func runnerStopped(_ runner: FunctionRunner) {
        retiring[ObjectIdentifier(runner)] = nil
        guard var current = attempt else { return }
        switch current.phase {
        case .stopping(var waiting):
            waiting.remove(runner.name)
            current.phase = .stopping(waiting)
            attempt = current
            advanceIfStopped()
        case .rollingBack(let reason, var waiting):
            waiting.remove(runner.name)
            current.phase = .rollingBack(reason, waiting)
            attempt = current
            if waiting.isEmpty { completeRollback(reason) }
        default:
            break
        }
    }

    private func advanceIfStopped() {
        guard var current = attempt, case .stopping(let waiting) = current.phase, waiting.isEmpty else { return }
        let deploymentId = current.deployment?.deploymentId ?? current.effective.sources.last?.deploymentId ?? ""
        let made = current.started.compactMap { name in
            current.dirs[name].flatMap { makeRunner(name, of: current.effective, directory: $0, deploymentId: deploymentId) }
        }
        // The phase is set before any runner starts: a start can fail (and report it) at once.
        current.phase = .starting(Set(made.map(\.name)))
        attempt = current
        for runner in made { launch(runner) }
        delegate?.coordinatorFunctionsChanged(self)
        advanceIfReady()
    }

    /// A registered (not yet started) runner for function `name` of `deployment`.
    private func makeRunner(_ name: String, of deployment: EffectiveDeployment, directory: String,
                            deploymentId: String) -> FunctionRunner? {
        guard let spec = deployment.functions[name],
              let runner = delegate?.coordinator(self, makeRunner: spec, directory: directory, deploymentId: deploymentId)
        else { return nil }
        runner.origin = deployment.origins[name]
        runners[name] = runner
        return runner
    }

    /// Starts a runner and gives it the events held for it during the switch-over.
    private func launch(_ runner: FunctionRunner) {
        runner.start()
        if let held = handover.removeValue(forKey: runner.name) { runner.enqueue(contentsOf: held) }
    }

    func runnerReady(_ runner: FunctionRunner) {
        guard var current = attempt, case .starting(var waiting) = current.phase, runners[runner.name] === runner else { return }
        waiting.remove(runner.name)
        current.phase = .starting(waiting)
        attempt = current
        advanceIfReady()
    }

    private func advanceIfReady() {
        guard var current = attempt, case .starting(let waiting) = current.phase, waiting.isEmpty else { return }
        let seconds = current.policy.healthySeconds
        current.phase = .observing
        if seconds > 0 && !current.started.isEmpty {
            current.healthTimer = loop.after(seconds * 1000) { [weak self] in self?.observationEnded(number: current.number) }
            attempt = current
            publish(status(.inProgress, reason: "all functions are ready; watching them for \(seconds) s (policy.healthySeconds)"))
        } else {
            attempt = current
            observationEnded(number: current.number)
        }
    }

    private func observationEnded(number: Int) {
        guard let current = attempt, current.number == number, case .observing = current.phase else { return }
        finish(.succeeded, reason: current.isRestore ? "restored after an agent restart"
               : current.fromShadow ? "the classic shadow's desired state was applied" : nil, keepCandidate: true)
    }

    /// A function of the deployment failed while the attempt was in flight. Handled on the next
    /// turn of the loop, so a failure reported from inside `start()` never re-enters the switch-over.
    func runnerFailed(_ runner: FunctionRunner, reason: String, broken: Bool) {
        guard let number = attempt?.number else { return }
        loop.after(0) { [weak self, weak runner] in
            guard let self, let runner, let current = self.attempt, current.number == number else { return }
            self.handleFailure(of: runner, in: current, reason: reason, broken: broken || runner.state == .broken)
        }
    }

    private func handleFailure(of runner: FunctionRunner, in current: Attempt, reason: String, broken: Bool) {
        guard runners[runner.name] === runner, current.started.contains(runner.name) else { return }
        switch current.phase {
        case .starting, .observing: break
        default: return
        }
        let why = "function \(runner.name) (\(runner.spec.version)) failed: \(reason)"
        if current.policy.onFailure == .rollback {
            rollBack(why)
        } else if broken {
            finish(.failed, reason: "\(why); it is BROKEN, and policy.onFailure is \"none\" so it stays deployed", keepCandidate: true)
        }
    }

    private func rollBack(_ reason: String) {
        guard var current = attempt else { return }
        loop.cancel(current.healthTimer)
        logger.warning("deployment failed; rolling back", ("reason", reason))
        // The phase is set before any runner is stopped: one with no process left reports at once.
        let stopping = retire(current.started, successors: current.stopped)
        current.phase = .rollingBack(reason, Set(stopping.map(\.name)))
        attempt = current
        delegate?.coordinatorFunctionsChanged(self)
        for runner in stopping { runner.stop() }
        if stopping.isEmpty { completeRollback(reason) }
    }

    private func completeRollback(_ reason: String) {
        guard let current = attempt else { return }
        // Bring back what the failed attempt replaced, from its folders, which were kept.
        for name in current.stopped {
            guard let dir = currentDirs[name],
                  let runner = makeRunner(name, of: self.current, directory: dir, deploymentId: self.current.sources.last?.deploymentId ?? "")
            else { continue }
            launch(runner)
        }
        delegate?.coordinatorFunctionsChanged(self)
        finish(.rolledBack, reason: "\(reason); the previous deployment was restored", keepCandidate: false)
    }

    private func finish(_ state: DeploymentState, reason: String?, keepCandidate: Bool) {
        guard let done = attempt else { return }
        loop.cancel(done.healthTimer)
        if keepCandidate {
            previous = current
            applied = done.candidate
            appliedRaw = done.candidateRaw
            current = done.effective
            for name in done.stopped where done.effective.functions[name] == nil { currentDirs[name] = nil }
            for (name, dir) in done.dirs { currentDirs[name] = dir }
        } else if done.isRestore, let restored = restoredDocuments {
            applied = restored
        } else if let deployment = done.deployment {
            // A revision that failed is not tried again on re-delivery: publish a new revision to retry.
            applied.markSeen(deployment.revision, from: done.source)
        }
        restoredDocuments = nil
        attempt = nil
        if done.fromShadow { shadowFailure = state == .succeeded ? nil : reason }
        persist()
        publish(status(state, reason: reason, of: done))
        logger.info("deployment finished", ("status", state.rawValue), ("reason", reason ?? ""))
        if state == .succeeded, let problem = stager.collectGarbage(keeping: [current, previous]) {
            logger.warning("cannot remove unused artifacts", ("reason", problem))
        }
        delegate?.coordinatorFunctionsChanged(self)
        processPending()
    }

    /// Processes waiting documents until one starts an attempt (the others may be no-ops).
    private func processPending() {
        while attempt == nil && !shuttingDown && !pending.isEmpty {
            let (source, payload) = pending.removeFirst()
            process(payload, from: source)
        }
        reconcile()
    }

    private func persist() {
        var snapshot = DeploymentStore.Snapshot()
        snapshot.documents = appliedRaw
        snapshot.seen = applied.seenRevisions
        do {
            try store.save(snapshot)
        } catch {
            logger.error("cannot save the applied deployment; it will not survive a restart", ("error", error.description))
            delegate?.coordinator(self, event: "agent.persist_failed", ["message": .string(error.description)])
        }
    }

    // MARK: Status

    private func status(_ state: DeploymentState, reason: String?, of given: Attempt? = nil) -> DeploymentStatus {
        let subject = given ?? attempt
        var status = DeploymentStatus(state: state, source: subject?.source)
        status.deploymentId = subject?.deployment?.deploymentId ?? subject?.effective.sources.last?.deploymentId
        status.revision = subject?.deployment?.revision ?? subject?.effective.sources.last?.revision
        status.reason = reason
        status.sources = (state == .succeeded || state == .failed || state == .inProgress) ? (subject?.effective.sources ?? []) : current.sources
        status.functions = functionDetail()
        return status
    }

    func functionDetail() -> [String: JSONValue] {
        var detail: [String: JSONValue] = [:]
        for (name, runner) in runners {
            var entry: [String: JSONValue] = ["version": .string(runner.spec.version), "state": .string(runner.state.rawValue)]
            if let error = runner.lastError { entry["lastError"] = .string(error) }
            if let origin = runner.origin { entry["source"] = .string(origin.description) }
            detail[name] = .object(entry)
        }
        return detail
    }

    private func publish(_ status: DeploymentStatus) {
        lastStatus = status
        delegate?.coordinator(self, publish: status)
    }

    enum Delivery { case delivered, held, heldQueueFull, unknown }

    /// Gives an event to the function `name`, or holds it while that function is being replaced.
    func deliver(_ invocation: Invocation, to name: String) -> Delivery {
        if let runner = runners[name] {
            runner.enqueue(invocation)
            return .delivered
        }
        guard handover[name] != nil, let spec = attempt?.effective.functions[name] ?? current.functions[name] else { return .unknown }
        guard handover[name]!.count < spec.queueSize else { return .heldQueueFull }
        handover[name]!.append(invocation)
        return .held
    }

    /// The specs events are routed by: running functions and those being switched over.
    var routableSpecs: [FunctionSpec] {
        var specs = runners.values.filter { $0.state != .disabled }.map(\.spec)
        for name in handover.keys where runners[name] == nil {
            if let spec = attempt?.effective.functions[name] ?? current.functions[name] { specs.append(spec) }
        }
        return specs
    }

    /// Stops every function (agent shutdown), abandoning a deployment in flight without saving it.
    func stopAll() {
        shuttingDown = true
        if let current = attempt {
            loop.cancel(current.healthTimer)
            attempt = nil
            logger.warning("the agent stops in the middle of a deployment; it is not saved", ("source", current.source.description))
        }
        pending.removeAll()
        for runner in retire(Array(runners.keys), successors: []) { runner.stop() }
    }

    /// The longest a function may take to stop gracefully: its grace, then SIGTERM's.
    var longestStopMs: Int {
        allRunners.map { $0.spec.stopTimeoutMs + Supervisor.killGraceMs }.max() ?? 0
    }

    var hasLiveProcesses: Bool {
        !retiring.isEmpty || runners.values.contains { $0.hasInstances }
    }

    /// All runners, including those still stopping, for reaping children.
    var allRunners: [FunctionRunner] { Array(runners.values) + Array(retiring.values) }
}
