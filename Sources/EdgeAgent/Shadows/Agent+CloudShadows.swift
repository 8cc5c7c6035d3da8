import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// `shadows: cloud`: the shadow service is the broker side's (AWS IoT Core, or another
/// implementation of the Device Shadow MQTT API) and the agent is one of its device clients.
/// It fetches the classic shadow on every connect and after every delta, acts on the desired
/// state exactly as in `serve` mode, reports what runs with the version it last saw (a conflict
/// fetches and reports again), and forwards functions' requests on their named shadows.
extension Agent {
    /// Runs `step` on the client and performs what it says.
    func sendToShadowService(_ step: (inout CloudShadowClient) -> [CloudShadowClient.Effect]) {
        guard var client = cloudShadows else { return }
        let effects = step(&client)
        cloudShadows = client
        perform(effects)
    }

    func cloudShadowsConnected() {
        sendToShadowService { $0.connected(nowMs: Clock.monotonicMs()) }
    }

    func cloudShadowsDisconnected() {
        sendToShadowService { $0.disconnected() }
    }

    /// A reply of the shadow service; false when `message` is on none of its topics.
    func routeCloudShadowReply(_ message: MQTTMessage) -> Bool {
        guard shadows.topics.reply(message.topic) != nil else { return false }
        guard case .success(let payload) = JSONCodec.parse(message.payload, maxDepth: 32, maxBytes: ShadowLimits.maxPayloadBytes * 2) else {
            logger.warning("a message from the shadow service is not JSON; ignored", ("topic", message.topic))
            return true
        }
        sendToShadowService { $0.received(topic: message.topic, payload: payload, nowMs: Clock.monotonicMs()) }
        return true
    }

    private func perform(_ effects: [CloudShadowClient.Effect]) {
        for effect in effects {
            switch effect {
            case .publish(let topic, let payload):
                outbox.publish(topic, payload, qos: 1)
            case .document(let name, let document, let change):
                shadows.adopt(name, document)
                if name == nil { classicShadowChanged(change.map { ShadowRequest(desired: .object($0)) }) }
            case .answer(let answer):
                answered(answer)
            }
        }
        armShadowServiceDeadline()
    }

    private func answered(_ answer: CloudShadowClient.Answer) {
        guard case .agent = answer.origin else {
            if case .function(let number) = answer.origin { cloudShadowReplies.removeValue(forKey: number)?(answer) }
            return
        }
        guard answer.operation == .update, answer.name == nil else { return }
        shadowReportInFlight = false
        if answer.accepted {
            shadows.adopt(nil, (shadows.book.kept(nil) ?? ShadowDocument()).merging(accepted: answer.payload))
            shadowReportProblem = nil
        } else if answer.errorCode == 409 {
            // Someone else changed the shadow since the agent's copy: fetch it, then report on it.
            sendToShadowService { $0.fetch(nil, origin: .agent, nowMs: Clock.monotonicMs()) }
            return
        } else {
            let problem = "\(answer.errorCode ?? 0) \(answer.payload["message"]?.stringValue ?? "")"
            if problem != shadowReportProblem {
                if answer.errorCode == 504 {
                    logger.warning("the agent's report did not reach the shadow service; it reports again after the next fetch",
                                   ("error", problem))
                } else {
                    logger.error("the shadow service refused the agent's report", ("error", problem))
                }
            }
            shadowReportProblem = problem
        }
        if shadowReportAgain {
            shadowReportAgain = false
            reportShadow()
        }
    }

    /// A timer while requests wait for the service, to answer those it never does.
    private func armShadowServiceDeadline() {
        guard cloudShadowExpiry == nil, cloudShadows?.hasPending == true else { return }
        cloudShadowExpiry = loop.after(1000) { [unowned self] in
            self.cloudShadowExpiry = nil
            self.sendToShadowService { $0.expire(nowMs: Clock.monotonicMs()) }
        }
    }
}
