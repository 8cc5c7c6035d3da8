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
    /// The failed attempt that ends the wait for a connection.
    private var failure: String?
    /// A subscription the broker refused: what the command waits for will not come.
    private var refusedSubscription: String?

    init(_ options: BrokerOptions) throws {
        var settings = MQTTSettings(clientId: "edgectl-\(getpid())", host: options.host,
                                    port: options.port ?? (options.tlsCA == nil ? 1883 : 8883), persistentSession: false)
        if let ca = options.tlsCA { settings.tls = .init(caFile: ca, certFile: options.tlsCert, keyFile: options.tlsKey) }
        settings.protocolSetting = MQTTProtocolSetting(rawValue: options.mqttProtocol) ?? .auto
        settings.connackTimeoutMs = max(1, min(10, options.timeout)) * 1000
        (settings.username, settings.password) = try Session.credentials(options)
        client = try MQTTClient(settings: settings, loop: loop)
        client.start { [unowned self] event in self.received(event) }
        let deadline = Clock.monotonicMs() + Int64(options.timeout) * 1000
        guard loop.run(untilMs: deadline, done: { connected || failure != nil }), connected else {
            client.stop()
            throw cannotConnect(failure ?? "cannot connect to \(client.endpoint) within \(options.timeout) s: \(lastProblem)")
        }
    }

    /// The user name and password: the options', else the environment's.
    static func credentials(_ options: BrokerOptions) throws -> (String?, String?) {
        let environment = { (name: String) in getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        var password: String?
        if let path = options.passwordFile {
            let bytes: [UInt8]
            do { bytes = try Files.read(path, maxBytes: PasswordFile.maxBytes) } catch { throw ValidationError("--password-file: cannot read \(path): \(error.reason)") }
            password = PasswordFile.password(from: bytes)
            guard password != nil else { throw ValidationError("--password-file: \(path) is empty: its first line must be the password") }
        } else {
            password = environment("EDGE_BROKER_PASSWORD")
        }
        let username = options.username ?? environment("EDGE_BROKER_USERNAME")
        if password != nil && username == nil {
            throw ValidationError("a password needs a user name: --username NAME (or EDGE_BROKER_USERNAME)")
        }
        return (username, password)
    }

    func close() { client.stop() }

    private func received(_ event: MQTTEvent) {
        switch event {
        case .connected: connected = true
        case .connectionFailed(let attempt):
            lastProblem = attempt.description
            // One failed attempt is the answer (a refused or unreachable broker does not come
            // back while the operator waits); a fall-back to MQTT 3.1.1 is still under way.
            if !attempt.fallingBack { failure = attempt.description }
        case .disconnected(let reason): lastProblem = reason
        case .message(let message): backlog.append(message)
        case .subscriptionRefused(let filter, let reason): refusedSubscription = "the broker refused the subscription to \(filter): \(reason)"
        case .acknowledged, .refused, .rejectedByBroker, .subscribed: break
        }
    }

    /// The first message on `topic` that `accept` takes, or nil at the deadline.
    func waitFor(_ topic: String, timeoutSeconds: Int, _ accept: (MQTTMessage) -> Bool) throws -> MQTTMessage? {
        try waitFor(anyOf: [topic], timeoutSeconds: timeoutSeconds, accept)
    }

    /// The first message on one of `topics` that `accept` takes, or nil at the deadline; those
    /// it does not take stay for a later wait.
    func waitFor(anyOf topics: [String], timeoutSeconds: Int, _ accept: (MQTTMessage) -> Bool) throws -> MQTTMessage? {
        let deadline = Clock.monotonicMs() + Int64(timeoutSeconds) * 1000
        var found: MQTTMessage?
        loop.run(untilMs: deadline) {
            if found == nil, let index = backlog.firstIndex(where: { topics.contains($0.topic) && accept($0) }) {
                found = backlog.remove(at: index)
            }
            return found != nil || refusedSubscription != nil
        }
        if found == nil, let refusedSubscription { throw Failure(refusedSubscription) }
        return found
    }

    func publish(_ topic: String, _ payload: [UInt8], retain: Bool) throws {
        try client.publish(topic: topic, payload: payload, qos: 1, retain: retain)
    }
}

/// Says why on standard error; the exit code for "cannot connect to the broker".
func cannotConnect(_ message: String) -> ExitCode {
    printError("edgectl: \(message)")
    return ExitCode(2)
}

/// Says why on standard error; the exit code for "connected, but no answer in time".
func noAnswer(_ message: String) -> ExitCode {
    printError("edgectl: \(message)")
    return ExitCode(3)
}

func printError(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
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
