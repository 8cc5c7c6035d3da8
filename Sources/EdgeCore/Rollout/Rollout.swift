/// Moves the thing from what it runs to what its deployment documents ask for, as a pure state
/// machine: validate, stage artifacts, hand over (stop the replaced runners, start the new ones,
/// events held in between), watch health, save, then succeed, or roll back. One attempt runs at a
/// time; documents that arrive meanwhile wait their turn. A newer revision of the attempt's own
/// source supersedes it at any phase (cancelled while staging, rolled back after), and one still
/// waiting; each superseded revision is answered SUPERSEDED. It takes events and returns
/// effects; EdgeAgent's DeploymentCoordinator performs them.
public struct Rollout {
    public let thing: String
    /// The root of the thing's shadow topics, which no function may subscribe into.
    public let shadowRoot: String
    public let groups: [String]
    /// Checks a function against this device (user, limits, caps); nil admits everything as written.
    public let admit: ((FunctionSpec) -> Result<FunctionAdmission, DocumentRejection>)?

    /// What the classic shadow's desired state asks of the functions; applied to every deployment.
    public private(set) var overrides = ShadowOverrides()
    private var reconcilePending = false
    private var rearmPending: Set<String> = []
    /// Why the last change from the shadow failed and was rolled back, until one succeeds.
    public private(set) var shadowFailure: String?

    /// What is applied now, and the documents it came from.
    public private(set) var applied = DeploymentSet()
    private var appliedRaw: [DeploymentSource: JSONValue] = [:]
    public private(set) var current = EffectiveDeployment()
    private var currentDirs: [String: String] = [:]
    private var previous = EffectiveDeployment()

    /// The runner serving each function now.
    public private(set) var live: [String: LiveRunner] = [:]
    /// Runners taken out of service that have not stopped yet, with their specs.
    public private(set) var retiring: [RunnerID: FunctionSpec] = [:]
    /// Functions whose events are held for a successor.
    private var held: Set<String> = []
    private var pending: [(DeploymentSource, DeploymentPayload)] = []
    private var attempt: Attempt?
    private var attemptCounter = 0
    private var runnerCounter = 0
    /// The documents loaded at start, kept as applied while their restore is in flight.
    private var restoredDocuments: DeploymentSet?
    private var shuttingDown = false
    private var effects: [RolloutEffect] = []

    /// One runner in service, as the rollout knows it.
    public struct LiveRunner: Sendable, Equatable {
        public let id: RunnerID
        public internal(set) var spec: FunctionSpec
        public let origin: DeploymentSource?
        /// Gave up after `restart.maxFailures` (a redeployment or `enabled: true` re-arms it).
        public internal(set) var broken = false
        public internal(set) var takesLiveConfig = true
    }

    struct Attempt {
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
        /// What the wait for the broker's subscriptions found wrong, for the SUCCEEDED reason.
        var subscriptionNote: String?
        /// Cancelled for a newer document of its source: what replaced it (nil for a clearing).
        var superseded: (replacement: (deploymentId: String, revision: Int64)?, why: String)?

        enum Phase: Equatable {
            case staging
            case stopping(Set<RunnerID>)
            case starting(Set<RunnerID>)
            case observing
            /// Watched: the broker is confirming the subscriptions the functions need.
            case subscribing
            /// Ready and watched: what it applies is being saved before it is reported SUCCEEDED.
            case saving
            case rollingBack(String, Set<RunnerID>)
        }

        var policy: DeploymentPolicy {
            isRestore ? DeploymentPolicy(onFailure: .none, healthySeconds: 0) : effective.policy
        }
    }

    public init(thing: String, groups: [String], shadowRoot: String = "$aws",
                admit: ((FunctionSpec) -> Result<FunctionAdmission, DocumentRejection>)? = nil) {
        self.thing = thing
        self.shadowRoot = shadowRoot
        self.groups = groups
        self.admit = admit
    }

