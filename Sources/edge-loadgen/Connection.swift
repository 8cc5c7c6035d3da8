#if canImport(Glibc)
import Glibc
#endif
import EdgeMQTT
import EdgePOSIX

/// A connected client whose subscription is known to be in place: a probe published to the
/// subscribed filter's own topic has come back.
final class Connection {
    let client: MQTTClient
    let events: Inbox<MQTTEvent>

    init(_ broker: BrokerOptions, name: String, subscribe filter: String, qos: Int) throws {
        events = try Inbox<MQTTEvent>()
        client = try MQTTClient(settings: MQTTSettings(clientId: "edge-\(name)-\(getpid())", host: broker.host,
                                                       port: broker.port, persistentSession: false),
                                events: events)
        client.start()
        let deadline = Clock.monotonicMs() + Int64(broker.connectTimeout) * 1000
        var problem = "no answer"
        connecting: while true {
            let events = next(until: deadline)
            guard !events.isEmpty else {
                throw LoadError("cannot connect to \(broker.host):\(broker.port) within \(broker.connectTimeout) s: \(problem)")
            }
            for event in events {
                switch event {
                case .connected: break connecting
                case .connectionFailed(let reason), .disconnected(let reason): problem = reason
                case .message, .acknowledged: break
                }
            }
        }
        try client.subscribe(filter, qos: qos)
        // The SUBACK is not reported: a message on the filter itself proves the subscription.
        let probe = Array("{\"probe\":\(getpid())}".utf8)
        while Clock.monotonicMs() < deadline {
            try client.publish(topic: Connection.concreteTopic(of: filter), payload: probe, qos: 1, retain: false)
            for event in next(until: min(deadline, Clock.monotonicMs() + 200)) {
                if case .message(let message) = event, message.payload == probe { return }
            }
        }
        throw LoadError("the subscription to \(filter) was not confirmed within \(broker.connectTimeout) s")
    }

    /// What the client reported, waiting for something until `deadline`; empty once it has passed.
    func next(until deadline: Int64) -> [MQTTEvent] {
        while true {
            let left = deadline - Clock.monotonicMs()
            guard left > 0 else { return events.drainIfReady(timeoutMs: 0) }
            let ready = events.drainIfReady(timeoutMs: Int32(min(left, 1000)))
            if !ready.isEmpty { return ready }
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

extension Inbox {
    /// Waits up to `timeoutMs` for the inbox to be readable, then drains it.
    func drainIfReady(timeoutMs: Int32) -> [Message] {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, timeoutMs) > 0 else { return [] }
        return drain()
    }
}

struct LoadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Flushes every output stream (standard output among them) before the driver reads it.
func fflushStandardOutput() { fflush(nil) }
