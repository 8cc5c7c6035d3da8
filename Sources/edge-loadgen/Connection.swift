#if canImport(Glibc)
import Glibc
#endif
import EdgeMQTT
import EdgePOSIX

/// A connected client whose subscription is known to be in place: a probe published to the
/// subscribed filter's own topic has come back. The client runs on `loop`, on this thread; a
/// run sets `onMessage` and turns the loop.
final class Connection {
    let loop = EventLoop()
    let client: MQTTClient
    /// Gets every message once the connection is made.
    var onMessage: ((MQTTMessage) -> Void)?
    private var connected = false
    private var problem = "no answer"
    private var probeSeen = false
    private let probe = Array("{\"probe\":\(getpid())}".utf8)

    init(_ broker: BrokerOptions, name: String, subscribe filter: String, qos: Int) throws {
        client = try MQTTClient(settings: MQTTSettings(clientId: "edge-\(name)-\(getpid())", host: broker.host,
                                                       port: broker.port, persistentSession: false),
                                loop: loop)
        client.start { [unowned self] event in self.received(event) }
        let deadline = Clock.monotonicMs() + Int64(broker.connectTimeout) * 1000
        guard loop.run(untilMs: deadline, done: { connected }) else {
            throw LoadError("cannot connect to \(broker.host):\(broker.port) within \(broker.connectTimeout) s: \(problem)")
        }
        try client.subscribe(filter, qos: qos)
        // The SUBACK is not reported: a message on the filter itself proves the subscription.
        while Clock.monotonicMs() < deadline {
            try client.publish(topic: Connection.concreteTopic(of: filter), payload: probe, qos: 1, retain: false)
            if loop.run(untilMs: min(deadline, Clock.monotonicMs() + 200), done: { probeSeen }) { return }
        }
        throw LoadError("the subscription to \(filter) was not confirmed within \(broker.connectTimeout) s")
    }

    private func received(_ event: MQTTEvent) {
        switch event {
        case .connected:
            connected = true
        case .connectionFailed(let failure):
            problem = failure.description
        case .disconnected(let reason):
            problem = reason
        case .message(let message):
            if let onMessage {
                onMessage(message)
            } else if message.payload == probe {
                probeSeen = true
            }
        case .acknowledged, .refused, .rejectedByBroker, .subscriptionRefused, .subscribed:
            break
        }
    }

    func close() { client.stop() }

    /// A topic that the filter matches: each wildcard level replaced by a word.
    static func concreteTopic(of filter: String) -> String {
        filter.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0 == "+" || $0 == "#" ? "probe" : String($0) }
            .joined(separator: "/")
    }
}

struct LoadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Flushes every output stream (standard output among them) before the driver reads it.
func fflushStandardOutput() { fflush(nil) }
