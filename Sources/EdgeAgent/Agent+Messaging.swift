#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// The MQTT side of the agent: connection events, routing, subscriptions, results and health.
extension Agent {
    func handle(_ event: MQTTEvent) {
        switch event {
        case .connected(let sessionPresent, let version, let endpoint):
            if everConnected { reconnects += 1 }
            everConnected = true
            failureLog.removeAll()
            connected = true
            protocolVersion = version
            logger.info("connected to the broker", ("broker", endpoint.description), ("protocol", MQTTProtocolSetting.name(ofLevel: version)),
                        ("sessionPresent", String(sessionPresent)))
            // A session the broker kept has its subscriptions (MQTT's rule): only what changed
            // meanwhile, or was never confirmed, is asked for. Asking again for the rest would
            // cost a broker like NATS a JetStream consumer update each, on every reconnect of
            // every device, and right after a node is lost those updates time out and can leave
            // the session deaf. A new session gets every subscription.
            if !sessionPresent { subscribed.removeAll() }
            refusedSubscriptions.removeAll()
            refreshSubscriptions()
            checkSubscriptionGate()
            outbox.resume()
            cloudShadowsConnected()
            publishHealth()
            if let status = coordinator.lastStatus { publishStatus(status) }
            shadowReportChanged()
        case .connectionFailed(let failure):
            lastConnectionFailure = failure.description
            if failure.fallingBack {
                logger.info("the broker did not take an MQTT 5 connection; trying MQTT 3.1.1", ("broker", failure.endpoint.description),
                            ("reason", failure.failure.explanation))
            } else {
                logConnectionFailure(failure)
            }
        case .disconnected(let reason):
            connected = false
            // A SUBSCRIBE the broker never answered may not have reached it.
            for filter in unconfirmedSubscriptions { subscribed[filter] = nil }
            unconfirmedSubscriptions.removeAll()
            perform(deliveryProbe.disconnected())
            deliveryProbeMessage = nil
            checkSubscriptionGate()
            outbox.disconnected()
            cloudShadowsDisconnected()
            logger.warning("lost the broker; functions keep running, results wait in the outbox", ("reason", reason))
        case .message(let message):
            route(message)
        case .acknowledged(let messageId):
            if probeAnswered(messageId, refusal: nil) { return }
            outbox.acknowledged(messageId)
            session.acknowledged(messageId)
        case .rejectedByBroker(let messageId, let reason):
            if probeAnswered(messageId, refusal: reason) { return }
            outbox.rejectedByBroker(messageId, reason: reason)
            session.acknowledged(messageId)
        case .subscriptionRefused(let filter, let reason):
            subscriptionRefused(filter, reason: reason)
            checkSubscriptionGate()
        case .subscribed(let filter):
            unconfirmedSubscriptions.remove(filter)
            if refusedSubscriptions.remove(filter) != nil {
                logger.info("the broker took a subscription it had refused", ("filter", filter))
            } else {
                logger.debug("subscribed", ("filter", filter))
            }
            checkSubscriptionGate()
        case .refused(let topic, let reason):
            outbox.refusedByClient(topic: topic, reason: reason)
        }
    }

    /// The topic filters the agent needs: its deployments, direct invocation and every function's subscriptions.
    func wantedSubscriptions() -> [String: Int] {
        var wanted: [String: Int] = [topics.deployment: 1, topics.invokeFilter: 1, topics.control: 1]
        for group in config.thingGroups { wanted[Topics.groupDeployment(group)] = 1 }
        for filter in cloudShadows?.replyFilters ?? shadows.topics.requestFilters { wanted[filter] = 1 }
        for spec in coordinator.router.subscribedSpecs {
            for subscription in spec.subscriptions {
                wanted[subscription.filter.text] = max(wanted[subscription.filter.text] ?? 0, subscription.qos)
            }
        }
        return wanted
    }

    func refreshSubscriptions() {
        guard connected else { return }
        let wanted = wantedSubscriptions()
        for (filter, qos) in wanted where subscribed[filter] != qos {
            do {
                try client.subscribe(filter, qos: qos, retainAsPublished: isDeploymentTopic(filter))
                subscribed[filter] = qos
                unconfirmedSubscriptions.insert(filter)
            } catch {
                // As a refusal: named where a deployment waits for it, and asked for again.
                subscriptionRefused(filter, reason: "the MQTT client could not send the SUBSCRIBE: \(error.description)")
            }
        }
        for filter in subscribed.keys where wanted[filter] == nil {
            do {
                try client.unsubscribe(filter)
                subscribed[filter] = nil
            } catch {
                logger.error("cannot unsubscribe", ("filter", filter), ("error", error.description))
            }
        }
    }

