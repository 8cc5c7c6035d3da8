#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// A short-lived connection to the broker that waits for messages with a deadline.
final class Session {
    let client: MQTTClient
    let events: Inbox<MQTTEvent>
    private var backlog: [MQTTMessage] = []

    init(_ options: BrokerOptions) throws {
        events = try Inbox<MQTTEvent>()
        var settings = MQTTSettings(clientId: "edgectl-\(getpid())", host: options.host,
                                    port: options.port ?? (options.tlsCA == nil ? 1883 : 8883), persistentSession: false)
        if let ca = options.tlsCA { settings.tls = .init(caFile: ca, certFile: options.tlsCert, keyFile: options.tlsKey) }
        client = try MQTTClient(settings: settings, events: events)
        client.start()
        let deadline = Clock.monotonicMs() + Int64(options.timeout) * 1000
        var lastProblem = "no answer"
        while true {
            guard let event = next(until: deadline) else {
                client.stop()
                throw Failure("cannot connect to \(options.host):\(settings.port) within \(options.timeout) s: \(lastProblem)")
            }
            switch event {
            case .connected: return
            case .connectionFailed(let reason), .disconnected(let reason): lastProblem = reason
            case .message(let message): backlog.append(message)
            case .acknowledged: break
            }
        }
    }

    func close() { client.stop() }

    private func next(until deadline: Int64) -> MQTTEvent? {
        var pending: [MQTTEvent] = []
        while pending.isEmpty {
            let wait = deadline - Clock.monotonicMs()
            if wait <= 0 { return nil }
            var descriptor = pollfd(fd: events.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, Int32(clamping: wait))
            pending = events.drain()
        }
        let first = pending.removeFirst()
        for event in pending { if case .message(let message) = event { backlog.append(message) } }
        return first
    }

    /// The first message on `topic` that `accept` takes, or nil at the deadline.
    func waitFor(_ topic: String, timeoutSeconds: Int, _ accept: (MQTTMessage) -> Bool) -> MQTTMessage? {
        waitFor(anyOf: [topic], timeoutSeconds: timeoutSeconds, accept)
    }

    /// The first message on one of `topics` that `accept` takes, or nil at the deadline.
    /// Every message goes through the backlog, so one that came in the same batch as another
    /// event is looked at too.
    func waitFor(anyOf topics: [String], timeoutSeconds: Int, _ accept: (MQTTMessage) -> Bool) -> MQTTMessage? {
        let deadline = Clock.monotonicMs() + Int64(timeoutSeconds) * 1000
        while true {
            if let index = backlog.firstIndex(where: { topics.contains($0.topic) && accept($0) }) { return backlog.remove(at: index) }
            guard let event = next(until: deadline) else { return nil }
            if case .message(let message) = event { backlog.append(message) }
        }
    }

    func publish(_ topic: String, _ payload: [UInt8], retain: Bool) throws {
        try client.publish(topic: topic, payload: payload, qos: 1, retain: retain)
    }
}

/// A failure reported to the operator, with exit code 1.
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func readJSON(_ path: String) throws -> (JSONValue, [UInt8]) {
    let bytes: [UInt8]
    do { bytes = try Files.read(path, maxBytes: 16 << 20) } catch { throw ValidationError("cannot read \(path): \(error.reason)") }
    switch JSONCodec.parse(bytes) {
    case .success(let value): return (value, bytes)
    case .failure(let error): throw ValidationError("\(path) is not valid JSON: \(error.message)")
    }
}

func printJSON(_ value: JSONValue) {
    print(JSONCodec.text(value))
}
