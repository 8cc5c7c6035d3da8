import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// The operator's control topic (`edge/things/{thing}/control`, docs/topics.md "Control"):
/// restart, stop or start a function, or read a log. Each request is answered on its reply topic
/// (the MQTT 5 response topic, else its `replyTo`); restart, stop and start are also said on the
/// events topic, for the record. Requests are rate-limited, and so are the bytes of log lines.
extension Agent {
    /// At most this many requests a second (a burst of as many), and log lines at this rate.
    static let controlRequestsPerSecond = 10
    static let controlLogBytesPerSecond = 256 * 1024

    func routeControl(_ message: MQTTMessage) {
        // A request is a moment's: one retained on the topic would be carried out again at every
        // connect (even after the opposite request), so it is ignored, and said.
        if message.retain {
            logger.warning("a retained control request was ignored: publish control requests without the retain flag, "
                           + "and clear this one (mosquitto_pub -r -n -t \(topics.control))")
            return
        }
        let now = Clock.monotonicMs()
        let parsed: Result<ControlRequest, ControlError>
        var document: JSONValue?
        switch JSONCodec.parse(message.payload) {
        case .success(let value):
            document = value
            parsed = ControlRequest.parse(value)
        case .failure(let error):
            parsed = .failure(.invalid("a control request must be JSON: \(error.description)"))
        }
        let request = try? parsed.get()
        let envelope = ControlRequest.envelope(document)
        // The budget first: nothing a flood sends (its reply topics included) is said more than once a second.
        let verdict = controlBudget.take(bytes: 0, nowMs: now)
        if case .refused(nil) = verdict { return }
        let reply = controlReplyTopic(message.responseTopic ?? envelope.replyTo)
        let answer = { [unowned self] (outcome: Result<JSONValue, ControlError>) in
            self.answerControl(request, requestId: envelope.requestId, outcome, to: reply, correlation: message.correlationData)
        }
        switch verdict {
        case .allowed: break
        case .refused(let notice), .tooLarge(let notice):
            // Said once a second, so a flood of requests is not answered with a flood.
            guard let notice else { return }
            logger.warning("control requests over the rate were refused", ("refused", String(notice)))
            answer(.failure(.rateLimited("over \(Agent.controlRequestsPerSecond) control requests a second: \(notice) refused since the last notice; try again in a second")))
            return
        }
        guard case .success(let valid) = parsed else {
            if case .failure(let error) = parsed {
                logger.warning("a control request was refused", ("reason", error.message))
                answer(.failure(error))
            }
            return
        }
        switch valid.action {
        case .restart: answer(restartFunction(valid))
        case .stop, .start: turnFunction(valid, answer)
        case .logs: answer(readLog(valid, nowMs: now))
        }
    }

    /// The reply topic, if the agent may publish there (`TopicConfinement`); a refused one is said on the events topic.
    private func controlReplyTopic(_ candidate: String?) -> String? {
        guard let candidate else { return nil }
        guard let reason = TopicConfinement.replyProblem(candidate) else { return candidate }
        logger.warning("a control request's reply topic was refused", ("replyTopic", candidate), ("reason", reason))
        publishEvent(.replyRefused(invocationId: "control", sourceTopic: topics.control, replyTopic: candidate, reason: reason))
        return nil
    }

    private func answerControl(_ request: ControlRequest?, requestId: String?, _ outcome: Result<JSONValue, ControlError>, to reply: String?,
                               correlation: [UInt8]?) {
        if let request, request.action != .logs {
            var error: String?
            if case .failure(let failure) = outcome { error = failure.message }
            publishEvent(.control(request.action.rawValue, function: request.function ?? "", requestId: request.requestId, error: error))
        }
        guard let reply else { return }
        let document = ControlAnswer(thing: config.thingName, request: request, requestId: requestId, outcome: outcome).document(timestamp: Clock.wallMs())
        outbox.publish(reply, bytes: JSONCodec.serialize(document), qos: 1, correlation: correlation)
    }

    private func deployedFunction(_ name: String) -> ControlError? {
        guard coordinator.current.functions[name] == nil else { return nil }
        return .unknownFunction(name, thing: config.thingName, deployed: coordinator.current.functions.keys.sorted())
    }

    // MARK: Restart

