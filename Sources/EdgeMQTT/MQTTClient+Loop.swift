#if canImport(Glibc)
import Glibc
#endif
import CMosquitto
import EdgeCore
import EdgePOSIX

/// The client on its loop: connect attempts, the socket's reads and writes, keepalive, the
/// backoff between attempts, and handing events to the owner.
extension MQTTClient {
    // MARK: Connect attempts

    func beginAttempt() {
        phase = .connecting
        refusal = nil
        abandoned = nil
        closedReason = nil
        tlsProblem.clear()
        useV5 = plan.protocolLevel == 5
        let endpoint = plan.endpoint
        mosquitto_int_option(raw, MOSQ_OPT_PROTOCOL_VERSION, useV5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311)
        let attempt = MQTTConnector.Attempt(
            handle: handle, host: endpoint.host, port: Int32(endpoint.port), keepAliveSeconds: Int32(settings.keepAliveSeconds),
            sessionExpirySeconds: useV5 && settings.persistentSession ? settings.sessionExpirySeconds : nil, done: attempts)
        if let failure = MQTTConnector.start(attempt) {
            attemptFinished(ConnectResult(rc: MOSQ_ERR_ERRNO.rawValue, failure: .other("cannot start a thread to connect: \(failure)")))
        }
    }

    func attemptFinished(_ result: ConnectResult) {
        guard phase == .connecting else { return }
        // The handle is the loop's again: what was published meanwhile goes to libmosquitto, in
        // order, ahead of anything published from now on. Only QoS 1 is held (refusals were
        // checked then), so libmosquitto keeps each, connected or not.
        let held = heldForConnect
        heldForConnect.removeAll()
        for message in held {
            do {
                try send(topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                         correlationData: message.correlation)
            } catch {
                report(.refused(topic: message.topic, reason: error.description))
            }
        }
        let fd = mosquitto_socket(raw)
        guard result.rc == MOSQ_ERR_SUCCESS.rawValue, fd >= 0 else {
            var failure = result.failure ?? .unreachable("the socket is gone")
            // A handshake that failed on the attempt's thread: its log line says why.
            if case .tls = failure, let problem = tlsProblem.take() { failure = .tls(problem) }
            attemptFailed(failure)
            deliverPending()
            return
        }
        phase = .handshaking
        socketEvents = interest()
        socketWatch = loop.watch(fd, events: socketEvents) { [unowned self] revents in self.socketReady(revents) }
        let waitMs = settings.connackTimeoutMs
        connackTimer = loop.after(waitMs) { [unowned self] in
            self.connackTimer = nil
            guard self.phase == .handshaking else { return }
            self.abandon(because: .noAnswer(waitedMs: waitMs))
        }
        scheduleKeepalive()
        deliverPending()
    }

    /// Reports a failed attempt and arranges the next: at once on the same endpoint when the
    /// plan falls back to MQTT 3.1.1, else on the next endpoint after the backoff.
    func attemptFailed(_ failure: ConnectionFailure) {
        let level = plan.protocolLevel, endpoint = plan.endpoint
        let step = plan.failed(failure, unit: Double.random(in: 0...1))
        report(.connectionFailed(ConnectionAttemptFailure(endpoint: endpoint, protocolLevel: level, failure: failure,
                                                          fallingBack: step.fallingBack)))
        attemptAfter(step.delayMs)
    }

    /// The next attempt, after `delayMs`.
    func attemptAfter(_ delayMs: Int) {
        phase = .waiting
        retryTimer = loop.after(delayMs) { [unowned self] in
            self.retryTimer = nil
            self.beginAttempt()
        }
    }

    /// For `stop`: the attempt's result, if it comes within `milliseconds`.
    func waitForAttempt(milliseconds: Int) -> ConnectResult? {
        let deadline = Clock.monotonicMs() + Int64(milliseconds)
        while true {
            let left = deadline - Clock.monotonicMs()
            guard left > 0 else { return nil }
            do {
                let ready = try Poll.wait(for: Int16(POLLIN), on: attempts.wakeUp.descriptor.rawValue, timeoutMs: Int32(clamping: left))
                if ready != 0 { return attempts.drain().first }
            } catch {
                // ENOMEM, for a moment: look again until the deadline.
                continue
            }
        }
    }

