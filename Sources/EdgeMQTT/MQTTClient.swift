#if canImport(Glibc)
import Glibc
#endif
import CMosquitto
import CEdgeSpawn
import EdgePOSIX
import Synchronization

/// An MQTT client over libmosquitto. Its network loop runs on a thread of its own, which
/// connects, reconnects with capped exponential backoff and jitter, and posts every event to
/// `events`; publish and subscribe may be called from any thread (libmosquitto locks).
public final class MQTTClient: Sendable {
    public let settings: MQTTSettings
    public let events: Inbox<MQTTEvent>
    // The handle is used from the loop thread and the owner's thread; libmosquitto serialises
    // access itself once mosquitto_threaded_set is on.
    nonisolated(unsafe) private let handle: OpaquePointer
    private let state = Mutex(LoopState())
    private let wake: Int32

    struct LoopState {
        var stopping = false
        var running = false
        var thread: pthread_t?
        var failures = 0
        var useV5 = true
        var connected = false
        var loopFinished = false
    }

    private static let library: Void = { mosquitto_lib_init() }()

    public init(settings: MQTTSettings, events: Inbox<MQTTEvent>) throws(MQTTError) {
        _ = MQTTClient.library
        self.settings = settings
        self.events = events
        var fds: [Int32] = [0, 0]
        guard edge_pipe_cloexec(&fds) == 0 else { throw MQTTError("cannot create the MQTT wake pipe") }
        wake = fds[1]
        wakeRead = fds[0]
        guard let created = mosquitto_new(settings.clientId, !settings.persistentSession, nil) else {
            throw MQTTError("cannot create an MQTT client: \(String(cString: strerror(errno)))")
        }
        handle = created
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_threaded_set(handle, true)
        mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5)
        // Small request/response messages must not wait for Nagle's algorithm and delayed ACKs.
        mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1)
        mosquitto_connect_v5_callback_set(handle, onConnect)
        mosquitto_disconnect_v5_callback_set(handle, onDisconnect)
        mosquitto_message_v5_callback_set(handle, onMessage)
        mosquitto_publish_v5_callback_set(handle, onPublish)
        if let tls = settings.tls {
            for (what, path) in [("CA", tls.caFile), ("certificate", tls.certFile), ("key", tls.keyFile)] {
                if let path, access(path, R_OK) != 0 {
                    throw MQTTError("cannot read the TLS \(what) file \(path): \(String(cString: strerror(errno)))")
                }
            }
            let rc = mosquitto_tls_set(handle, tls.caFile, nil, tls.certFile, tls.keyFile, nil)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else {
                throw MQTTError("TLS set-up failed (\(MQTTClient.describe(rc))): check that the CA, certificate and key files are PEM and that the key matches the certificate")
            }
            mosquitto_tls_opts_set(handle, 1, "tlsv1.2", nil)
        }
        if let will = settings.will {
            let rc = will.payload.withUnsafeBytes {
                mosquitto_will_set_v5(handle, will.topic, Int32($0.count), $0.baseAddress, Int32(will.qos), will.retain, nil)
            }
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError("cannot set the last will: \(MQTTClient.describe(rc))") }
        }
    }

    private let wakeRead: Int32

    deinit {
        mosquitto_destroy(handle)
        close(wake)
        close(wakeRead)
    }

    /// Starts the loop thread, which connects and stays connected until `stop`.
    public func start() {
        let unmanaged = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            let client = Unmanaged<MQTTClient>.fromOpaque(argument!).takeRetainedValue()
            client.runLoop()
            return nil
        }, unmanaged.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        state.withLock {
            $0.thread = thread
            $0.running = true
        }
    }

    /// Disconnects cleanly (so the broker does not send the last will) and joins the loop thread.
    public func stop() {
        let thread: pthread_t? = state.withLock {
            $0.stopping = true
            return $0.running ? $0.thread : nil
        }
        mosquitto_disconnect_v5(handle, 0, nil)
        var one: UInt8 = 1
        _ = write(wake, &one, 1)
        guard let thread else { return }
        // The loop thread may sit in a blocking connect to an unreachable broker: wait a little, then leave it.
        let deadline = Clock.monotonicMs() + 3000
        while state.withLock({ !$0.loopFinished }) && Clock.monotonicMs() < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        if state.withLock({ $0.loopFinished }) {
            pthread_join(thread, nil)
        } else {
            pthread_detach(thread)
        }
        state.withLock { $0.running = false }
    }

    /// Publishes; returns the message id. Fails when the client is offline and the message is
    /// QoS 0, or when libmosquitto refuses it (the error says why).
    @discardableResult
    public func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool,
                        correlationData: [UInt8]? = nil) throws(MQTTError) -> Int32 {
        var messageId: Int32 = 0
        var properties: OpaquePointer? = nil
        defer { if properties != nil { mosquitto_property_free_all(&properties) } }
        if let correlationData, state.withLock({ $0.useV5 }) {
            correlationData.withUnsafeBytes {
                _ = mosquitto_property_add_binary(&properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), $0.baseAddress, UInt16(min($0.count, 65535)))
            }
        }
        let rc = payload.withUnsafeBytes {
            mosquitto_publish_v5(handle, &messageId, topic, Int32($0.count), $0.baseAddress, Int32(qos), retain, properties)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError("publish to \(topic) failed: \(MQTTClient.describe(rc))", isOffline: rc == MOSQ_ERR_NO_CONN.rawValue)
        }
        return messageId
    }

    public func subscribe(_ filter: String, qos: Int) throws(MQTTError) {
        let rc = mosquitto_subscribe_v5(handle, nil, filter, Int32(qos), 0, nil)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError("subscribe to \(filter) failed: \(MQTTClient.describe(rc))") }
    }

    public func unsubscribe(_ filter: String) throws(MQTTError) {
        let rc = mosquitto_unsubscribe_v5(handle, nil, filter, nil)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError("unsubscribe from \(filter) failed: \(MQTTClient.describe(rc))") }
    }

    static func describe(_ rc: Int32) -> String {
        if rc == MOSQ_ERR_ERRNO.rawValue { return String(cString: strerror(errno)) }
        return String(cString: mosquitto_strerror(rc))
    }

    // MARK: The loop thread

    private func runLoop() {
        var needConnect = true
        while !state.withLock({ $0.stopping }) {
            if needConnect {
                let rc = connectOnce()
                if rc != MOSQ_ERR_SUCCESS.rawValue {
                    events.post(.connectionFailed(reason: "cannot reach \(settings.host):\(settings.port): \(MQTTClient.describe(rc))"))
                    pause()
                    continue
                }
                needConnect = false
            }
            let rc = mosquitto_loop(handle, 1000, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                if state.withLock({ $0.stopping }) { break }
                let wasConnected = state.withLock {
                    let was = $0.connected
                    $0.connected = false
                    return was
                }
                if wasConnected {
                    events.post(.disconnected(reason: MQTTClient.describe(rc)))
                } else {
                    events.post(.connectionFailed(reason: "the connection to \(settings.host):\(settings.port) closed before the broker accepted it (\(MQTTClient.describe(rc))): with TLS, check the CA, the client certificate and the broker's require_certificate"))
                }
                needConnect = true
                pause()
            }
        }
        // Let a clean DISCONNECT go out before the thread ends.
        for _ in 0..<10 where mosquitto_want_write(handle) {
            _ = mosquitto_loop(handle, 50, 1)
        }
        state.withLock { $0.loopFinished = true }
    }

    private func connectOnce() -> Int32 {
        var properties: OpaquePointer? = nil
        defer { if properties != nil { mosquitto_property_free_all(&properties) } }
        let useV5 = state.withLock { $0.useV5 }
        mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, useV5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311)
        if useV5 && settings.persistentSession {
            _ = mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), settings.sessionExpirySeconds)
        }
        return mosquitto_connect_bind_v5(handle, settings.host, Int32(settings.port), Int32(settings.keepAliveSeconds), nil, properties)
    }

    /// Waits before the next attempt: exponential from reconnectMinMs, capped, with full jitter
    /// in its upper half so a fleet does not reconnect in lockstep. `stop` cuts it short.
    private func pause() {
        let failures = state.withLock {
            $0.failures += 1
            return $0.failures
        }
        let ceiling = min(settings.reconnectMaxMs, settings.reconnectMinMs << min(failures - 1, 16))
        let delay = ceiling / 2 + Int.random(in: 0...max(ceiling / 2, 1))
        var descriptor = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(delay))
    }

    // MARK: Callbacks, on the loop thread: copy what they need and post it.

    fileprivate func connected(rc: Int32, flags: Int32) {
        if rc == 0 {
            let version = state.withLock {
                $0.failures = 0
                $0.connected = true
                return $0.useV5 ? 5 : 4
            }
            events.post(.connected(sessionPresent: flags & 1 != 0, protocolVersion: version))
        } else if rc == Int32(MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION.rawValue) || rc == Int32(CONNACK_REFUSED_PROTOCOL_VERSION.rawValue) {
            state.withLock { $0.useV5 = false }
            events.post(.connectionFailed(reason: "the broker does not speak MQTT 5; falling back to MQTT 3.1.1"))
        } else {
            events.post(.connectionFailed(reason: "the broker refused the connection: \(String(cString: mosquitto_reason_string(rc)))"))
        }
    }

    fileprivate func disconnected(rc: Int32) {
        let wasConnected = state.withLock {
            let was = $0.connected
            $0.connected = false
            return was
        }
        if wasConnected { events.post(.disconnected(reason: rc == 0 ? "disconnected" : MQTTClient.describe(rc))) }
    }

    fileprivate func received(_ message: UnsafePointer<mosquitto_message>, _ properties: OpaquePointer?) {
        let raw = message.pointee
        let topic = String(cString: raw.topic)
        let payload: [UInt8] = raw.payloadlen > 0 && raw.payload != nil
            ? Array(UnsafeRawBufferPointer(start: raw.payload, count: Int(raw.payloadlen))) : []
        var responseTopic: String?
        var correlation: [UInt8]?
        if properties != nil {
            var text: UnsafeMutablePointer<CChar>?
            if mosquitto_property_read_string(properties, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), &text, false) != nil, let text {
                responseTopic = String(cString: text)
                free(text)
            }
            var data: UnsafeMutableRawPointer?
            var length: UInt16 = 0
            if mosquitto_property_read_binary(properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), &data, &length, false) != nil, let data {
                correlation = Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
                free(data)
            }
        }
        events.post(.message(MQTTMessage(topic: topic, payload: payload, qos: Int(raw.qos), retain: raw.retain,
                                         responseTopic: responseTopic, correlationData: correlation)))
    }

    fileprivate func published(messageId: Int32) {
        events.post(.acknowledged(messageId: messageId))
    }
}

private func client(_ userData: UnsafeMutableRawPointer?) -> MQTTClient {
    Unmanaged<MQTTClient>.fromOpaque(userData!).takeUnretainedValue()
}

private let onConnect: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, OpaquePointer?) -> Void = {
    _, userData, rc, flags, _ in client(userData).connected(rc: rc, flags: flags)
}

private let onDisconnect: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, OpaquePointer?) -> Void = {
    _, userData, rc, _ in client(userData).disconnected(rc: rc)
}

private let onMessage: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafePointer<mosquitto_message>?, OpaquePointer?) -> Void = {
    _, userData, message, properties in
    if let message { client(userData).received(message, properties) }
}

private let onPublish: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, OpaquePointer?) -> Void = {
    _, userData, messageId, _, _ in client(userData).published(messageId: messageId)
}