    /// A failed attempt, said at its level the first time and again once a minute (with how many
    /// came between); the same failure meanwhile only at debug level: a broker away for a day is
    /// a line a minute in the log, not one a second.
    func logConnectionFailure(_ failure: ConnectionAttemptFailure) {
        let now = Clock.monotonicMs()
        let key = failure.description
        let seen = failureLog[key]
        if let seen, now - seen.saidMs < Agent.repeatedFailureLogMs {
            failureLog[key] = (seen.saidMs, seen.since + 1)
            logger.debug("cannot connect to the broker; retrying", ("reason", key))
            return
        }
        if failureLog.count >= 16 { failureLog.removeAll() }
        failureLog[key] = (now, 0)
        let repeated: (String, String) = ("repeated", String(seen?.since ?? 0))
        if failure.failure.isNotAuthorized {
            logger.error("the broker refused the agent's credentials; retrying", ("reason", key), repeated)
        } else {
            logger.warning("cannot connect to the broker; retrying", ("reason", key), repeated)
        }
    }

    static let repeatedFailureLogMs: Int64 = 60_000

    /// A subscription the broker refused is asked for again a few seconds later (NATS refuses
    /// one when JetStream is busy; an ACL may be fixed meanwhile), said once until it takes.
    func subscriptionRefused(_ filter: String, reason: String) {
        subscribed[filter] = nil
        unconfirmedSubscriptions.remove(filter)
        if refusedSubscriptions.insert(filter).inserted {
            logger.warning("the broker refused a subscription; asking again every few seconds", ("filter", filter), ("reason", reason))
        }
        guard subscriptionRetry == nil else { return }
        subscriptionRetry = loop.after(Agent.subscriptionRetryMs) { [unowned self] in
            self.subscriptionRetry = nil
            let missing = self.wantedSubscriptions().keys.filter { self.subscribed[$0] == nil }.sorted()
            self.logger.debug("subscribing again to what the broker refused", ("filters", missing.joined(separator: ",")))
            self.refreshSubscriptions()
        }
    }

    static let subscriptionRetryMs = 3000

    /// Once no subscription waits for the broker's answer: a deployment waiting for its
    /// subscriptions goes on (offline too: the next connect makes them, nothing to wait for),
    /// and the connection's delivery is checked.
    func checkSubscriptionGate() {
        guard !connected || unconfirmedSubscriptions.isEmpty else { return }
        if let attempt = subscriptionGate {
            subscriptionGate = nil
            coordinator.subscriptionsAnswered(attempt: attempt, refused: refusedSubscriptions.sorted())
        }
        // The probe travels on the invoke subscription: without it, it could not come back.
        if connected && subscribed[topics.invokeFilter] != nil && !refusedSubscriptions.contains(topics.invokeFilter) {
            perform(deliveryProbe.subscriptionsAnswered(nowMs: Clock.monotonicMs()))
        }
    }

    // MARK: Routing

    func route(_ message: MQTTMessage) {
        if message.topic == topics.probe {
            let effects = deliveryProbe.received(String(decoding: message.payload, as: UTF8.self), nowMs: Clock.monotonicMs())
            perform(effects)
            if !effects.isEmpty {
                logger.debug("the broker delivers to this session", ("roundTripMs", String(deliveryProbe.lastRoundTripMs ?? 0)))
                healthChanged()
            }
            return
        }
        if message.topic == topics.ping {
            answerPing(makeInvocation(message, direct: true))
            return
        }
        if message.topic == topics.control {
            routeControl(message)
            return
        }
        if routeShadowRequest(message) { return }
        if message.topic == topics.deployment {
            receivedDeployment(message, from: .thing)
            return
        }
        if let group = Topics.group(ofDeploymentTopic: message.topic) {
            if config.thingGroups.contains(group) { receivedDeployment(message, from: .group(group)) }
            return
        }
        if let name = topics.functionInvoked(by: message.topic) {
            let invocation = makeInvocation(message, direct: true)
            if deliver(invocation, to: name) == .unknown {
                answerUnknown(invocation, function: name)
            }
            return
        }
        let targets = coordinator.router.functions(for: message.topic)
        guard !targets.isEmpty else { return }
        // The payload is parsed once; each function gets the event under an id of its own.
        let invocation = makeInvocation(message, direct: false)
        for (index, name) in targets.enumerated() {
            var copy = invocation
            if index > 0 {
                invocationCounter += 1
                copy.id = invocationId()
            }
            deliver(copy, to: name)
        }
    }

    private func isDeploymentTopic(_ filter: String) -> Bool {
        filter == topics.deployment || Topics.group(ofDeploymentTopic: filter) != nil
    }