    /// Whether an attempt is in flight.
    public var isDeploying: Bool { attempt != nil }
    /// Whether the agent has processes left to wait for (live runners' are the shell's to count).
    public var hasRetiring: Bool { !retiring.isEmpty }

    /// Takes one event and says what to do, in order.
    public mutating func handle(_ event: RolloutEvent) -> [RolloutEffect] {
        switch event {
        case .restore(let saved): restore(saved)
        case .received(let payload, let source): received(payload, from: source)
        case .shadowChanged(let updated, let rearm): shadowChanged(updated, rearm: rearm)
        case .staged(let number, let result): staged(result, attempt: number)
        case .runnerReady(let id): runnerReady(id)
        case .runnerFailed(let id, let reason, let broken): runnerFailed(id, reason: reason, broken: broken)
        case .runnerStopped(let id): runnerStopped(id)
        case .runnerDeclinedLiveConfig(let id):
            if let name = name(of: id) { live[name]?.takesLiveConfig = false }
        case .timer(.healthGate(let number)): observationEnded(number: number)
        case .timer(.subscriptionGate(let number)):
            subscriptionsSettled(number: number, note: "the broker had not confirmed every subscription after \(Self.subscriptionGateMs / 1000) s; "
                                 + "events published before it does may not reach the functions")
        case .subscribed(let number, let refused):
            subscriptionsSettled(number: number, note: refused.isEmpty ? nil
                                 : "the broker refused the subscription to \(refused.sorted().joined(separator: ", ")); the agent asks again every few seconds "
                                 + "(check the broker's ACL for this client)")
        case .saved(let number, let failure): saved(number: number, failure: failure)
        case .stopAll: stopAll()
        }
        defer { effects.removeAll(keepingCapacity: true) }
        return effects
    }

    private func name(of id: RunnerID) -> String? {
        live.first { $0.value.id == id }?.key
    }

    // MARK: Inputs

    /// Starts what was applied before the agent stopped, from the saved documents only.
    private mutating func restore(_ saved: Result<SavedDeployments, StoreFailure>) {
        let snapshot: SavedDeployments
        switch saved {
        case .success(let loaded): snapshot = loaded
        case .failure(let problem):
            effects.append(.log(.restoreFailed(problem.message)))
            return
        }
        var set = DeploymentSet(documents: [:], seenRevisions: snapshot.seen, seenIds: snapshot.seenIds)
        var unrunnable: Set<DeploymentSource> = []
        for (source, raw) in snapshot.documents.sorted(by: { $0.key.description < $1.key.description }) {
            guard case .success(let deployment) = DeploymentParser.parse(raw, thing: thing, shadowRoot: shadowRoot) else {
                effects.append(.log(.savedDocumentInvalid(source)))
                continue
            }
            let issues = admissionIssues(deployment)
            guard issues.isEmpty else {
                // Said where the operator looks (its status), and kept: once the device is fixed
                // (the user created, say), the next start runs it again.
                effects.append(.log(.savedDocumentUnrunnable(source, issues)))
                reject(source: source, document: raw, issues: issues,
                       reason: "the deployment saved on this device cannot run here any more; it was not started (\(issues.count) problem\(issues.count == 1 ? "" : "s"))")
                unrunnable.insert(source)
                continue
            }
            set.set(deployment, from: source)
        }
        // What was saved stays saved even if this restore fails: the next start tries again.
        applied = DeploymentSet(documents: [:], seenRevisions: set.seenRevisions, seenIds: set.seenIds)
        appliedRaw = snapshot.documents.filter { set.documents[$0.key] != nil || unrunnable.contains($0.key) }
        restoredDocuments = set
        guard !set.documents.isEmpty else { return }
        effects.append(.log(.restoring(sources: set.documents.count)))
        guard case .success(let effective) = admitted(set.effective(groupOrder: groups)) else {
            effects.append(.log(.restoreUnrunnable))
            return
        }
        begin(Attempt(number: nextAttempt(), source: .thing, deployment: nil, candidate: set, candidateRaw: snapshot.documents,
                      effective: effective, started: [], stopped: [], isRestore: true))
    }

