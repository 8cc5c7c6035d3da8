#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// A short-lived connection to the broker that waits for messages with a deadline: the client
/// runs on an event loop of this thread, turned only while the command waits.
final class Session {
    let loop = EventLoop()
    let client: MQTTClient
    private var backlog: [MQTTMessage] = []
    private var connected = false
    private var lastProblem = "no answer"

    init(_ options: BrokerOptions) throws {
        var settings = MQTTSettings(clientId: "edgectl-\(getpid())", host: options.host,
                                    port: options.port ?? (options.tlsCA == nil ? 1883 : 8883), persistentSession: false)
        if let ca = options.tlsCA { settings.tls = .init(caFile: ca, certFile: options.tlsCert, keyFile: options.tlsKey) }
        client = try MQTTClient(settings: settings, loop: loop)
        client.start { [unowned self] event in self.received(event) }
        let deadline = Clock.monotonicMs() + Int64(options.timeout) * 1000
        guard loop.run(untilMs: deadline, done: { connected }) else {
            client.stop()
            throw Failure("cannot connect to \(options.host):\(settings.port) within \(options.timeout) s: \(lastProblem)")
        }
    }

    func close() { client.stop() }

    private func received(_ event: MQTTEvent) {
        switch event {
        case .connected: connected = true
        case .connectionFailed(let reason), .disconnected(let reason): lastProblem = reason
        case .message(let message): backlog.append(message)
        case .acknowledged, .refused: break
        }
    }

    /// The first message on `topic` that `accept` takes, or nil at the deadline.
    func waitFor(_ topic: String, timeoutSeconds: Int, _ accept: (MQTTMessage) -> Bool) -> MQTTMessage? {
        waitFor(anyOf: [topic], timeoutSeconds: timeoutSeconds, accept)
    }

    /// The first message on one of `topics` that `accept` takes, or nil at the deadline; those
    /// it does not take stay for a later wait.
    func waitFor(anyOf topics: [String], timeoutSeconds: Int, _ accept: (MQTTMessage) -> Bool) -> MQTTMessage? {
        let deadline = Clock.monotonicMs() + Int64(timeoutSeconds) * 1000
        var found: MQTTMessage?
        loop.run(untilMs: deadline) {
            if found == nil, let index = backlog.firstIndex(where: { topics.contains($0.topic) && accept($0) }) {
                found = backlog.remove(at: index)
            }
            return found != nil
        }
        return found
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

/// A document the operator wrote (a deployment, an event): a key given twice is refused, as the
/// agent refuses it, instead of the last one silently winning.
func readJSON(_ path: String) throws -> (JSONValue, [UInt8]) {
    let bytes: [UInt8]
    do { bytes = try Files.read(path, maxBytes: 16 << 20) } catch { throw ValidationError("cannot read \(path): \(error.reason)") }
    switch JSONCodec.parse(bytes, uniqueKeys: true) {
    case .success(let value): return (value, bytes)
    case .failure(let error): throw ValidationError("\(path) is not valid JSON: \(error.message)")
    }
}

func printJSON(_ value: JSONValue) {
    print(JSONCodec.text(value))
}
