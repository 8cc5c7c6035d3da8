/// Where a deployment document came from: the thing's own topic or one of its groups'.
public enum DeploymentSource: Sendable, Hashable, CustomStringConvertible {
    case thing
    case group(String)

    public var description: String {
        switch self {
        case .thing: return "thing"
        case .group(let name): return "group/\(name)"
        }
    }

    public init?(label: String) {
        if label == "thing" { self = .thing; return }
        guard label.hasPrefix("group/") else { return nil }
        let name = String(label.dropFirst("group/".count))
        guard NameRule.groupName(name) == nil else { return nil }
        self = .group(name)
    }
}

/// The deployments a thing has received, one per source, and the one it should run.
public struct DeploymentSet: Sendable, Equatable {
    public private(set) var documents: [DeploymentSource: Deployment] = [:]
    /// The highest revision seen per source, applied or not: re-delivery of it is a no-op.
    public private(set) var seenRevisions: [DeploymentSource: Int64] = [:]
    /// The deploymentId of that revision (when known), so that the same revision under another id
    /// is told from a re-delivery even when the seen revision failed and was never applied.
    public private(set) var seenIds: [DeploymentSource: String] = [:]

    public init() {}

    public init(documents: [DeploymentSource: Deployment], seenRevisions: [DeploymentSource: Int64],
                seenIds: [DeploymentSource: String] = [:]) {
        self.documents = documents
        self.seenRevisions = seenRevisions
        self.seenIds = seenIds
    }

    /// Whether a document with `revision` from `source` should be acted on.
    public func isNewer(_ revision: Int64, from source: DeploymentSource) -> Bool {
        guard let seen = seenRevisions[source] else { return true }
        return revision > seen
    }

    public mutating func markSeen(_ revision: Int64, id: String? = nil, from source: DeploymentSource) {
        let seen = seenRevisions[source] ?? 0
        guard revision >= seen else { return }
        if revision > seen || id != nil { seenIds[source] = id }
        seenRevisions[source] = revision
    }

    public mutating func set(_ deployment: Deployment?, from source: DeploymentSource) {
        documents[source] = deployment
        if let deployment { markSeen(deployment.revision, id: deployment.deploymentId, from: source) }
    }

    /// The effective deployment: groups in the configured order (a later group wins for a
    /// function both name), then the thing's own document, which overrides per function.
    public func effective(groupOrder: [String]) -> EffectiveDeployment {
        var result = EffectiveDeployment()
        var order: [DeploymentSource] = groupOrder.map { .group($0) }
        order.append(.thing)
        for source in order {
            guard let document = documents[source] else { continue }
            for (name, spec) in document.functions {
                result.functions[name] = spec
                result.origins[name] = source
            }
            result.policy = document.policy
            result.sources.append(SourceRevision(source: source, deploymentId: document.deploymentId, revision: document.revision))
        }
        return result
    }
}

/// A source's deployment id and revision, as reported in status.
public struct SourceRevision: Sendable, Equatable {
    public var source: DeploymentSource
    public var deploymentId: String
    public var revision: Int64
}

/// The merged set of functions a thing runs, with where each came from.
public struct EffectiveDeployment: Sendable, Equatable {
    public var functions: [String: FunctionSpec] = [:]
    public var origins: [String: DeploymentSource] = [:]
    public var policy = DeploymentPolicy()
    public var sources: [SourceRevision] = []
    /// What of the classic shadow's desired state could not be applied to these functions, by path in `desired`.
    public var overrideProblems: [String: String] = [:]

    public init() {}

    /// Functions that are new or whose spec changed relative to `previous`, and those removed.
    public func changes(from previous: EffectiveDeployment) -> (started: [String], stopped: [String], unchanged: [String]) {
        var started: [String] = []
        var stopped: [String] = []
        var unchanged: [String] = []
        for name in functions.keys.sorted() {
            if previous.functions[name] == functions[name] { unchanged.append(name) } else { started.append(name) }
        }
        for name in previous.functions.keys.sorted() where functions[name] != previous.functions[name] {
            stopped.append(name)
        }
        return (started, stopped, unchanged)
    }
}
