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
    /// The MQTT protocol level in use: 5, or 4 (3.1.1, whose PUBACK cannot refuse).
    private(set) var protocolLevel = 5
    /// Filters subscribed with `subscribe`, made again after a reconnect (the session is not kept).
    private var held: [String] = []
    /// Filters the broker confirmed (SUBACK).
    private var confirmed: Set<String> = []
    /// QoS 1 messages the broker acknowledged, and those it refused (MQTT 5: why).
    private var acknowledged: Set<Int32> = []
    private var rejected: [Int32: String] = [:]

    init(_ options: BrokerOptions) throws {
        let connection = try options.settings
        // The pid alone is not unique across containers: two edgectl with one id would knock each other off.
        let clientId = "edgectl-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        var settings = MQTTSettings(clientId: clientId, host: connection.host.value, port: connection.effectivePort, persistentSession: false)
        if let ca = connection.tlsCA.value {
            settings.tls = .init(caFile: ca, certFile: connection.tlsCert.value, keyFile: connection.tlsKey.value)
        }
        settings.protocolSetting = MQTTProtocolSetting(rawValue: connection.mqttProtocol.value) ?? .auto
        let timeout = connection.timeout.value
        settings.connackTimeoutMs = max(1, min(10, timeout)) * 1000
        (settings.username, settings.password) = try Session.credentials(connection)
        client = try MQTTClient(settings: settings, loop: loop)
        client.start { [unowned self] event in self.received(event) }
        let deadline = Clock.monotonicMs() + Int64(timeout) * 1000
        guard loop.run(untilMs: deadline, done: { connected || failure != nil }), connected else {
            client.stop()
            throw cannotConnect(failure ?? "cannot connect to \(client.endpoint) within \(timeout) s: \(lastProblem)")
        }
    }

    /// The user name and password: the settings', else `$EDGE_BROKER_PASSWORD`.
    static func credentials(_ connection: ConnectionSettings) throws -> (String?, String?) {
        var password: String?
        if let path = connection.passwordFile.value {
            let what = connection.passwordFile.source
            let bytes: [UInt8]
            do { bytes = try Files.read(path, maxBytes: PasswordFile.maxBytes) } catch { throw ValidationError("\(what): cannot read \(path): \(error.reason)") }
            password = PasswordFile.password(from: bytes)
            guard password != nil else { throw ValidationError("\(what): \(path) is empty: its first line must be the password") }
        } else {
            password = ConnectionSettings.environment("EDGE_BROKER_PASSWORD")
        }
        let username = connection.username.value
        if password != nil && username == nil {
            throw ValidationError("a password needs a user name: --username NAME (or EDGECTL_USERNAME, or the profile's username)")
        }
        return (username, password)
    }

    func close() { client.stop() }

    private func received(_ event: MQTTEvent) {
        switch event {
        case .connected(_, let version, _):
            // The client reconnects by itself (a long `things --watch`): the new session needs the subscriptions again.
            if connected {
                for filter in held {
                    confirmed.remove(filter)
                    do {
                        try client.subscribe(filter, qos: 1)
                    } catch {
                        printError("edgectl: cannot subscribe again to \(filter) after a reconnect: \(error.description)")
                    }
                }
            }
            connected = true
            protocolLevel = version
        case .connectionFailed(let attempt):
            lastProblem = attempt.description
            // One failed attempt is the answer (a refused or unreachable broker does not come
            // back while the operator waits); a fall-back to MQTT 3.1.1 is still under way.
            if !attempt.fallingBack { failure = attempt.description }
        case .disconnected(let reason): lastProblem = reason
        case .message(let message): backlog.append(message)
        case .subscriptionRefused(let filter, let reason): refusedSubscription = "the broker refused the subscription to \(filter): \(reason)"
        case .subscribed(let filter): confirmed.insert(filter)
        case .acknowledged(let id): acknowledged.insert(id)
        case .rejectedByBroker(let id, let reason): rejected[id] = reason
        case .refused: break
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

    /// Subscribes to `filter` and waits for the broker's SUBACK: the retained messages come right after it.
    func subscribe(_ filter: String, timeoutSeconds: Int) throws {
        // A SUBACK of an earlier subscription to it answers nothing now.
        confirmed.remove(filter)
        try client.subscribe(filter, qos: 1)
        if !held.contains(filter) { held.append(filter) }
        let deadline = Clock.monotonicMs() + Int64(timeoutSeconds) * 1000
        loop.run(untilMs: deadline) { confirmed.contains(filter) || refusedSubscription != nil }
        if let refusedSubscription { throw Failure(refusedSubscription) }
        guard confirmed.contains(filter) else { throw noAnswer("the broker did not confirm the subscription to \(filter) within \(timeoutSeconds) s") }
    }

    /// The messages on topics `filter` matches that have come, and those that come until none
    /// did for `quietMs` (at most until `deadlineMs`), oldest first.
    func gather(_ filter: TopicFilter, quietMs: Int64, deadlineMs: Int64) -> [MQTTMessage] {
        var got: [MQTTMessage] = []
        var quietUntil = Clock.monotonicMs() + quietMs
        while true {
            let until = min(deadlineMs, quietUntil)
            loop.run(untilMs: until) { backlog.contains { filter.matches($0.topic) } }
            let matching = backlog.filter { filter.matches($0.topic) }
            if !matching.isEmpty {
                backlog.removeAll { filter.matches($0.topic) }
                got += matching
                quietUntil = Clock.monotonicMs() + quietMs
                continue
            }
            if Clock.monotonicMs() >= until { return got }
        }
    }

    /// The next messages on topics `filter` matches, waiting for the first as long as it takes.
    func next(_ filter: TopicFilter) -> [MQTTMessage] {
        loop.run(untilMs: Int64.max / 2) { backlog.contains { filter.matches($0.topic) } }
        let matching = backlog.filter { filter.matches($0.topic) }
        backlog.removeAll { filter.matches($0.topic) }
        return matching
    }

    /// Publishes with QoS 1 and waits for the broker to take it: a refusal (an MQTT 5 PUBACK
    /// reason code, an ACL) fails with the broker's reason, and no PUBACK in time says so.
    func publishConfirmed(_ topic: String, _ payload: [UInt8], retain: Bool, timeoutSeconds: Int) throws {
        guard case .sent(let id) = try client.publish(topic: topic, payload: payload, qos: 1, retain: retain) else {
            throw cannotConnect("the connection to the broker was lost before the publish to \(topic)")
        }
        let deadline = Clock.monotonicMs() + Int64(timeoutSeconds) * 1000
        loop.run(untilMs: deadline) { acknowledged.contains(id) || rejected[id] != nil }
        if let reason = rejected[id] {
            throw Failure("the broker refused the publish to \(topic): \(reason); check that these credentials may publish there "
                          + "(the operator's certificate or user, not a device's)")
        }
        guard acknowledged.contains(id) else {
            throw noAnswer("the broker did not acknowledge the publish to \(topic) within \(timeoutSeconds) s; it may refuse it "
                           + "without saying (MQTT 3.1.1): check these credentials' ACL")
        }
    }

    /// The message retained on `topic` (nil when there is none), read by subscribing to it.
    func retainedMessage(_ topic: String, timeoutSeconds: Int) throws -> MQTTMessage? {
        try subscribe(topic, timeoutSeconds: timeoutSeconds)
        let got = gather(TopicFilter(topic)!, quietMs: 300, deadlineMs: Clock.monotonicMs() + Int64(timeoutSeconds) * 1000)
        try client.unsubscribe(topic)
        held.removeAll { $0 == topic }
        confirmed.remove(topic)
        return got.last { $0.retain && !$0.payload.isEmpty }
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
