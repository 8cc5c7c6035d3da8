/// The retained document on `edge/things/{thing}/deployment/status` (docs/topics.md), built
/// only here.
public struct DeploymentStatus: Sendable, Equatable {
    public var state: DeploymentState
    public var source: DeploymentSource?
    public var deploymentId: String?
    public var revision: Int64?
    public var reason: String?
    public var issues: [ValidationIssue] = []
    /// Each function's version, state, last error and source document, filled in by the shell.
    public var functions: [String: JSONValue] = [:]
    public var sources: [SourceRevision] = []
    /// For SUPERSEDED: the document that replaced this one (nil when its source was cleared).
    public var supersededBy: (deploymentId: String, revision: Int64)?

    public static func == (lhs: DeploymentStatus, rhs: DeploymentStatus) -> Bool {
        lhs.state == rhs.state && lhs.source == rhs.source && lhs.deploymentId == rhs.deploymentId
            && lhs.revision == rhs.revision && lhs.reason == rhs.reason && lhs.issues == rhs.issues
            && lhs.functions == rhs.functions && lhs.sources == rhs.sources
            && lhs.supersededBy?.deploymentId == rhs.supersededBy?.deploymentId
            && lhs.supersededBy?.revision == rhs.supersededBy?.revision
    }

    public init(state: DeploymentState, source: DeploymentSource?) {
        self.state = state
        self.source = source
    }

    public func document(thing: String, timestamp: Int64) -> JSONValue {
        var members: [String: JSONValue] = ["thing": .string(thing), "status": .string(state.rawValue), "timestamp": .int(timestamp)]
        if let source { members["source"] = .string(source.description) }
        if let deploymentId { members["deploymentId"] = .string(deploymentId) }
        if let revision { members["revision"] = .int(revision) }
        if let reason { members["reason"] = .string(reason) }
        if !issues.isEmpty {
            members["errors"] = .array(issues.map { issue in
                var entry: [String: JSONValue] = ["path": .string(issue.path), "message": .string(issue.message)]
                if let value = issue.value { entry["value"] = .string(value) }
                return .object(entry)
            })
        }
        if let supersededBy {
            members["supersededBy"] = ["deploymentId": .string(supersededBy.deploymentId), "revision": .int(supersededBy.revision)]
        }
        if !functions.isEmpty { members["functions"] = .object(functions) }
        if !sources.isEmpty {
            members["sources"] = .array(sources.map {
                ["source": .string($0.source.description), "deploymentId": .string($0.deploymentId), "revision": .int($0.revision)]
            })
        }
        return .object(members)
    }
}

/// Why staging a deployment's artifacts failed, and the field it concerns.
public struct StagingFailure: Error, Sendable, Equatable {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}