    /// Only a retained empty message removes a source's deployment. Over MQTT 5 the agent
    /// subscribes with retain-as-published, so an empty message that was not retained (a
    /// mistake, or anyone with publish rights on the topic) is told apart and ignored; MQTT
    /// 3.1.1 does not say, so there every empty message clears (docs/deployments.md).
    private func receivedDeployment(_ message: MQTTMessage, from source: DeploymentSource) {
        if message.payload.isEmpty && !message.retain && protocolVersion == 5 {
            let reason = "an empty message that was not retained does not remove a deployment: publish an empty retained message (mosquitto_pub -r -n) to remove it"
            logger.warning("a deployment message was ignored", ("topic", message.topic), ("reason", reason))
            publishEvent(.deploymentIgnored(topic: message.topic, reason: reason))
            return
        }
        coordinator.received(message.payload, from: source)
    }

    @discardableResult
    private func deliver(_ invocation: Invocation, to name: String) -> Router.Delivery {
        let delivery = coordinator.router.deliver(invocation, to: name)
        if delivery == .heldQueueFull {
            publishOutcome(of: invocation, function: name, version: nil, outputTopic: topics.results(function: name), qos: 1,
                           outcome: .failure(.init(.queueFull, "function \(name) is being replaced and its queue is full; this event was dropped")),
                           durationMs: 0)
        }
        return delivery
    }

    /// The event for `message`: its payload checked once (never parsed into values: a function
    /// gets its bytes); a direct invocation's `replyTo` read from it.
    private func makeInvocation(_ message: MQTTMessage, direct: Bool) -> Invocation {
        invocationCounter += 1
        var isJSON = false
        var replyTo: String?
        message.payload.withUnsafeBufferPointer { bytes in
            guard direct else {
                isJSON = JSONScanner.problem(in: bytes, maxDepth: RuntimeProtocol.maxEventDepth) == nil
                return
            }
            guard case .success(let members) = JSONScanner.members(of: bytes, maxDepth: RuntimeProtocol.maxEventDepth) else { return }
            isJSON = true
            // The last one counts, as when the event is parsed.
            if let member = members?.last(where: { $0.hasKey("replyTo", in: bytes) }), member.kind == .string {
                replyTo = Self.string(UnsafeBufferPointer(rebasing: bytes[member.value]), escaped: member.valueHasEscapes)
            }
        }
        let id = invocationId()
        // A reply topic from the network is used only where anyone may be answered: never the
        // agent's own topics or a reserved `$` topic (TopicConfinement), said on the events topic.
        // The MQTT 5 response topic first; the event's `replyTo` only if that is missing or refused.
        // (No array of candidates: this runs for every event.)
        func usable(_ candidate: String?) -> String? {
            guard let candidate else { return nil }
            guard let reason = TopicConfinement.replyProblem(candidate) else { return candidate }
            logger.warning("an event's reply topic was refused", ("invocation", id), ("replyTopic", candidate), ("reason", reason))
            publishEvent(.replyRefused(invocationId: id, sourceTopic: message.topic, replyTopic: candidate, reason: reason))
            return nil
        }
        let reply = usable(message.responseTopic) ?? usable(replyTo)
        return Invocation(id: id, topic: message.topic, payload: message.payload,
                          isJSON: isJSON, replyTopic: reply, correlationData: message.correlationData)
    }

    /// A new invocation's id: the thing, this start's number (the outbox's run, so an id is never
    /// reused across restarts: a consumer may drop duplicates by it) and a counter.
    private func invocationId() -> String {
        "\(config.thingName)-\(outbox.run)-\(invocationCounter)"
    }

    /// A JSON string's text from its quoted bytes (checked by the scanner).
    private static func string(_ quoted: UnsafeBufferPointer<UInt8>, escaped: Bool) -> String? {
        guard escaped else { return String(decoding: UnsafeBufferPointer(rebasing: quoted.dropFirst().dropLast()), as: UTF8.self) }
        guard case .success(let value) = JSONCodec.parse(Array(quoted)) else { return nil }
        return value.stringValue
    }

    /// The agent's own answer to `~ping`: its clock, version and uptime, to the reply topic only.
    private func answerPing(_ invocation: Invocation) {
        guard let reply = invocation.replyTopic else { return }
        let now = Clock.wallMs()
        let about: JSONValue = ["agentVersion": .string(HealthReport.agentVersion), "uptimeSeconds": .int((now - startedMs) / 1000)]
        let result = InvocationResult(thing: config.thingName, function: "~ping", version: HealthReport.agentVersion,
                                      invocationId: invocation.id, sourceTopic: invocation.topic, outcome: .result(RawJSON(about)),
                                      timestamp: now)
        outbox.publish(reply, bytes: result.bytes, qos: 1, correlation: invocation.correlationData)
    }

