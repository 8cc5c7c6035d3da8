import EdgeCore
import EdgeJSON
import EdgePOSIX

/// How the agent answers its functions' supervisors and the deployment coordinator.
extension Agent: FunctionRunnerDelegate, DeploymentCoordinatorDelegate {
    // MARK: FunctionRunnerDelegate

    func runner(_ runner: FunctionRunner, finished invocation: Invocation, outcome: InvocationOutcome, durationMs: Double) {
        publishOutcome(of: invocation, function: runner.name, version: runner.spec.version, outputTopic: runner.spec.output.topic,
                       qos: runner.spec.output.qos, outcome: outcome, durationMs: durationMs)
    }

    func runner(_ runner: FunctionRunner, event type: String, _ detail: [String: JSONValue]) {
        var members = detail
        members["function"] = .string(runner.name)
        members["version"] = .string(runner.spec.version)
        publishEvent(type, .object(members))
    }

    func runner(_ runner: FunctionRunner, publish topic: String, payload: JSONValue, qos: Int, retain: Bool) -> String? {
        if let problem = TopicName.problem(in: topic) { return "cannot publish to '\(topic)': \(problem)" }
        guard runner.spec.mayPublish(to: topic) else {
            let allowed = runner.spec.publish.map(\.text).joined(separator: ", ")
            return "'\(topic)' is outside this function's publish allow-list (\(allowed.isEmpty ? "empty" : allowed)); add a matching filter to functions.\(runner.name).publish"
        }
        // A string payload goes out as its text, anything else as JSON.
        let bytes = payload.stringValue.map { Array($0.utf8) } ?? JSONCodec.serialize(payload)
        outbox.publish(topic, bytes: bytes, qos: qos, retain: retain)
        return nil
    }

    func runner(_ runner: FunctionRunner, shadow type: String, _ request: [String: JSONValue]) -> JSONValue {
        functionShadowRequest(runner, type: type, request)
    }

    func runnerChanged(_ runner: FunctionRunner) {
        healthChanged()
        shadowReportChanged()
    }

    func runnerReady(_ runner: FunctionRunner) {
        coordinator.runnerReady(runner)
        healthChanged()
    }

    func runner(_ runner: FunctionRunner, failed reason: String, broken: Bool) {
        coordinator.runnerFailed(runner, reason: reason, broken: broken)
        healthChanged()
    }

    func runnerStopped(_ runner: FunctionRunner) {
        coordinator.runnerStopped(runner)
        healthChanged()
    }

    // MARK: DeploymentCoordinatorDelegate

    func coordinator(_ coordinator: DeploymentCoordinator, publish status: DeploymentStatus) {
        publishStatus(status)
        publishEvent("deployment.\(status.state.rawValue.lowercased())",
                     ["deploymentId": .string(status.deploymentId ?? ""), "reason": .string(status.reason ?? "")])
        healthChanged()
    }

    func coordinator(_ coordinator: DeploymentCoordinator, makeRunner spec: FunctionSpec, directory: String,
                     deploymentId: String) -> FunctionRunner {
        let runner = FunctionRunner(spec: spec, directory: directory, deploymentId: deploymentId, host: host, loop: loop, logger: logger)
        runner.delegate = self
        return runner
    }

    func coordinator(_ coordinator: DeploymentCoordinator, event type: String, _ detail: [String: JSONValue]) {
        publishEvent(type, .object(detail))
    }

    func coordinatorFunctionsChanged(_ coordinator: DeploymentCoordinator) {
        refreshSubscriptions()
        healthChanged()
        shadowReportChanged()
    }

    func coordinator(_ coordinator: DeploymentCoordinator, stage specs: [FunctionSpec], attempt: Int) {
        let stager = coordinator.stager
        let results = stagingResults
        Worker.run {
            results.post(StagingResult(attempt: attempt, result: stager.stage(specs)))
        }
    }
}
