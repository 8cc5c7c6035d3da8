import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// Publishes for the agent. What cannot be handed to the client while offline waits in a
/// bounded outbox, in order, and goes out when the connection is back; when the outbox is full
/// the oldest message is dropped and counted, so memory stays bounded on a long outage.
final class Publisher {
    private let client: MQTTClient
    private let logger: Logger
    private var outbox: [(topic: String, payload: [UInt8], qos: Int, retain: Bool, correlation: [UInt8]?)] = []
    private var outboxBytes = 0
    static let maxOutboxMessages = 10_000
    static let maxOutboxBytes = 16 << 20
    private(set) var droppedWhileOffline = 0
    private(set) var published = 0

    init(client: MQTTClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    var queued: Int { outbox.count }

    @discardableResult
    func publish(_ topic: String, _ document: JSONValue, qos: Int, retain: Bool = false, correlation: [UInt8]? = nil) -> Int32? {
        publish(topic, bytes: JSONCodec.serialize(document), qos: qos, retain: retain, correlation: correlation)
    }

    @discardableResult
    func publish(_ topic: String, bytes: [UInt8], qos: Int, retain: Bool = false, correlation: [UInt8]? = nil) -> Int32? {
        if outbox.isEmpty {
            do {
                let id = try client.publish(topic: topic, payload: bytes, qos: qos, retain: retain, correlationData: correlation)
                published += 1
                return id
            } catch {
                logger.debug("publish deferred", ("topic", topic), ("reason", error.description))
            }
        }
        outbox.append((topic, bytes, qos, retain, correlation))
        outboxBytes += bytes.count
        while outbox.count > Self.maxOutboxMessages || outboxBytes > Self.maxOutboxBytes {
            let oldest = outbox.removeFirst()
            outboxBytes -= oldest.payload.count
            droppedWhileOffline += 1
        }
        return nil
    }

    /// Sends what waited while offline, oldest first; stops at the first refusal.
    func flush() {
        while let next = outbox.first {
            do {
                try client.publish(topic: next.topic, payload: next.payload, qos: next.qos, retain: next.retain, correlationData: next.correlation)
            } catch {
                logger.debug("outbox flush paused", ("reason", error.description))
                return
            }
            published += 1
            outbox.removeFirst()
            outboxBytes -= next.payload.count
        }
    }
}
