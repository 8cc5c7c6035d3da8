import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// Every message the agent sends goes out through here, on the reactor's thread. Connected, a
/// message is written at once. While the broker is away, QoS 1 messages stay in libmosquitto's
/// own queue (it sends them on reconnect); QoS 0 messages wait here, in order, bounded by count
/// and bytes, the oldest dropped and counted when full (`HeldMessages`), and go out on `flush`.
/// A message the client refuses for good (an invalid topic, too large) is dropped, counted and
/// logged, never left blocking the rest.
final class Outbox {
    private let client: MQTTClient
    private let logger: Logger
    private var held = HeldMessages(maxMessages: Outbox.maxHeldMessages, maxBytes: Outbox.maxHeldBytes)
    static let maxHeldMessages = 10_000
    static let maxHeldBytes = 16 << 20
    private(set) var refused = 0

    init(client: MQTTClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// QoS 0 messages waiting for the broker.
    var queued: Int { held.count }
    /// QoS 0 messages dropped, oldest first, because too many waited.
    var droppedWhileOffline: Int { held.dropped }

    /// Publishes `document` as JSON; see `publish(_:bytes:qos:retain:correlation:)`.
    @discardableResult
    func publish(_ topic: String, _ document: JSONValue, qos: Int, retain: Bool = false, correlation: [UInt8]? = nil) -> Int32? {
        publish(topic, bytes: JSONCodec.serialize(document), qos: qos, retain: retain, correlation: correlation)
    }

    /// Publishes, or holds the message until the broker is back. Returns the message id when it
    /// went to the broker (a QoS 1 message's acknowledgement carries it), nil when it waits or
    /// was refused.
    @discardableResult
    func publish(_ topic: String, bytes: [UInt8], qos: Int, retain: Bool = false, correlation: [UInt8]? = nil) -> Int32? {
        let message = OutboundMessage(topic: topic, payload: bytes, qos: qos, retain: retain, correlation: correlation)
        // A QoS 0 message goes behind those already waiting; QoS 1 is libmosquitto's to keep.
        if held.isEmpty || qos > 0 {
            switch send(message) {
            case .sent(let id): return id
            case .keptByClient, .refused: return nil
            case .offline: break
            }
        }
        held.hold(message)
        return nil
    }

    /// Sends what waited while offline, oldest first; stops when the client is offline again.
    func flush() {
        while let next = held.first {
            if case .offline = send(next) { return }
            held.removeFirst()
        }
    }

    /// A message the client refused for good, at once or after it had kept it (`MQTTEvent.refused`): counted, logged, dropped.
    func refusedByClient(topic: String, reason: String) {
        refused += 1
        logger.error("message dropped: the MQTT client refused it", ("topic", topic), ("reason", reason))
    }

    private enum Outcome {
        case sent(Int32)
        case keptByClient
        case offline
        case refused
    }

    private func send(_ message: OutboundMessage) -> Outcome {
        do {
            switch try client.publish(message) {
            case .sent(let id): return .sent(id)
            case .kept: return .keptByClient
            }
        } catch where error.isOffline {
            return .offline
        } catch {
            refusedByClient(topic: message.topic, reason: error.description)
            return .refused
        }
    }
}
