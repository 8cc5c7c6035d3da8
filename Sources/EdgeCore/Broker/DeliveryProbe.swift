/// Whether the broker delivers what the agent subscribed to. A broker can hand a session back
/// with every subscription confirmed and deliver nothing: NATS 2.9 does after a cluster node is
/// lost (the JetStream consumers behind the subscriptions are gone), and subscribing again to the
/// same filter changes nothing there. So after each connect, once the broker has answered the
/// subscriptions, the agent publishes one QoS 1 message to a topic of its own that its invoke
/// subscription covers (`Topics.probe`). When it does not come back within the wait, the session
/// is deaf: every subscription is dropped and made again (UNSUBSCRIBE, then SUBSCRIBE, which makes
/// the broker build them anew) and, once the broker has answered them, the check runs again with
/// its wait doubled; after `maxResubscribes` rounds on one connection it gives up until the next.
/// Pure: the shell publishes, arms the timer and resubscribes.
public struct DeliveryProbe: Sendable {
    public enum Effect: Sendable, Equatable {
        /// Publish `nonce` (QoS 1) on the probe topic.
        case publish(nonce: String)
        /// Call `timedOut` after this long, replacing an armed call.
        case arm(afterMs: Int)
        case cancelTimer
        /// Drop every subscription and make it again.
        case resubscribe
    }

    /// How long the first probe of a connection may take to come back. Generous: on a cluster
    /// electing leaders after a node loss, a QoS 1 message can take several seconds, and a false
    /// alarm makes the broker drop what it queued for the old subscriptions.
    public static let firstWaitMs = 15_000
    public static let maxWaitMs = 120_000

    /// Resubscribing rounds per connection at most: a broker that still delivers nothing after
    /// them is not helped by more, and each round drops what it queued for the old subscriptions.
    public static let maxResubscribes = 2

    private enum State: Sendable, Equatable {
        /// Not connected, or the subscriptions are not answered yet.
        case idle
        case waiting(sentMs: Int64, waitMs: Int)
        /// Subscribed anew after a deaf check: the next probe goes once the broker has answered
        /// the new subscriptions (a probe sent before could be lost, not late), with this wait.
        case resubscribing(waitMs: Int)
        /// A probe of this connection came back.
        case delivering
        /// The broker refused the probe (an ACL): nothing to check on this connection.
        case refused
        /// Still deaf after `maxResubscribes` rounds: said, and left to the next connection.
        case gaveUp
    }

    private var state = State.idle
    private var connection = 0
    private var sent = 0
    private var resubscribes = 0
    /// Sessions found deaf (and subscribed again) since the agent started.
    public private(set) var deafSessions = 0
    /// How long the last probe that came back took.
    public private(set) var lastRoundTripMs: Int64?

    public init() {}

    /// Whether this connection's delivery is confirmed.
    public var isDelivering: Bool { state == .delivering }
    /// Whether it gave up on this connection (still deaf after resubscribing).
    public var gaveUp: Bool { state == .gaveUp }

    /// Connected, and the broker answered every subscription (the one the probe travels on
    /// among them): check delivery, once per connection, or again after a resubscribe.
    public mutating func subscriptionsAnswered(nowMs: Int64) -> [Effect] {
        switch state {
        case .idle: return send(nowMs: nowMs, waitMs: Self.firstWaitMs)
        case .resubscribing(let waitMs): return send(nowMs: nowMs, waitMs: waitMs)
        default: return []
        }
    }

    /// A probe came back. Any probe of this connection proves delivery, a late one included.
    public mutating func received(_ nonce: String, nowMs: Int64) -> [Effect] {
        guard nonce.hasPrefix("\(connection)-") else { return [] }
        switch state {
        case .waiting(let sentMs, _):
            lastRoundTripMs = nowMs - sentMs
        case .resubscribing, .gaveUp:
            break
        default:
            return []
        }
        state = .delivering
        return [.cancelTimer]
    }

    /// The wait ended with no probe back: the session is deaf. Its subscriptions are made again
    /// (the shell calls `subscriptionsAnswered` once the broker has answered them), up to
    /// `maxResubscribes` times per connection.
    public mutating func timedOut(nowMs: Int64) -> [Effect] {
        guard case .waiting(_, let waitMs) = state else { return [] }
        if resubscribes == 0 { deafSessions += 1 }
        guard resubscribes < Self.maxResubscribes else {
            state = .gaveUp
            return []
        }
        resubscribes += 1
        state = .resubscribing(waitMs: min(waitMs * 2, Self.maxWaitMs))
        return [.resubscribe]
    }

    /// The broker refused the probe message (an MQTT 5 PUBACK of 0x80 and up: its ACL does not let
    /// the agent publish there): delivery cannot be checked on this connection, and a probe that
    /// never comes back must not be taken for a deaf session.
    public mutating func refused() -> [Effect] {
        guard case .waiting = state else { return [] }
        state = .refused
        return [.cancelTimer]
    }

    /// The connection ended: the next one is checked afresh.
    public mutating func disconnected() -> [Effect] {
        let wasWaiting: Bool
        if case .waiting = state { wasWaiting = true } else { wasWaiting = false }
        state = .idle
        connection += 1
        resubscribes = 0
        return wasWaiting ? [.cancelTimer] : []
    }

    private mutating func send(nowMs: Int64, waitMs: Int) -> [Effect] {
        sent += 1
        state = .waiting(sentMs: nowMs, waitMs: waitMs)
        return [.publish(nonce: "\(connection)-\(sent)"), .arm(afterMs: waitMs)]
    }
}
