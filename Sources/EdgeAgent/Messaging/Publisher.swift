import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// Publishes for the agent. While the broker is away, QoS 1 messages stay in libmosquitto's
/// own queue (it sends them on reconnect); QoS 0 messages wait here, in order, in a bounded
/// outbox that drops and counts its oldest when full. A message the client refuses for good
/// (an invalid topic, too large) is dropped and logged, never left blocking the rest.
final class Publisher {
    private let client: MQTTClient
    private let logger: Logger
    private var outbox: [(topic: String, payload: [UInt8], qos: Int, retain: Bool, correlation: [UInt8]?)] = []
    private var outboxBytes = 0
    static let maxOutboxMessages = 10_000
    static let maxOutboxBytes = 16 << 20
    private(set) var droppedWhileOffline = 0
    private(set) var refused = 0

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
        if outbox.isEmpty || qos > 0 {
            do {
                let id = try client.publish(topic: topic, payload: bytes, qos: qos, retain: retain, correlationData: correlation)
                return id
            } catch {
                // Offline, libmosquitto keeps a QoS 1 message itself and sends it on reconnect.
                if error.isOffline && qos > 0 { return nil }
                if !error.isOffline {
                    refused += 1
                    logger.error("message dropped: the MQTT client refused it", ("topic", topic), ("reason", error.description))
                    return nil
                }
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

    /// Sends what waited while offline, oldest first; stops when the client is offline again.
    func flush() {
        while let next = outbox.first {
            do {
                try client.publish(topic: next.topic, payload: next.payload, qos: next.qos, retain: next.retain, correlationData: next.correlation)
            } catch {
                if error.isOffline { return }
                refused += 1
                logger.error("message dropped: the MQTT client refused it", ("topic", next.topic), ("reason", error.description))
            }
            outbox.removeFirst()
            outboxBytes -= next.payload.count
        }
    }
}
