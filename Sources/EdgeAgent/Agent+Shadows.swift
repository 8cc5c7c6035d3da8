import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// The thing's shadows: requests from the network, the classic shadow's desired state applied
/// to the agent and its functions, what runs reported back, and functions' own named shadows.
extension Agent {
    /// The members of the classic shadow's `reported` the agent owns and keeps true; others are left alone.
    static let reportedKeys = ["agent", "functions", "problems"]

    /// Restores the saved shadows and takes the classic desired state as the agent's own before
    /// anything starts, so the restored deployment already runs as the shadow asks.
    func restoreShadows() {
        shadows.load()
        let overrides = ShadowOverrides(desired: shadows.book.document(nil)?.desired)
        applyAgentSettings(overrides)
        coordinator.shadowChanged(overrides, rearm: [])
    }

    /// A message on a shadow request topic (or, in `cloud` mode, a reply of the shadow service);
    /// false when it was not one.
    func routeShadowRequest(_ message: MQTTMessage) -> Bool {
        if cloudShadows != nil { return routeCloudShadowReply(message) }
        return shadows.received(topic: message.topic, payload: message.payload) { [unowned self] name, outcome in
            if name == nil, outcome.changed != nil { self.classicShadowChanged(outcome.accepted) }
        }
    }

    /// The classic shadow changed (an update or a delete): follow its desired state, and report
    /// again in case someone wrote over what the agent reports.
    func classicShadowChanged(_ request: ShadowRequest?) {
        let overrides = ShadowOverrides(desired: shadows.book.document(nil)?.desired)
        var rearm: Set<String> = []
        for (name, value) in request?.desired?["functions"]?.objectValue ?? [:] where value["enabled"]?.boolValue == true {
            rearm.insert(name)
        }
        applyAgentSettings(overrides)
        coordinator.shadowChanged(overrides, rearm: rearm)
        shadowReportChanged()
    }

    /// The agent's own settings from the shadow, or from its configuration where the shadow says nothing.
    private func applyAgentSettings(_ overrides: ShadowOverrides) {
        let level = overrides.logLevel ?? config.logLevel
        if logger.level != level {
            // Said at whichever of the two levels is more verbose, so the change is on record.
            let more = level < logger.level
            if more { logger.level = level }
            logger.info("log level changed by the shadow", ("logLevel", level.name))
            if !more { logger.level = level }
        }
        let interval = overrides.healthIntervalSeconds ?? config.healthIntervalSeconds
        if interval != healthIntervalSeconds {
            healthIntervalSeconds = interval
            // At start (no timer yet) run() schedules it with the new interval.
            if healthTimer != nil {
                loop.cancel(healthTimer)
                scheduleHealthInterval()
            }
            logger.info("health interval changed by the shadow", ("seconds", String(interval)))
        }
    }

    // MARK: Reported

    /// What runs, as the classic shadow's `reported` says it: coalesced, so a burst of changes makes one update.
    func shadowReportChanged() {
        guard shadowReportDue == nil, shadowService.reporting else { return }
        shadowReportDue = loop.after(200) { [unowned self] in
            self.shadowReportDue = nil
            self.reportShadow()
        }
    }

    /// Updates the agent's keys of `reported` when they differ from the truth. One report is in
    /// flight at a time: a change meanwhile reports again once it is saved.
    func reportShadow() {
        guard !shadowReportInFlight else {
            shadowReportAgain = true
            return
        }
        // In cloud mode the report goes to the service, checked against its version: only once
        // connected and the service's copy fetched (the fetch reports again when it lands).
        if cloudShadows != nil, !connected { return }
        let document = shadows.book.document(nil)
        var truth = reportedState()
        // The classic shadow holds 8 KB of desired and reported together: when the functions'
        // configs do not fit beside the rest, they are left out of reported, and reported says so.
        let others = (document?.reported ?? [:]).filter { !Agent.reportedKeys.contains($0.key) }
        let size = (document?.desired.map { JSONValue.object($0).compactSize } ?? 0)
            + JSONValue.object(others.merging(truth) { _, agent in agent }).compactSize
        if size > ShadowLimits.maxStateBytes {
            truth = reportedState(withConfig: false, fullSize: size)
        }
        let stored = document?.reported?.filter { Agent.reportedKeys.contains($0.key) }
        guard let patch = ShadowRules.patch(from: stored, to: truth) else { return }
        shadowReportInFlight = true
        if cloudShadows != nil {
            var fields: [String: JSONValue] = ["state": ["reported": .object(patch)]]
            if let kept = shadows.book.kept(nil), kept.exists { fields["version"] = .int(kept.version) }
            sendToShadowService { $0.update(nil, fields: fields, origin: .agent, nowMs: Clock.monotonicMs()) }
            return
        }
        shadows.perform(.update, on: nil, .success(ShadowRequest(reported: .object(patch)))) { [unowned self] outcome in
            self.shadowReportInFlight = false
            // Said once per distinct problem: reports are retried on every change, which can be many a second.
            if let error = outcome.error, error.description != self.shadowReportProblem {
                self.logger.error("cannot report the agent's state in its shadow", ("error", error.description))
            }
            self.shadowReportProblem = outcome.error?.description
            if self.shadowReportAgain {
                self.shadowReportAgain = false
                self.reportShadow()
            }
        }
    }