    /// A retained deployment document arrived (an empty payload clears that source). One that
    /// arrives during an attempt waits, replacing an older one from the same source.
    private mutating func received(_ payload: DeploymentPayload, from source: DeploymentSource) {
        if shuttingDown { return }
        if attempt != nil, case .untrusted = payload {
            // Refused at once: a document nobody trusted must not replace (and so cancel) a
            // trusted one waiting its turn.
            process(payload, from: source)
            return
        }
        if attempt != nil {
            // One document of a source waits at a time: the newer. The one it replaces gets an
            // answer (SUPERSEDED), so that no revision is left without a final status; an arrival
            // no newer than the one waiting (a re-delivery) is the one dropped.
            if let waiting = pending.firstIndex(where: { $0.0 == source }) {
                let (old, new) = (Self.identity(of: pending[waiting].1), Self.identity(of: payload))
                if let old, let new, new.revision <= old.revision {
                    effects.append(.log(.revisionSeen(source, new.revision)))
                    return
                }
                if let old { supersede(old, source: source, by: payload) }
                pending.remove(at: waiting)
            }
            pending.append((source, payload))
            supersedeInFlight(by: payload, from: source)
            return
        }
        process(payload, from: source)
    }

    /// A newer document (or a clearing) of the attempt's own source arrived: the attempt gives
    /// way at once, whatever its phase. Cancelled while staging (nothing ran yet), rolled back
    /// after (what it replaced comes back), and answered SUPERSEDED; the newer one, waiting in
    /// `pending`, starts next. A restore, a change of the shadow and an attempt already rolling
    /// back finish first.
    private mutating func supersedeInFlight(by payload: DeploymentPayload, from source: DeploymentSource) {
        guard var current = attempt, current.superseded == nil, !current.isRestore, !current.fromShadow,
              current.source == source, let running = current.deployment else { return }
        let newer = Self.identity(of: payload)
        switch payload {
        case .cleared:
            break
        case .document:
            guard let newer, newer.revision > running.revision else { return }
        case .invalid, .untrusted:
            return
        }
        let why = Self.arrival(of: payload)
        current.superseded = (newer, why)
        attempt = current
        switch current.phase {
        case .staging:
            finish(.superseded, reason: "\(why) while this one was staging its artifacts; it was cancelled before anything changed",
                   keepCandidate: false)
        case .stopping, .starting, .observing, .subscribing, .saving:
            rollBack("\(why) while this one was being applied")
        case .rollingBack:
            break
        }
    }

    /// What arrived that makes a revision give way, for its SUPERSEDED reason.
    private static func arrival(of payload: DeploymentPayload) -> String {
        if case .cleared = payload { return "the source was cleared" }
        guard let newer = identity(of: payload) else {
            return "a newer document of the same source arrived (it gets its own status)"
        }
        return "revision \(newer.revision) (\(newer.deploymentId)) of the same source arrived"
    }

    /// A document's id and revision, when it has both.
    private static func identity(of payload: DeploymentPayload) -> (deploymentId: String, revision: Int64)? {
        guard case .document(let document) = payload, let id = document["deploymentId"]?.stringValue,
              let revision = document["revision"]?.intValue else { return nil }
        return (id, revision)
    }

    private mutating func supersede(_ skipped: (deploymentId: String, revision: Int64), source: DeploymentSource,
                                    by payload: DeploymentPayload) {
        var status = DeploymentStatus(state: .superseded, source: source)
        status.deploymentId = skipped.deploymentId
        status.revision = skipped.revision
        status.supersededBy = Self.identity(of: payload)
        status.reason = "\(Self.arrival(of: payload)) while this one waited for the deployment in progress; this one was skipped"
        status.sources = current.sources
        effects.append(.log(.superseded(source, skipped.revision)))
        publish(status)
    }

