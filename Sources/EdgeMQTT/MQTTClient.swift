#if canImport(Glibc)
import Glibc
#endif
import CMosquitto
import EdgeCore
import EdgePOSIX

/// An MQTT client over libmosquitto, driven by an `EventLoop`: the loop's poll(2) watches its
/// socket, libmosquitto reads, writes and keeps alive on the loop's thread, and every event
/// reaches the owner's handler there, synchronously, once libmosquitto has returned (never from
/// inside one of its callbacks, so the handler may publish, subscribe or stop). A message coming
/// in and a publish going out cross no thread. Only the blocking connect (DNS, TCP) runs on a
/// thread of its own (`MQTTConnector`). It reconnects with capped exponential backoff and jitter,
/// speaks MQTT 5 and falls back to 3.1.1, and keeps QoS 1 messages while offline. Use it from the
/// loop's thread only.
public final class MQTTClient {
    public let settings: MQTTSettings
    let loop: EventLoop
    let handle: MosquittoHandle
    var raw: OpaquePointer { handle.raw }
    /// Where connect attempts post how they ended.
    let attempts: Inbox<ConnectResult>
    var handler: ((MQTTEvent) -> Void)?

    enum Phase {
        /// Not started yet.
        case idle
        /// A connect attempt has the handle, on its thread.
        case connecting
        /// The socket is up and watched; the TLS handshake and CONNACK are awaited.
        case handshaking
        case connected
        /// Between attempts: the backoff timer runs.
        case waiting
        case stopped
    }

    var phase = Phase.idle
    /// Which endpoint and protocol the next attempt uses, and the wait after a failure.
    var plan: ConnectionPlan
    /// Whether the current (or last) attempt speaks MQTT 5.
    var useV5 = true
    /// Set while a CONNECT waits for its CONNACK: the attempt is given up when it fires.
    var connackTimer: EventLoop.Token?
    /// Why a TLS handshake failed, from libmosquitto's log callback (which may run on a connect
    /// attempt's thread too, hence the lock).
    let tlsProblem = TLSProblem()
    var attemptsWatch: EventLoop.Token?
    var socketWatch: EventLoop.Token?
    var socketEvents: Int16 = 0
    var keepaliveTimer: EventLoop.Token?
    var retryTimer: EventLoop.Token?
    /// QoS 1 messages published while an attempt has the handle, given to it when it is back.
    var heldForConnect: [OutboundMessage] = []
    /// Events from libmosquitto's callbacks, handed to `handler` once it has returned.
    var pending: [MQTTEvent] = []
    var delivering = false
    /// Set by every callback: a read that set it may be followed by another in the same turn.
    var progressed = false
    /// Why libmosquitto closed the socket, from its disconnect callback.
    var closedReason: String?
    /// When the socket was last readable: anything from the broker, a PINGRESP included.
    var lastHeardMs: Int64 = 0
    /// Set when the client closed a connection that went silent (`checkSilence`).
    var silenceReason: String?
    /// The broker's CONNACK refused this attempt: the close that follows reports it.
    var refusal: ConnectionFailure?
    /// Why the client gave up this attempt (no CONNACK in time): the close reports it.
    var abandoned: ConnectionFailure?
    /// Subscriptions sent and not yet answered, by message id: a SUBACK that refuses one names it.
    var subscriptionsAwaited: [Int32: String] = [:]
    /// Set while a QoS 0 message is being published: its "written" callback is not an event.
    var muteWriteNotices = false

    /// Socket reads in one turn of the loop before others get theirs. libmosquitto reads one
    /// packet per call without QoS 1 traffic in flight, and a call that finds nothing costs a
    /// read(2), so reading on while packets come saves a poll(2) for each of them.
    static let readsPerTurn = 64

    private static let library: Void = {
        mosquitto_lib_init()
        // libmosquitto writes to its socket with write(2): a broker gone away must be an error, not SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
    }()