    /// The agent's settings in effect, each deployed function as it runs, and what of the
    /// desired state could not be applied, by path.
    /// Without `withConfig`, the functions' configs are left out and `problems.reported` says
    /// why (`fullSize`: desired and reported with them).
    func reportedState(withConfig: Bool = true, fullSize: Int = 0) -> [String: JSONValue] {
        var functions: [String: JSONValue] = [:]
        for (name, spec) in coordinator.current.functions {
            var entry: [String: JSONValue] = [
                "enabled": .bool(spec.enabled), "version": .string(spec.version), "limits": spec.limits.json,
            ]
            if withConfig { entry["config"] = .object(spec.config) }
            entry["state"] = .string(coordinator.liveRunners[name].map { Agent.reportedState(of: $0.state) } ?? "STOPPED")
            functions[name] = .object(entry)
        }
        var state: [String: JSONValue] = [
            "agent": ["logLevel": .string(logger.level.name), "healthIntervalSeconds": .int(Int64(healthIntervalSeconds)),
                      "version": .string(HealthReport.agentVersion)],
            "functions": .object(functions),
        ]
        var problems = coordinator.current.overrideProblems
        if let failure = coordinator.shadowFailure { problems["functions"] = "the last change from the shadow failed and was rolled back: \(failure)" }
        if !withConfig {
            problems["reported"] = "the functions' config is left out of reported: with it, desired and reported would take \(fullSize) bytes, more than the \(ShadowLimits.maxStateBytes) a shadow holds; the config in force is the deployment's with desired's changes"
        }
        if !problems.isEmpty { state["problems"] = .object(problems.mapValues { .string($0) }) }
        return state
    }

    /// A function's state as the shadow reports it: steady states only, so that on-demand
    /// starts and stops do not make a new shadow version each time (health has the live state).
    static func reportedState(of state: FunctionState) -> String {
        switch state {
        case .starting, .running, .idle, .restarting: return "RUNNING"
        case .broken, .disabled: return state.rawValue
        case .stopping, .stopped: return "STOPPED"
        }
    }

    // MARK: Functions' own shadows

    /// `shadow.get` / `shadow.update` from a function: always on the named shadow that bears its name.
    func functionShadowRequest(_ runner: FunctionRunner, type: String, _ members: [String: JSONValue],
                               reply: @escaping (JSONValue) -> Void) {
        let id = members["id"] ?? .null
        let operation: ShadowBook.Operation = type == "shadow.update" ? .update : .get
        var fields = members
        fields["type"] = nil
        fields["id"] = nil
        if cloudShadows != nil {
            cloudShadowRequests += 1
            let number = cloudShadowRequests
            cloudShadowReplies[number] = { answer in
                if answer.accepted {
                    reply(["type": "shadow.accepted", "id": id, "document": answer.payload])
                } else {
                    var detail: [String: JSONValue] = ["code": .int(Int64(answer.errorCode ?? 500)),
                                                       "message": answer.payload["message"] ?? .string("refused by the shadow service")]
                    if let text = answer.payload["detail"] { detail["detail"] = text }
                    reply(["type": "shadow.rejected", "id": id, "error": .object(detail)])
                }
            }
            let now = Clock.monotonicMs()
            sendToShadowService { client in
                operation == .update ? client.update(runner.name, fields: fields, origin: .function(number), nowMs: now)
                    : client.fetch(runner.name, origin: .function(number), nowMs: now)
            }
            return
        }
        let request = operation == .update ? ShadowRequest.update(.object(fields)) : ShadowRequest.other(.object(fields))
        shadows.perform(operation, on: runner.name, request) { outcome in
            if let error = outcome.error {
                var detail: [String: JSONValue] = ["code": .int(Int64(error.code)), "message": .string(error.message)]
                if let text = error.detail { detail["detail"] = .string(text) }
                reply(["type": "shadow.rejected", "id": id, "error": .object(detail)])
            } else {
                reply(["type": "shadow.accepted", "id": id, "document": outcome.messages.first?.payload ?? .null])
            }
        }
    }
}
