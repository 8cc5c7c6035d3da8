/// A validated deployment document: which functions a thing (or group) should run.
public struct Deployment: Sendable, Equatable {
    public var deploymentId: String
    public var revision: Int64
    public var functions: [String: FunctionSpec]
    public var policy: DeploymentPolicy

    public init(deploymentId: String, revision: Int64, functions: [String: FunctionSpec], policy: DeploymentPolicy) {
        self.deploymentId = deploymentId
        self.revision = revision
        self.functions = functions
        self.policy = policy
    }
}

/// What happens when a deployment's functions do not come up healthy.
public struct DeploymentPolicy: Sendable, Equatable {
    public enum OnFailure: String, Sendable, Equatable {
        case rollback
        case none
    }

    public var onFailure: OnFailure
    public var healthySeconds: Int

    public init(onFailure: OnFailure = .rollback, healthySeconds: Int = 5) {
        self.onFailure = onFailure
        self.healthySeconds = healthySeconds
    }
}

/// The lifecycle states of a deployment, as published on the status topic.
public enum DeploymentState: String, Sendable {
    case inProgress = "IN_PROGRESS"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    case rolledBack = "ROLLED_BACK"
    case rejected = "REJECTED"
    /// Waited for the deployment in progress and was skipped: a newer document of its source came first.
    case superseded = "SUPERSEDED"
}