    private func answerUnknown(_ invocation: Invocation, function name: String) {
        publishEvent(.unknownFunction(name, invocationId: invocation.id, sourceTopic: invocation.topic))
        guard let reply = invocation.replyTopic else { return }
        let result = InvocationResult(thing: config.thingName, function: name, version: nil, invocationId: invocation.id,
                                      sourceTopic: invocation.topic,
                                      outcome: .failure(.init(.unknownFunction, "no function named \(name) is deployed on \(config.thingName)")),
                                      timestamp: Clock.wallMs())
        outbox.publish(reply, bytes: result.bytes, qos: 1, correlation: invocation.correlationData)
    }

    // MARK: Publishing

    func publishOutcome(of invocation: Invocation, function: String, version: String?, outputTopic: String, qos: Int,
                        outcome: InvocationOutcome, durationMs: Double) {
        let result = InvocationResult(thing: config.thingName, function: function, version: version, invocationId: invocation.id,
                                      sourceTopic: invocation.topic, outcome: outcome, durationMs: durationMs, timestamp: Clock.wallMs())
        let bytes = result.bytes
        outbox.publish(outputTopic, bytes: bytes, qos: qos)
        if let reply = invocation.replyTopic, reply != outputTopic {
            outbox.publish(reply, bytes: bytes, qos: qos, correlation: invocation.correlationData)
        }
    }

    func publishEvent(_ event: AgentEvent) {
        outbox.publish(topics.events, event.document(thing: config.thingName, timestamp: Clock.wallMs()), qos: 1)
    }

    func publishStatus(_ status: DeploymentStatus) {
        outbox.publish(topics.deploymentStatus, status.document(thing: config.thingName, timestamp: Clock.wallMs()), qos: 1, retain: true)
    }

    func healthReport() -> HealthReport {
        HealthReport(thing: config.thingName, startedMs: startedMs,
                     connection: .init(connected: connected, broker: client.endpoint.description, tls: config.tls != nil,
                                       protocolVersion: protocolVersion, reconnects: reconnects,
                                       endpoints: config.brokers.map(\.description), lastFailure: lastConnectionFailure,
                                       deafSessions: deliveryProbe.deafSessions, delivering: connected && deliveryProbe.isDelivering),
                     deployment: coordinator.lastStatus, runners: Array(coordinator.liveRunners.values),
                     outbox: outbox.health,
                     cgroups: cgroupHealth, groups: config.thingGroups,
                     disk: Files.space(of: config.stateDir).map { HealthDocument.Disk(availableBytes: $0.available, totalBytes: $0.total) })
    }

    /// The `cgroups` member of health: the version and controllers in use, or why caps are off.
    var cgroupHealth: JSONValue {
        guard let tree = host.cgroups else {
            return ["version": "none", "controllers": [], "reason": .string(cgroupProblem ?? "unknown"),
                    "allowUncapped": .bool(config.allowUncapped)]
        }
        var members: [String: JSONValue] = [
            "version": .string(tree.version.rawValue), "controllers": .array(tree.controllers.sorted().map { .string($0) }),
            "paths": .array(tree.paths.map { .string($0) }),
        ]
        if let problem = cgroupProblem { members["reason"] = .string(problem) }
        return .object(members)
    }

    func publishHealth() {
        loop.cancel(healthDue)
        healthDue = nil
        healthDueAtMs = nil
        guard healthService.running else { return }
        outbox.publish(topics.health, healthReport().document(now: Clock.wallMs()).json, qos: 1, retain: true, coalesce: true)
    }

    /// Health after a change of state, coalesced so a burst of changes makes one report.
    func healthChanged() {
        scheduleHealth(withinMs: 100)
    }

    /// Health after counters moved (an event answered): at most one report a second while they
    /// do, so a busy function neither floods the health topic nor shows stale counts.
    func countersChanged() {
        guard healthDue == nil else { return }
        scheduleHealth(withinMs: 1000)
    }

    private func scheduleHealth(withinMs delay: Int) {
        let due = Clock.monotonicMs() + Int64(delay)
        if healthDue != nil, let pending = healthDueAtMs, pending <= due { return }
        loop.cancel(healthDue)
        healthDueAtMs = due
        healthDue = loop.after(delay) { [unowned self] in self.publishHealth() }
    }

    func scheduleHealthInterval() {
        healthTimer = loop.after(healthIntervalSeconds * 1000) { [unowned self] in
            self.publishHealth()
            self.scheduleHealthInterval()
        }
    }
}