    private func restartFunction(_ request: ControlRequest) -> Result<JSONValue, ControlError> {
        let name = request.function ?? ""
        if let unknown = deployedFunction(name) { return .failure(unknown) }
        guard let runner = coordinator.liveRunners[name] else {
            return .failure(.notPossible("\(name) is being deployed; try again once it runs"))
        }
        let before = runner.state
        switch before {
        case .disabled:
            return .failure(.notPossible("\(name) is stopped (DISABLED: functions.\(name).enabled is false in the classic shadow): "
                                         + "start it with edgectl start \(config.thingName) \(name)"))
        case .stopping, .stopped:
            return .failure(.notPossible("\(name) is stopping (a deployment is replacing it); try again once it runs"))
        case .broken:
            // Re-armed as the shadow's enabled: true does: a fresh runner with its failures forgotten.
            coordinator.shadowChanged(ShadowOverrides(desired: shadows.book.document(nil)?.desired), rearm: [name])
        case .starting, .running, .idle, .restarting:
            runner.handle(.restartRequested)
        }
        logger.info("function restart requested", ("function", name), ("state", before.rawValue))
        return .success(["previousState": .string(before.rawValue), "previousPids": .array(runner.pids.map { .int(Int64($0)) }),
                         "state": .string(coordinator.liveRunners[name]?.state.rawValue ?? before.rawValue)])
    }

    // MARK: Stop and start

    /// Sets the classic shadow's desired `functions.{fn}.enabled` as an operator's shadow update
    /// would, so the choice outlives a restart and shows in the shadow; answered once the shadow took it.
    private func turnFunction(_ request: ControlRequest, _ answer: @escaping (Result<JSONValue, ControlError>) -> Void) {
        let name = request.function ?? ""
        if let unknown = deployedFunction(name) { return answer(.failure(unknown)) }
        let enabled = request.action == .start
        let desired: JSONValue = ["functions": .object([name: ["enabled": .bool(enabled)]])]
        let done = { [unowned self] in
            let state = self.coordinator.liveRunners[name]?.state.rawValue ?? "STOPPED"
            self.logger.info(enabled ? "function start requested" : "function stop requested", ("function", name))
            answer(.success(["enabled": .bool(enabled), "state": .string(state)]))
        }
        if cloudShadows != nil {
            cloudShadowRequests += 1
            let number = cloudShadowRequests
            cloudShadowReplies[number] = { [unowned self] reply in
                guard reply.accepted else {
                    let message = reply.payload["message"]?.stringValue ?? "refused"
                    return answer(.failure(.failed("the shadow service refused desired.functions.\(name).enabled: \(reply.errorCode ?? 0) \(message)")))
                }
                // Taken as the service accepted it, not only once a delta comes: a BROKEN function
                // whose desired enabled was true already gets no delta, and must be re-armed.
                self.shadows.adopt(nil, (self.shadows.book.kept(nil) ?? ShadowDocument()).merging(accepted: reply.payload))
                self.classicShadowChanged(ShadowRequest(desired: desired))
                done()
            }
            sendToShadowService { $0.update(nil, fields: ["state": ["desired": desired]], origin: .function(number), nowMs: Clock.monotonicMs()) }
            return
        }
        shadows.perform(.update, on: nil, .success(ShadowRequest(desired: desired))) { [unowned self] outcome in
            if let error = outcome.error {
                return answer(.failure(.failed("the classic shadow refused desired.functions.\(name).enabled: \(error.code) \(error.message)")))
            }
            // Also when the shadow had it so already: `start` of a BROKEN function re-arms it.
            self.classicShadowChanged(outcome.accepted ?? ShadowRequest(desired: desired))
            done()
        }
    }

    // MARK: Logs

    private func readLog(_ request: ControlRequest, nowMs: Int64) -> Result<JSONValue, ControlError> {
        let result: Result<JSONValue, ControlError>
        if let name = request.function {
            if let unknown = deployedFunction(name) { return .failure(unknown) }
            result = LogReader.read(path: "\(host.logDir)/\(name).log", request)
        } else {
            result = LogReader.read(logger.recent, request, boot: startedMs)
        }
        guard case .success(let lines) = result else { return result }
        let bytes = lines["lines"]?.arrayValue?.reduce(0) { $0 + LogTail.encodedSize($1.stringValue ?? "") } ?? 0
        if case .allowed = logBudget.take(bytes: min(bytes, Agent.controlLogBytesPerSecond), nowMs: nowMs) { return result }
        return .failure(.rateLimited("over \(Agent.controlLogBytesPerSecond / 1024) KiB of log lines a second; ask again in a second"))
    }
}
