import EdgeCore

/// The retained document on `edge/things/{thing}/deployment/status`.
struct DeploymentStatus {
    var state: DeploymentState
    var source: DeploymentSource?
    var deploymentId: String?
    var revision: Int64?
    var reason: String?
    var issues: [ValidationIssue] = []
    var functions: [String: JSONValue] = [:]
    var sources: [SourceRevision] = []

    func document(thing: String, timestamp: Int64) -> JSONValue {
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
        if !functions.isEmpty { members["functions"] = .object(functions) }
        if !sources.isEmpty {
            members["sources"] = .array(sources.map {
                ["source": .string($0.source.description), "deploymentId": .string($0.deploymentId), "revision": .int($0.revision)]
            })
        }
        return .object(members)
    }
}
