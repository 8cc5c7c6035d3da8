import EdgeCore
import EdgeJSON
import EdgePOSIX

/// How the agent answers its functions' supervisors and the deployment coordinator.
extension Agent: FunctionRunnerDelegate, DeploymentCoordinatorDelegate {
    // MARK: FunctionRunnerDelegate

    func runner(_ runner: FunctionRunner, finished invocation: Invocation, outcome: InvocationOutcome, durationMs: Double) {
        publishOutcome(of: invocation, function: runner.name, version: runner.spec.version, outputTopic: runner.spec.output.topic,
                       qos: runner.spec.output.qos, outcome: outcome, durationMs: durationMs)
        countersChanged()
    }

    func runner(_ runner: FunctionRunner, event: FunctionEvent) {
        publishEvent(.function(runner.name, version: runner.spec.version, event))
    }

    func runner(_ runner: FunctionRunner, publish topic: String, bytes: [UInt8], qos: Int, retain: Bool) -> String? {
        if let problem = TopicName.problem(in: topic) { return "cannot publish to '\(topic)': \(problem)" }
        // Whatever its allow-list says: a function must not reach the agents' control plane
        // (deployments, health, events, invocations, the control topic) on a broker without an ACL.
        if let problem = TopicConfinement.functionPublishProblem(topic) { return "cannot publish to '\(topic)': \(problem)" }
        guard runner.spec.mayPublish(to: topic) else {
            let allowed = runner.spec.publish.map(\.text).joined(separator: ", ")
            return "'\(topic)' is outside this function's publish allow-list (\(allowed.isEmpty ? "empty" : allowed)); add a matching filter to functions.\(runner.name).publish"
        }
        outbox.publish(topic, bytes: bytes, qos: qos, retain: retain)
        return nil
    }

    func runner(_ runner: FunctionRunner, shadow type: String, _ request: [String: JSONValue], reply: @escaping (JSONValue) -> Void) {
        functionShadowRequest(runner, type: type, request, reply: reply)
    }

    func runnerChanged(_ runner: FunctionRunner) {
        healthChanged()
        shadowReportChanged()
    }

    func runnerDeclinedLiveConfig(_ runner: FunctionRunner) {
        coordinator.runnerDeclinedLiveConfig(runner)
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
        publishEvent(.deployment(status.state, deploymentId: status.deploymentId ?? "", reason: status.reason ?? ""))
        healthChanged()
    }

    func coordinator(_ coordinator: DeploymentCoordinator, makeRunner id: RunnerID, spec: FunctionSpec, directory: String,
                     deploymentId: String) -> FunctionRunner {
        let runner = FunctionRunner(id: id, spec: spec, directory: directory, deploymentId: deploymentId, host: host, loop: loop, logger: logger)
        runner.delegate = self
        return runner
    }

    func coordinator(_ coordinator: DeploymentCoordinator, event: AgentEvent) {
        publishEvent(event)
    }

    func coordinatorFunctionsChanged(_ coordinator: DeploymentCoordinator) {
        // At shutdown the subscriptions stay: the persistent session keeps what arrives meanwhile.
        if !shuttingDown { refreshSubscriptions() }
        healthChanged()
        shadowReportChanged()
    }

    func coordinator(_ coordinator: DeploymentCoordinator, confirmSubscriptionsFor attempt: Int) {
        subscriptionGate = attempt
        checkSubscriptionGate()
    }

    func coordinator(_ coordinator: DeploymentCoordinator, stage specs: [FunctionSpec], attempt: Int) {
        let stager = coordinator.stager
        io.run(.network, { stager.stage(specs) }) { [unowned self] result in
            self.coordinator.staged(result, attempt: attempt)
        }
    }
}
