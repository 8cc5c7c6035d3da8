/// Names one function runner (one version of one function) for the rollout; never reused.
public struct RunnerID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: Int

    public init(_ value: Int) { self.value = value }

    public static func < (lhs: RunnerID, rhs: RunnerID) -> Bool { lhs.value < rhs.value }
    public var description: String { "runner \(value)" }
}

/// The deployment documents the agent applied, and the revisions it has seen, as saved on disk.
public struct SavedDeployments: Sendable, Equatable {
    public var documents: [DeploymentSource: JSONValue]
    public var seen: [DeploymentSource: Int64]
    /// The deploymentId of each seen revision, when known (older files have none).
    public var seenIds: [DeploymentSource: String]

    public init(documents: [DeploymentSource: JSONValue] = [:], seen: [DeploymentSource: Int64] = [:],
                seenIds: [DeploymentSource: String] = [:]) {
        self.documents = documents
        self.seen = seen
        self.seenIds = seenIds
    }

    /// What `set` holds, with the documents as given.
    public init(documents: [DeploymentSource: JSONValue], of set: DeploymentSet) {
        self.init(documents: documents, seen: set.seenRevisions, seenIds: set.seenIds)
    }
}

/// A retained deployment message, as the shell read it.
public enum DeploymentPayload: Sendable, Equatable {
    /// An empty payload: the source no longer deploys anything.
    case cleared
    /// Not JSON: why.
    case invalid(String)
    case document(JSONValue)
    /// Not trusted (unsigned where signatures are required, or a signature that does not verify):
    /// why, and the document inside the envelope when it could be read.
    case untrusted(JSONValue?, [ValidationIssue])
}

/// What happened, as the rollout's shell saw it.
public enum RolloutEvent: Sendable {
    /// The saved deployments were read at start (or could not be: why).
    case restore(Result<SavedDeployments, StoreFailure>)
    case received(DeploymentPayload, from: DeploymentSource)
    /// The classic shadow's desired state changed; `rearm` names functions whose `enabled: true`
    /// the update carried.
    case shadowChanged(ShadowOverrides, rearm: Set<String>)
    /// The staging worker finished for attempt `attempt`: name → directory, or the failure.
    case staged(attempt: Int, Result<[String: String], StagingFailure>)
    /// Every wanted instance of the runner is ready (once per start).
    case runnerReady(RunnerID)
    case runnerFailed(RunnerID, reason: String, broken: Bool)
    /// The runner's last process has exited after a stop.
    case runnerStopped(RunnerID)
    /// An instance of the runner said it cannot take `config` messages.
    case runnerDeclinedLiveConfig(RunnerID)
    case timer(RolloutTimer)
    /// The broker answered every subscription the routes need (`.confirmSubscriptions`), or the
    /// agent is offline and the next connect makes them; `refused` lists the filters it refused.
    case subscribed(attempt: Int, refused: [String])
    /// The save asked for by `.save` for attempt `attempt` ended: nil, or why it failed.
    case saved(attempt: Int, failure: String?)
    /// The agent stops: stop everything, abandon an attempt in flight without saving it.
    case stopAll
}

/// Why the saved deployments could not be read.
public struct StoreFailure: Error, Sendable, Equatable {
    public var message: String

    public init(_ message: String) { self.message = message }
}

public enum RolloutTimer: Hashable, Sendable {
    /// The end of `policy.healthySeconds` for attempt `attempt`.
    case healthGate(attempt: Int)
    /// How long attempt `attempt` waits for the broker to confirm its subscriptions.
    case subscriptionGate(attempt: Int)
}

/// Where events for a function go while it is deployed.
public struct Route: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case runner(RunnerID)
        /// Being replaced: events wait for the successor, up to `queueSize`.
        case held
    }

    public var spec: FunctionSpec
    public var target: Target

    public init(spec: FunctionSpec, target: Target) {
        self.spec = spec
        self.target = target
    }

    /// Whether the function's subscriptions bring it events (a disabled function's do not).
    public var subscribes: Bool { spec.enabled }
}

/// What the rollout asks its shell to do, in order.
public enum RolloutEffect: Sendable, Equatable {
    case publish(DeploymentStatus)
    /// Fetch and lay out the artifacts of `specs` (off the reactor); answer with `.staged`.
    case stage(attempt: Int, [FunctionSpec])
    /// Make a runner (not started) for `spec` in `directory`.
    case create(RunnerID, FunctionSpec, directory: String, deploymentId: String, origin: DeploymentSource?)
    case start(RunnerID)
    case stop(RunnerID)
    /// Give the running instances a new configuration live.
    case updateConfig(RunnerID, FunctionSpec)
    /// Take the runner's queued events and hold them (and new ones, up to `capacity`) for function `name`'s successor.
    case hold(String, from: RunnerID, capacity: Int)
    /// Give the events held for `name` to its successor.
    case release(String, to: RunnerID)
    /// Where events go changed: subscriptions, health and the shadow's report follow.
    case routes([String: Route])
    case arm(RolloutTimer, afterMs: Int)
    case cancel(RolloutTimer)
    case persist(SavedDeployments)
    /// Answer with `.subscribed` once the broker has answered every subscription asked for (at
    /// once when nothing waits, or offline): a function reported running gets its events.
    case confirmSubscriptions(attempt: Int)
    /// Save what attempt `attempt` would apply, before it is reported SUCCEEDED; answer with `.saved`.
    case save(SavedDeployments, attempt: Int)
    /// Remove artifacts that neither of these uses.
    case collectGarbage(keeping: [EffectiveDeployment])
    case log(RolloutLog)
}

/// What the rollout logs, for the shell's logger.
public enum RolloutLog: Sendable, Equatable {
    case restoreFailed(String)
    case savedDocumentInvalid(DeploymentSource)
    case savedDocumentUnrunnable(DeploymentSource, [ValidationIssue])
    case restoring(sources: Int)
    case restoreUnrunnable
    case sourceCleared(DeploymentSource)
    case revisionSeen(DeploymentSource, Int64)
    case superseded(DeploymentSource, Int64)
    case rejected(DeploymentSource, [ValidationIssue])
    case shadowUnapplicable(String)
    case started(DeploymentSource, start: [String], stop: [String])
    case rollingBack(String)
    case finished(DeploymentState, reason: String?)
    case abandoned(DeploymentSource)
}