    /// Sets up the client (TLS files, the last will); nothing is connected before `start`.
    public init(settings: MQTTSettings, loop: EventLoop) throws(MQTTError) {
        _ = MQTTClient.library
        self.settings = settings
        self.loop = loop
        do {
            attempts = try Inbox<ConnectResult>()
        } catch {
            throw MQTTError("cannot create the MQTT client's event source: \(error)")
        }
        guard let created = mosquitto_new(settings.clientId, !settings.persistentSession, nil) else {
            throw MQTTError("cannot create an MQTT client: \(String(cString: strerror(errno)))")
        }
        handle = MosquittoHandle(created)
        plan = ConnectionPlan(endpoints: settings.endpoints, setting: settings.protocolSetting, backoff: settings.reconnect)
        mosquitto_user_data_set(created, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_int_option(created, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5)
        // Small request/response messages must not wait for Nagle's algorithm and delayed ACKs.
        mosquitto_int_option(created, MOSQ_OPT_TCP_NODELAY, 1)
        MQTTCallbacks.install(on: created)
        TLSProblem.register(tlsProblem, for: created)
        if let tls = settings.tls {
            for (what, path) in [("CA", tls.caFile), ("certificate", tls.certFile), ("key", tls.keyFile)] {
                guard let path else { continue }
                do {
                    try Files.checkAccess(path, R_OK)
                } catch {
                    throw MQTTError("cannot read the TLS \(what) file \(path): \(error.reason)")
                }
            }
            let rc = mosquitto_tls_set(created, tls.caFile, nil, tls.certFile, tls.keyFile, nil)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else {
                throw MQTTError("TLS set-up failed (\(MQTTClient.describe(rc))): check that the CA, certificate and key files are PEM and that the key matches the certificate")
            }
            mosquitto_tls_opts_set(created, 1, "tlsv1.2", nil)
        }
        if settings.username != nil || settings.password != nil {
            let rc = mosquitto_username_pw_set(created, settings.username, settings.password)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError("cannot set the broker credentials: \(MQTTClient.describe(rc))") }
        }
        if let will = settings.will {
            let rc = will.payload.withUnsafeBytes {
                mosquitto_will_set_v5(created, will.topic, Int32($0.count), $0.baseAddress, Int32(will.qos), will.retain, nil)
            }
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError("cannot set the last will: \(MQTTClient.describe(rc))") }
        }
    }

    deinit {
        TLSProblem.forget(raw)
        for token in [attemptsWatch, socketWatch].compactMap({ $0 }) { loop.unwatch(token) }
        loop.cancel(keepaliveTimer)
        loop.cancel(retryTimer)
        loop.cancel(connackTimer)
    }

    /// True between the broker's CONNACK and the end of that connection.
    public var isConnected: Bool { phase == .connected }

    /// The endpoint of the current connection or attempt (or the next one, between attempts).
    /// Seconds until the broker's certificate expires (negative once it has), on a connected TLS
    /// session; nil without one.
    public var brokerCertificateSecondsLeft: Int? {
        let left = edge_mosquitto_peer_seconds_left(handle.raw)
        return left == Int.min ? nil : left
    }

    public var endpoint: BrokerEndpoint { plan.endpoint }

    /// Connects, and stays connected until `stop`; `handler` gets every event on the loop's thread.
    public func start(_ handler: @escaping (MQTTEvent) -> Void) {
        precondition(phase == .idle, "MQTTClient.start: started already")
        self.handler = handler
        attemptsWatch = loop.watch(attempts.wakeUp.descriptor.rawValue) { [unowned self] _ in
            for result in self.attempts.drain() { self.attemptFinished(result) }
        }
        beginAttempt()
    }

    /// Disconnects cleanly (a DISCONNECT, so the broker does not send the last will), waiting up
    /// to two seconds for what is queued before it to be written. A connect attempt in progress is
    /// given three seconds to end, then left to its thread. No event is delivered after this.
    public func stop() {
        switch phase {
        case .stopped:
            return
        case .idle, .waiting:
            break
        case .connecting:
            if let result = waitForAttempt(milliseconds: 3000), result.rc == MOSQ_ERR_SUCCESS.rawValue {
                disconnectCleanly()
            }
        case .handshaking, .connected:
            disconnectCleanly()
        }
        phase = .stopped
        for token in [attemptsWatch, socketWatch].compactMap({ $0 }) { loop.unwatch(token) }
        attemptsWatch = nil
        socketWatch = nil
        loop.cancel(keepaliveTimer)
        loop.cancel(retryTimer)
        loop.cancel(connackTimer)
        keepaliveTimer = nil
        retryTimer = nil
        connackTimer = nil
        heldForConnect.removeAll()
        pending.removeAll()
    }

    /// Publishes `message`: see `publish(topic:payload:qos:retain:correlationData:)`.
    @discardableResult
    public func publish(_ message: OutboundMessage) throws(MQTTError) -> MQTTPublication {
        try publish(topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                    correlationData: message.correlation)
    }

    /// Publishes, writing at once when the socket takes it. Offline, a QoS 1 message is `.kept`
    /// and a QoS 0 message fails with `isOffline` (the caller may hold it and try again after
    /// `.connected`); a message libmosquitto will never send (a bad topic, too large) fails
    /// without `isOffline`, and the error says why.
    @discardableResult
    public func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool,
                        correlationData: [UInt8]? = nil) throws(MQTTError) -> MQTTPublication {
        switch phase {
        case .connected:
            break
        case .stopped:
            throw MQTTError("publish to \(topic) failed: the MQTT client is stopped", isOffline: true)
        case .connecting:
            guard qos > 0 else { throw MQTTError("publish to \(topic) failed: not connected", isOffline: true) }
            if let problem = MQTTClient.refusal(topic: topic, payloadBytes: payload.count) {
                throw MQTTError("publish to \(topic) failed: \(problem)")
            }
            heldForConnect.append(OutboundMessage(topic: topic, payload: payload, qos: qos, retain: retain,
                                                  correlation: correlationData))
            return .kept
        case .idle, .waiting, .handshaking:
            guard qos > 0 else { throw MQTTError("publish to \(topic) failed: not connected", isOffline: true) }
        }
        return try send(topic: topic, payload: payload, qos: qos, retain: retain, correlationData: correlationData)
    }

    @discardableResult
    func send(topic: String, payload: [UInt8], qos: Int, retain: Bool, correlationData: [UInt8]?) throws(MQTTError) -> MQTTPublication {
        var messageId: Int32 = 0
        var properties: OpaquePointer? = nil
        defer { if properties != nil { mosquitto_property_free_all(&properties) } }
        if let correlationData, useV5 {
            correlationData.withUnsafeBytes {
                _ = mosquitto_property_add_binary(&properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), $0.baseAddress, UInt16(min($0.count, 65535)))
            }
        }
        muteWriteNotices = qos == 0
        let rc = payload.withUnsafeBytes {
            mosquitto_publish_v5(raw, &messageId, topic, Int32($0.count), $0.baseAddress, Int32(qos), retain, properties)
        }
        muteWriteNotices = false
        updateInterest()
        if rc == MOSQ_ERR_SUCCESS.rawValue { return .sent(messageId: messageId) }
        if MQTTClient.isConnectionTrouble(rc) {
            // A QoS 1 message is in libmosquitto's queue before it is written: it stays there,
            // under its id, and is sent again after the next connect.
            if qos > 0 { return messageId != 0 ? .sent(messageId: messageId) : .kept }
            throw MQTTError("publish to \(topic) failed: \(MQTTClient.describe(rc))", isOffline: true)
        }
        throw MQTTError("publish to \(topic) failed: \(MQTTClient.describe(rc))")
    }

    /// Subscribes. `retainAsPublished` (MQTT 5 only; ignored on 3.1.1): a message published with
    /// the retain flag arrives with it even while subscribed, so a retained message can be told
    /// from a plain one.
    public func subscribe(_ filter: String, qos: Int, retainAsPublished: Bool = false) throws(MQTTError) {
        guard phase != .connecting && phase != .stopped else {
            throw MQTTError("subscribe to \(filter) failed: not connected", isOffline: true)
        }
        let options = retainAsPublished && useV5 ? Int32(MQTT_SUB_OPT_RETAIN_AS_PUBLISHED.rawValue) : 0
        var messageId: Int32 = 0
        let rc = mosquitto_subscribe_v5(raw, &messageId, filter, Int32(qos), options, nil)
        if rc == MOSQ_ERR_SUCCESS.rawValue { subscriptionsAwaited[messageId] = filter }
        updateInterest()
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError("subscribe to \(filter) failed: \(MQTTClient.describe(rc))", isOffline: MQTTClient.isConnectionTrouble(rc))
        }
    }

    public func unsubscribe(_ filter: String) throws(MQTTError) {
        guard phase != .connecting && phase != .stopped else {
            throw MQTTError("unsubscribe from \(filter) failed: not connected", isOffline: true)
        }
        let rc = mosquitto_unsubscribe_v5(raw, nil, filter, nil)
        updateInterest()
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError("unsubscribe from \(filter) failed: \(MQTTClient.describe(rc))", isOffline: MQTTClient.isConnectionTrouble(rc))
        }
    }

    /// Why libmosquitto would refuse to publish this, checked without the handle.
    static func refusal(topic: String, payloadBytes: Int) -> String? {
        if mosquitto_validate_utf8(topic, Int32(clamping: topic.utf8.count)) != MOSQ_ERR_SUCCESS.rawValue {
            return describe(MOSQ_ERR_MALFORMED_UTF8.rawValue)
        }
        if topic.isEmpty || mosquitto_pub_topic_check(topic) != MOSQ_ERR_SUCCESS.rawValue {
            return describe(MOSQ_ERR_INVAL.rawValue)
        }
        if payloadBytes > Int(MQTT_MAX_PAYLOAD) { return describe(MOSQ_ERR_PAYLOAD_SIZE.rawValue) }
        return nil
    }

    /// The socket is gone or going: the same call may succeed after the next connect.
    static func isConnectionTrouble(_ rc: Int32) -> Bool {
        [MOSQ_ERR_NO_CONN, MOSQ_ERR_CONN_LOST, MOSQ_ERR_ERRNO, MOSQ_ERR_KEEPALIVE].contains { $0.rawValue == rc }
    }

    static func describe(_ rc: Int32) -> String {
        if rc == MOSQ_ERR_ERRNO.rawValue { return String(cString: strerror(errno)) }
        // libmosquitto puts getaddrinfo's code in errno.
        if rc == MOSQ_ERR_EAI.rawValue { return "cannot resolve the host name: \(String(cString: gai_strerror(errno)))" }
        return String(cString: mosquitto_strerror(rc))
    }
}