    // MARK: The socket

    func socketReady(_ revents: Int16) {
        let readable = revents & Int16(POLLIN | POLLHUP | POLLERR | POLLNVAL) != 0
        // Until the TLS handshake is done, libmosquitto continues it in loop_read, also when
        // the handshake waits to write.
        if readable { lastHeardMs = Clock.monotonicMs() }
        if readable || (phase == .handshaking && revents & Int16(POLLOUT) != 0) {
            readAvailable()
        }
        if socketWatch != nil && mosquitto_want_write(raw) {
            writePending()
        }
        updateInterest()
    }

    /// Reads packets while they come, up to `readsPerTurn`, each one's events delivered before
    /// the next read: an answer published in the handler goes out at once.
    func readAvailable() {
        for _ in 0..<MQTTClient.readsPerTurn {
            progressed = false
            let rc = mosquitto_loop_read(raw, 1)
            if endedIfClosed(rc) { return }
            if let refusal, phase == .handshaking {
                // Refused, and the broker keeps the connection open: close it.
                abandon(because: refusal)
                return
            }
            deliverPending()
            guard socketWatch != nil, progressed else { return }
        }
    }

    func writePending() {
        let rc = mosquitto_loop_write(raw, 1)
        if endedIfClosed(rc) { return }
        deliverPending()
    }

    /// How often libmosquitto's keepalive is checked: a quarter of the keepalive (at least a
    /// second, its clock's unit). A PINGREQ then leaves at most a quarter late, well inside the
    /// broker's allowance of one and a half keepalives, and an idle agent wakes every few seconds
    /// instead of every second (a fleet of them on one machine adds up).
    var keepaliveCheckMs: Int { max(1000, settings.keepAliveSeconds * 250) }

    func scheduleKeepalive() {
        guard settings.keepAliveSeconds > 0 else { return }
        keepaliveTimer = loop.after(keepaliveCheckMs) { [unowned self] in
            self.keepaliveTimer = nil
            if self.checkSilence() { return }
            let rc = mosquitto_loop_misc(self.raw)
            if !self.endedIfClosed(rc) {
                self.updateInterest()
                self.scheduleKeepalive()
            }
            self.deliverPending()
        }
    }

    /// A link that died without a word (a silent partition: nothing refuses, nothing answers) is
    /// closed once the broker has been silent for one and a half keepalives: libmosquitto sends a
    /// PINGREQ after one keepalive without hearing anything, and alone would wait a second
    /// keepalive for its answer. So a dead link is noticed within 1.5 to 1.75 keepalives (this
    /// check runs every quarter), like the broker's own rule for a silent client. True when it closed.
    func checkSilence() -> Bool {
        guard phase == .connected, settings.keepAliveSeconds > 0 else { return false }
        let silentMs = Clock.monotonicMs() - lastHeardMs
        guard silentMs > Int64(settings.keepAliveSeconds) * 1500, mosquitto_socket(raw) >= 0 else { return false }
        silenceReason = "nothing from the broker for \(silentMs / 1000) s (one and a half keepalives of \(settings.keepAliveSeconds) s): the link is dead"
        closeSocket()
        return true
    }

    /// Gives up an attempt that is not getting anywhere (no CONNACK in time, a refusal the broker
    /// did not close after): closes its socket, and the close reports `failure`.
    func abandon(because failure: ConnectionFailure) {
        guard mosquitto_socket(raw) >= 0 else { return }
        abandoned = failure
        closeSocket()
    }