    private mutating func process(_ payload: DeploymentPayload, from source: DeploymentSource) {
        var candidate = applied
        var candidateRaw = appliedRaw
        var deployment: Deployment?
        switch payload {
        case .cleared:
            guard applied.documents[source] != nil else { return }
            candidate.set(nil, from: source)
            candidateRaw[source] = nil
            effects.append(.log(.sourceCleared(source)))
        case .invalid(let message):
            reject(source: source, document: nil, issues: [ValidationIssue(path: "(document)", value: nil, message: message)])
            return
        case .untrusted(let document, let issues):
            let misplaced = issues.allSatisfy { $0.path == "target" }
            reject(source: source, document: document, issues: issues,
                   reason: misplaced ? "the deployment is not for this topic; nothing was changed"
                       : "the deployment is not signed by a key this agent trusts; nothing was changed")
            return
        case .document(let document):
            switch DeploymentParser.parse(document, thing: thing, shadowRoot: shadowRoot) {
            case .failure(let rejection):
                reject(source: source, document: document, issues: rejection.issues)
                return
            case .success(let parsed):
                guard applied.isNewer(parsed.revision, from: source) else {
                    if let replay = replayIssue(parsed, from: source) {
                        reject(source: source, document: document, issues: [replay],
                               reason: "the deployment is older than one this agent has seen; nothing was changed")
                    } else {
                        effects.append(.log(.revisionSeen(source, parsed.revision)))
                    }
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
        for name in changes.unchanged where live[name]?.broken == true {
            changes.started.append(name)
            changes.stopped.append(name)
        }
        begin(Attempt(number: nextAttempt(), source: source, deployment: deployment, candidate: candidate,
                      candidateRaw: candidateRaw, effective: effective, started: changes.started.sorted(),
                      stopped: changes.stopped.sorted(), isRestore: false))
    }

    /// What keeps a document's functions from running here, every problem at once.
    private func admissionIssues(_ deployment: Deployment) -> [ValidationIssue] {
        guard let admit else { return [] }
        var issues: [ValidationIssue] = []
        for name in deployment.functions.keys.sorted() {
            if case .failure(let rejection) = admit(deployment.functions[name]!) { issues += rejection.issues }
        }
        return issues
    }

    /// The deployment with each function's limits and user as they will apply (defaults filled
    /// in) and the shadow's overrides, or every problem that keeps one of its functions from running here now.
    private func admitted(_ deployment: EffectiveDeployment) -> Result<EffectiveDeployment, DocumentRejection> {
        var result = deployment
        var issues: [ValidationIssue] = []
        for name in deployment.functions.keys.sorted() {
            let spec = deployment.functions[name]!
            var applied = spec
            if let admit {
                switch admit(spec) {
                case .success(let admission):
                    applied.limits = admission.limits
                    applied.user = admission.user
                case .failure(let rejection):
                    issues += rejection.issues
                    continue
                }
            }
            result.functions[name] = overridden(applied, in: &result)
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

    /// The classic shadow's desired state changed: functions follow it once no deployment is in
    /// flight. An update that left what the agent acts on as it was changes nothing: no new
    /// attempt, and a change that was rolled back is not tried again by the way.
    private mutating func shadowChanged(_ updated: ShadowOverrides, rearm: Set<String>) {
        if updated == overrides && rearm.isEmpty { return }
        overrides = updated
        reconcilePending = true
        rearmPending.formUnion(rearm)
        if attempt == nil { reconcile() }
    }

    /// Applies the overrides to what runs: configuration live where the function takes it, a
    /// switch-over (like a deployment, rolled back on failure) for everything else.
    private mutating func reconcile() {
        guard reconcilePending, attempt == nil, !shuttingDown else { return }
        reconcilePending = false
        let rearm = rearmPending
        rearmPending = []
        let effective: EffectiveDeployment
        switch admitted(applied.effective(groupOrder: groups)) {
        case .success(let admittedDeployment): effective = admittedDeployment
        case .failure(let rejection):
            effects.append(.log(.shadowUnapplicable(rejection.description)))
            return
        }
        var changes = effective.changes(from: current)
        for name in changes.started {
            guard var before = current.functions[name], let after = effective.functions[name], let runner = live[name],
                  runner.takesLiveConfig, runner.spec.enabled, !runner.broken
            else { continue }
            before.config = after.config
            guard before == after else { continue }
            effects.append(.updateConfig(runner.id, after))
            live[name]?.spec = after
            current.functions[name] = after
            changes.started.removeAll { $0 == name }
            changes.stopped.removeAll { $0 == name }
        }
        for name in rearm.sorted() where live[name]?.broken == true && !changes.started.contains(name) {
            changes.started.append(name)
            changes.stopped.append(name)
        }
        guard !changes.started.isEmpty || !changes.stopped.isEmpty else {
            current = effective
            shadowFailure = nil
            announceRoutes()
            return
        }
        var next = Attempt(number: nextAttempt(), source: .thing, deployment: nil, candidate: applied, candidateRaw: appliedRaw,
                           effective: effective, started: changes.started.sorted(), stopped: changes.stopped.sorted(), isRestore: false)
        next.fromShadow = true
        begin(next)
    }

    /// A document no newer than what was seen from its source is a re-delivery (the same revision
    /// and id: ignored) or a replay: an older revision, or the same revision under another id. A
    /// replay is refused out loud, since a signed document stays valid forever and republishing an
    /// old one must not quietly bring back what it deployed; `seen` is saved, so this holds across
    /// restarts.
    private func replayIssue(_ parsed: Deployment, from source: DeploymentSource) -> ValidationIssue? {
        guard let seen = applied.seenRevisions[source] else { return nil }
        let appliedId = applied.seenIds[source] ?? applied.documents[source].flatMap { $0.revision == seen ? $0.deploymentId : nil }
        if parsed.revision < seen {
            let named = appliedId.map { " (\($0))" } ?? ""
            return ValidationIssue(path: "revision", value: String(parsed.revision),
                                   message: "is older than revision \(seen)\(named) already seen from this source: a replayed or stale "
                                       + "document; to go back, publish the old content as a new revision greater than \(seen)")
        }
        if let appliedId, appliedId != parsed.deploymentId {
            return ValidationIssue(path: "deploymentId", value: parsed.deploymentId,
                                   message: "revision \(seen) was already seen as '\(appliedId)'; a document that reuses the "
                                       + "revision under another id is refused: publish it as revision \(seen + 1)")
        }
        return nil
    }

    private mutating func nextAttempt() -> Int {
        attemptCounter += 1
        return attemptCounter
    }

    private mutating func reject(source: DeploymentSource, document: JSONValue?, issues: [ValidationIssue], reason: String? = nil) {
        var status = DeploymentStatus(state: .rejected, source: source)
        status.deploymentId = document?["deploymentId"]?.stringValue
        status.revision = document?["revision"]?.intValue
        status.reason = reason ?? "the deployment document is invalid; nothing was changed (\(issues.count) problem\(issues.count == 1 ? "" : "s"))"
        status.issues = issues
        status.sources = current.sources
        effects.append(.log(.rejected(source, issues)))
        publish(status)
    }

    // MARK: The attempt

    private mutating func begin(_ new: Attempt) {
        var next = new
        if next.isRestore { next.started = next.effective.functions.keys.sorted() }
        attempt = next
        effects.append(.log(.started(next.source, start: next.started, stop: next.stopped)))
        let reason = next.isRestore ? "restoring the deployment applied before the agent restarted"
            : next.fromShadow ? "applying the classic shadow's desired state to \(next.started.joined(separator: ", "))" : nil
        publish(status(.inProgress, reason: reason))
        effects.append(.stage(attempt: next.number, next.started.compactMap { next.effective.functions[$0] }))
    }

    private mutating func staged(_ result: Result<[String: String], StagingFailure>, attempt number: Int) {
        guard var current = attempt, current.number == number, current.phase == .staging else { return }
        switch result {
        case .failure(let failure):
            finish(.failed, reason: "\(failure.path): \(failure.message); the running functions were not touched", keepCandidate: false)
        case .success(let dirs):
            current.dirs = dirs
            let stopping = retire(current.stopped, successors: current.started, specs: current.effective)
            current.phase = .stopping(Set(stopping))
            attempt = current
            announceRoutes()
            for id in stopping { effects.append(.stop(id)) }
            advanceIfStopped()
        }
    }

    /// Takes the runners of `names` out of service (and asks them to stop); events for a
    /// function that has a successor in `successors` are held for it.
    private mutating func retire(_ names: [String], successors: [String], specs: EffectiveDeployment) -> [RunnerID] {
        var retired: [RunnerID] = []
        for name in names {
            guard let runner = live.removeValue(forKey: name) else { continue }
            if successors.contains(name) {
                held.insert(name)
                let capacity = specs.functions[name]?.queueSize ?? runner.spec.queueSize
                effects.append(.hold(name, from: runner.id, capacity: capacity))
            }
            retiring[runner.id] = runner.spec
            retired.append(runner.id)
        }
        return retired
    }

    private mutating func runnerStopped(_ id: RunnerID) {
        retiring[id] = nil
        guard var current = attempt else { return }
        switch current.phase {
        case .stopping(var waiting):
            waiting.remove(id)
            current.phase = .stopping(waiting)
            attempt = current
            advanceIfStopped()
        case .rollingBack(let reason, var waiting):
            waiting.remove(id)
            current.phase = .rollingBack(reason, waiting)
            attempt = current
            if waiting.isEmpty { completeRollback(reason) }
        default:
            break
        }
    }

    private mutating func advanceIfStopped() {
        guard var current = attempt, case .stopping(let waiting) = current.phase, waiting.isEmpty else { return }
        let deploymentId = current.deployment?.deploymentId ?? current.effective.sources.last?.deploymentId ?? ""
        let made = current.started.compactMap { name in
            current.dirs[name].flatMap { makeRunner(name, of: current.effective, directory: $0, deploymentId: deploymentId) }
        }
        // The phase is set before any runner starts: a start can fail (and report it) at once.
        current.phase = .starting(Set(made))
        attempt = current
        for id in made { launch(id) }
        announceRoutes()
        advanceIfReady()
    }

    /// A registered (not yet started) runner for function `name` of `deployment`.
    private mutating func makeRunner(_ name: String, of deployment: EffectiveDeployment, directory: String,
                                     deploymentId: String) -> RunnerID? {
        guard let spec = deployment.functions[name] else { return nil }
        runnerCounter += 1
        let id = RunnerID(runnerCounter)
        let origin = deployment.origins[name]
        effects.append(.create(id, spec, directory: directory, deploymentId: deploymentId, origin: origin))
        live[name] = LiveRunner(id: id, spec: spec, origin: origin)
        return id
    }

    /// Starts a runner and gives it the events held for it during the switch-over.
    private mutating func launch(_ id: RunnerID) {
        effects.append(.start(id))
        if let name = name(of: id), held.remove(name) != nil { effects.append(.release(name, to: id)) }
    }

    private mutating func runnerReady(_ id: RunnerID) {
        guard var current = attempt, case .starting(var waiting) = current.phase, name(of: id) != nil else { return }
        waiting.remove(id)
        current.phase = .starting(waiting)
        attempt = current
        advanceIfReady()
    }

    private mutating func advanceIfReady() {
        guard var current = attempt, case .starting(let waiting) = current.phase, waiting.isEmpty else { return }
        let seconds = current.policy.healthySeconds
        current.phase = .observing
        attempt = current
        if seconds > 0 && !current.started.isEmpty {
            effects.append(.arm(.healthGate(attempt: current.number), afterMs: seconds * 1000))
            publish(status(.inProgress, reason: "all functions are ready; watching them for \(seconds) s (policy.healthySeconds)"))
        } else {
            observationEnded(number: current.number)
        }
    }

    /// Watched long enough: a restore is done; anything else is saved first (`.save`), and is
    /// SUCCEEDED only once saved (`saved`).
    private mutating func observationEnded(number: Int) {
        guard var current = attempt, current.number == number, current.phase == .observing else { return }
        if current.isRestore {
            finish(.succeeded, reason: "restored after an agent restart", keepCandidate: true)
            return
        }
        current.phase = .subscribing
        attempt = current
        effects.append(.arm(.subscriptionGate(attempt: number), afterMs: Self.subscriptionGateMs))
        effects.append(.confirmSubscriptions(attempt: number))
    }

    /// How long an attempt waits for the broker to confirm its subscriptions before it goes on.
    public static let subscriptionGateMs = 10_000

    /// The broker answered the subscriptions (or did not in time: `note` says so): save.
    private mutating func subscriptionsSettled(number: Int, note: String?) {
        guard var current = attempt, current.number == number, current.phase == .subscribing else { return }
        effects.append(.cancel(.subscriptionGate(attempt: number)))
        current.subscriptionNote = note
        current.phase = .saving
        attempt = current
        effects.append(.save(SavedDeployments(documents: current.candidateRaw, of: current.candidate), attempt: number))
    }

    /// The save of what the attempt applies ended. A deployment that could not be saved would
    /// not survive a restart (the disk holds the previous one): it is rolled back, never SUCCEEDED.
    private mutating func saved(number: Int, failure: String?) {
        guard let current = attempt, current.number == number, current.phase == .saving else { return }
        if let failure {
            rollBack("the deployment could not be saved on this device (\(failure)); free space in the state directory and deploy again")
            return
        }
        let reasons = [current.fromShadow ? "the classic shadow's desired state was applied" : nil, current.subscriptionNote].compactMap { $0 }
        finish(.succeeded, reason: reasons.isEmpty ? nil : reasons.joined(separator: "; "), keepCandidate: true, saved: true)
    }

    /// A function failed. During an attempt that started it, this is the attempt's failure: a
    /// rollback, or (with `onFailure: none`) a FAILED status once it is BROKEN.
    private mutating func runnerFailed(_ id: RunnerID, reason: String, broken: Bool) {
        guard let name = name(of: id) else { return }
        if broken { live[name]?.broken = true }
        guard let current = attempt, current.started.contains(name), let runner = live[name] else { return }
        switch current.phase {
        case .starting, .observing, .subscribing, .saving: break
        default: return
        }
        let why = "function \(name) (\(runner.spec.version)) failed: \(reason)"
        if current.policy.onFailure == .rollback {
            rollBack(why)
        } else if broken {
            finish(.failed, reason: "\(why); it is BROKEN, and policy.onFailure is \"none\" so it stays deployed", keepCandidate: true)
        }
    }

    private mutating func rollBack(_ reason: String) {
        guard var current = attempt else { return }
        effects.append(.cancel(.healthGate(attempt: current.number)))
        effects.append(.cancel(.subscriptionGate(attempt: current.number)))
        effects.append(.log(.rollingBack(reason)))
        // The phase is set before any runner is stopped: one with no process left reports at once.
        let stopping = retire(current.started, successors: current.stopped, specs: self.current)
        current.phase = .rollingBack(reason, Set(stopping))
        attempt = current
        announceRoutes()
        for id in stopping { effects.append(.stop(id)) }
        if stopping.isEmpty { completeRollback(reason) }
    }

    private mutating func completeRollback(_ reason: String) {
        guard let done = attempt else { return }
        // Bring back what the failed attempt replaced, from its folders, which were kept.
        for name in done.stopped {
            guard let dir = currentDirs[name],
                  let id = makeRunner(name, of: current, directory: dir, deploymentId: current.sources.last?.deploymentId ?? "")
            else { continue }
            launch(id)
        }
        announceRoutes()
        if done.superseded != nil {
            finish(.superseded, reason: "\(reason); it was rolled back (the previous deployment restored) for the newer one", keepCandidate: false)
        } else {
            finish(.rolledBack, reason: "\(reason); the previous deployment was restored", keepCandidate: false)
        }
    }

    /// Ends the attempt. `saved`: what it applies was saved already (`.save`), so it is not again.
    private mutating func finish(_ state: DeploymentState, reason: String?, keepCandidate: Bool, saved: Bool = false) {
        guard let done = attempt else { return }
        effects.append(.cancel(.healthGate(attempt: done.number)))
        effects.append(.cancel(.subscriptionGate(attempt: done.number)))
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
            applied.markSeen(deployment.revision, id: deployment.deploymentId, from: done.source)
        }
        restoredDocuments = nil
        attempt = nil
        if done.fromShadow { shadowFailure = state == .succeeded ? nil : reason }
        if !saved { effects.append(.persist(SavedDeployments(documents: appliedRaw, of: applied))) }
        var final = status(state, reason: reason, of: done)
        if state == .superseded { final.supersededBy = done.superseded?.replacement }
        publish(final)
        effects.append(.log(.finished(state, reason: reason)))
        if state == .succeeded { effects.append(.collectGarbage(keeping: [current, previous])) }
        announceRoutes()
        processPending()
    }

    /// Processes waiting documents until one starts an attempt (the others may be no-ops).
    private mutating func processPending() {
        while attempt == nil && !shuttingDown && !pending.isEmpty {
            let (source, payload) = pending.removeFirst()
            process(payload, from: source)
        }
        reconcile()
    }

    // MARK: Status and routes

    private func status(_ state: DeploymentState, reason: String?, of given: Attempt? = nil) -> DeploymentStatus {
        let subject = given ?? attempt
        var status = DeploymentStatus(state: state, source: subject?.source)
        status.deploymentId = subject?.deployment?.deploymentId ?? subject?.effective.sources.last?.deploymentId
        status.revision = subject?.deployment?.revision ?? subject?.effective.sources.last?.revision
        status.reason = reason
        status.sources = (state == .succeeded || state == .failed || state == .inProgress) ? (subject?.effective.sources ?? []) : current.sources
        return status
    }

    private mutating func publish(_ status: DeploymentStatus) {
        effects.append(.publish(status))
    }

    /// Where events go: the functions in service (a disabled one answers direct invocations
    /// itself but subscribes to nothing) and those being switched over.
    public var routes: [String: Route] {
        var table: [String: Route] = [:]
        for (name, runner) in live {
            table[name] = Route(spec: runner.spec, target: .runner(runner.id))
        }
        for name in held where live[name] == nil {
            if let spec = attempt?.effective.functions[name] ?? current.functions[name] {
                table[name] = Route(spec: spec, target: .held)
            }
        }
        return table
    }

    private mutating func announceRoutes() {
        effects.append(.routes(routes))
    }

    /// Stops every function (agent shutdown), abandoning a deployment in flight without saving it.
    private mutating func stopAll() {
        shuttingDown = true
        if let current = attempt {
            effects.append(.cancel(.healthGate(attempt: current.number)))
            effects.append(.cancel(.subscriptionGate(attempt: current.number)))
            attempt = nil
            effects.append(.log(.abandoned(current.source)))
        }
        pending.removeAll()
        let names = live.keys.sorted()
        let stopping = retire(names, successors: [], specs: current)
        // Events stop reaching what is being stopped: subscriptions go, direct invocations are unknown.
        announceRoutes()
        for id in stopping { effects.append(.stop(id)) }
    }

    /// The longest a function may take to stop gracefully: its grace, then SIGTERM's.
    public var longestStopMs: Int {
        (live.values.map(\.spec) + retiring.values).map { $0.stopTimeoutMs + Supervisor.killGraceMs }.max() ?? 0
    }
}
