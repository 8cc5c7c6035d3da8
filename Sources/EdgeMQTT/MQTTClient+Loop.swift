#if canImport(Glibc)
import Glibc
#endif
import CMosquitto
import EdgePOSIX

/// The client on its loop: connect attempts, the socket's reads and writes, keepalive, the
/// backoff between attempts, and handing events to the owner.
extension MQTTClient {
    // MARK: Connect attempts

    func beginAttempt() {
        phase = .connecting
        refusalReported = false
        closedReason = nil
        mosquitto_int_option(raw, MOSQ_OPT_PROTOCOL_VERSION, useV5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311)
        let attempt = MQTTConnector.Attempt(
            handle: handle, host: settings.host, port: Int32(settings.port), keepAliveSeconds: Int32(settings.keepAliveSeconds),
            sessionExpirySeconds: useV5 && settings.persistentSession ? settings.sessionExpirySeconds : nil, done: attempts)
        if let failure = MQTTConnector.start(attempt) {
            attemptFinished(ConnectResult(rc: MOSQ_ERR_ERRNO.rawValue, reason: "cannot start a thread to connect: \(failure)"))
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
            report(.connectionFailed(reason: "cannot reach \(settings.host):\(settings.port): \(result.reason)"))
            retryLater()
            deliverPending()
            return
        }
        phase = .handshaking
        socketEvents = interest()
        socketWatch = loop.watch(fd, events: socketEvents) { [unowned self] revents in self.socketReady(revents) }
        scheduleKeepalive()
        deliverPending()
    }

    /// The next attempt after a backoff (ReconnectBackoff: exponential, capped, jittered so a
    /// fleet does not reconnect in lockstep).
    func retryLater() {
        phase = .waiting
        failures += 1
        let delay = settings.reconnect.delayMs(afterFailures: failures, unit: Double.random(in: 0...1))
        retryTimer = loop.after(delay) { [unowned self] in
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
        shutdown(mosquitto_socket(raw), Int32(SHUT_RDWR))
        let rc = mosquitto_loop_read(raw, 1)
        if !endedIfClosed(rc) {
            // libmosquitto did not see the end yet: the next read will.
            scheduleKeepalive()
        }
        deliverPending()
        return true
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
        let reason = silenceReason ?? closedReason ?? MQTTClient.describe(rc)
        closedReason = nil
        silenceReason = nil
        if phase == .connected {
            report(.disconnected(reason: reason))
        } else if !refusalReported {
            report(.connectionFailed(reason: "the connection to \(settings.host):\(settings.port) closed before the broker accepted it (\(reason)): with TLS, check the CA, the client certificate and the broker's require_certificate"))
        }
        retryLater()
        deliverPending()
        return true
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
