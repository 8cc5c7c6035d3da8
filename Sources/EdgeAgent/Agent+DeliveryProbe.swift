import EdgeCore
import EdgeMQTT
import EdgePOSIX

/// Performs what `DeliveryProbe` decides: the probe message, its timer, and making every
/// subscription again on a session the broker does not deliver to.
extension Agent {
    func perform(_ effects: [DeliveryProbe.Effect]) {
        for effect in effects {
            switch effect {
            case .publish(let nonce):
                // Straight to the client, not through the outbox: a probe is worth nothing later.
                logger.debug("checking that the broker delivers to this session", ("probe", nonce))
                do {
                    let sent = try client.publish(OutboundMessage(topic: topics.probe, payload: Array(nonce.utf8), qos: 1, retain: false,
                                                                  correlation: nil))
                    if case .sent(let id) = sent { deliveryProbeMessage = id }
                } catch {
                    logger.debug("cannot send the delivery check", ("error", error.description))
                }
            case .arm(let afterMs):
                loop.cancel(deliveryProbeTimer)
                deliveryProbeTimer = loop.after(afterMs) { [unowned self] in
                    self.deliveryProbeTimer = nil
                    self.perform(self.deliveryProbe.timedOut(nowMs: Clock.monotonicMs()))
                    if self.deliveryProbe.gaveUp {
                        self.logger.error("the broker still delivers nothing to this session after subscribing again "
                                          + "\(DeliveryProbe.maxResubscribes) times; leaving it until the next connection",
                                          ("broker", self.client.endpoint.description))
                        self.healthChanged()
                    }
                }
            case .cancelTimer:
                loop.cancel(deliveryProbeTimer)
                deliveryProbeTimer = nil
            case .resubscribe:
                resubscribeEverything()
            }
        }
    }

    /// The broker answered a message the agent published itself (not the outbox's): true when it was the probe.
    func probeAnswered(_ messageId: Int32, refusal: String?) -> Bool {
        guard messageId == deliveryProbeMessage else { return false }
        deliveryProbeMessage = nil
        guard let refusal else { return true }
        if !deliveryProbeRefusalSaid {
            deliveryProbeRefusalSaid = true
            logger.warning("the broker refused the agent's delivery check, so a session that delivers nothing cannot be noticed; "
                           + "let the agent publish to its probe topic (docs/brokers.md)", ("topic", topics.probe), ("reason", refusal))
        }
        perform(deliveryProbe.refused())
        return true
    }

    /// The broker confirmed the subscriptions but delivers nothing: each is dropped and made
    /// again, which makes the broker build it anew (asking again for the same one does not).
    private func resubscribeEverything() {
        logger.warning("the broker delivers nothing to this session although it confirmed its subscriptions; subscribing again",
                       ("broker", client.endpoint.description), ("filters", String(subscribed.count)),
                       ("deafSessions", String(deliveryProbe.deafSessions)))
        for filter in subscribed.keys.sorted() {
            do {
                try client.unsubscribe(filter)
            } catch {
                logger.debug("cannot unsubscribe", ("filter", filter), ("error", error.description))
            }
        }
        subscribed.removeAll()
        unconfirmedSubscriptions.removeAll()
        refreshSubscriptions()
        healthChanged()
    }
}