    /// Shuts the socket down and lets libmosquitto find it closed, which ends the connection
    /// through `endedIfClosed` like any other close.
    func closeSocket() {
        shutdown(mosquitto_socket(raw), Int32(SHUT_RDWR))
        let rc = mosquitto_loop_read(raw, 1)
        if !endedIfClosed(rc) {
            // libmosquitto did not see the end yet: the next read will.
            if keepaliveTimer == nil { scheduleKeepalive() }
        }
        deliverPending()
    }

    func interest() -> Int16 {
        Int16(POLLIN) | (mosquitto_want_write(raw) ? Int16(POLLOUT) : 0)
    }

    /// POLLOUT only while libmosquitto has something to write.
    func updateInterest() {
        guard let socketWatch else { return }
        let events = interest()
        if events != socketEvents {
            socketEvents = events
            loop.setEvents(socketWatch, events)
        }
    }

    /// After a call into libmosquitto: if it closed the socket (an error, the broker's
    /// DISCONNECT, a refused CONNACK, a failed TLS handshake, a missed keepalive), reports that
    /// and arranges the next attempt. The TLS failure closes without a disconnect callback,
    /// so the socket itself is what is checked.
    func endedIfClosed(_ rc: Int32) -> Bool {
        guard phase != .stopped else { return true }
        guard mosquitto_socket(raw) < 0 else { return false }
        if let socketWatch { loop.unwatch(socketWatch) }
        socketWatch = nil
        loop.cancel(keepaliveTimer)
        keepaliveTimer = nil
        loop.cancel(connackTimer)
        connackTimer = nil
        let reason = silenceReason ?? closedReason ?? MQTTClient.describe(rc)
        closedReason = nil
        silenceReason = nil
        subscriptionsAwaited.removeAll()
        if phase == .connected {
            report(.disconnected(reason: reason))
            attemptAfter(plan.lost(unit: Double.random(in: 0...1), nowMs: Clock.monotonicMs()))
        } else {
            attemptFailed(refusal ?? abandoned ?? handshakeFailure(rc, reason: reason))
        }
        deliverPending()
        return true
    }

    /// Why a connection closed before the broker's CONNACK: the TLS handshake (with the
    /// verification error when there is one), or the broker closing it.
    func handshakeFailure(_ rc: Int32, reason: String) -> ConnectionFailure {
        if settings.tls != nil {
            if let problem = tlsProblem.take() { return .tls(problem) }
            if rc == MOSQ_ERR_TLS.rawValue || rc == MOSQ_ERR_TLS_HANDSHAKE.rawValue { return .tls(MQTTClient.describe(rc)) }
        }
        return .closedBeforeAnswer(reason)
    }

    /// For `stop`: a DISCONNECT behind whatever is queued, written within two seconds.
    func disconnectCleanly() {
        guard mosquitto_disconnect_v5(raw, 0, nil) == MOSQ_ERR_SUCCESS.rawValue else { return }
        let deadline = Clock.monotonicMs() + 2000
        // Written, the DISCONNECT closes the socket; until then it waits behind other packets.
        while mosquitto_socket(raw) >= 0 && mosquitto_want_write(raw) {
            let left = deadline - Clock.monotonicMs()
            guard left > 0 else { return }
            do {
                _ = try Poll.wait(for: Int16(POLLOUT), on: mosquitto_socket(raw), timeoutMs: Int32(clamping: left))
            } catch {
                // ENOMEM: give up on the clean disconnect; the broker then sees the connection drop.
                return
            }
            if mosquitto_loop_write(raw, 1) != MOSQ_ERR_SUCCESS.rawValue { return }
        }
    }

    // MARK: Events

    func report(_ event: MQTTEvent) {
        pending.append(event)
    }

    /// Hands the events gathered so far to the owner, in order. A handler that causes more
    /// (publishing, say) has them delivered in this same pass; one that stops the client ends it.
    func deliverPending() {
        guard !delivering, !pending.isEmpty else { return }
        delivering = true
        defer { delivering = false }
        var index = 0
        while index < pending.count {
            let event = pending[index]
            index += 1
            handler?(event)
        }
        pending.removeAll(keepingCapacity: true)
    }
}
