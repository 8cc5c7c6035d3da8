#if canImport(Glibc)
import Glibc
#endif
import CMosquitto
import EdgeCore
import EdgePOSIX

/// libmosquitto's callbacks. They run inside its calls on the loop's thread (a connect attempt's
/// thread never triggers one), copy what they need and queue an event; the client hands the
/// events over once libmosquitto has returned, because a handler calling back into it from a
/// callback could deadlock on its callback lock.
enum MQTTCallbacks {
    static func install(on handle: OpaquePointer) {
        mosquitto_connect_v5_callback_set(handle, onConnect)
        mosquitto_disconnect_v5_callback_set(handle, onDisconnect)
        mosquitto_message_v5_callback_set(handle, onMessage)
        mosquitto_publish_v5_callback_set(handle, onPublish)
        mosquitto_subscribe_v5_callback_set(handle, onSubscribe)
        mosquitto_unsubscribe_v5_callback_set(handle, onUnsubscribe)
        mosquitto_log_callback_set(handle, onLog)
    }
}

extension MQTTClient {
    fileprivate func connackReceived(rc: Int32, flags: Int32) {
        progressed = true
        loop.cancel(connackTimer)
        connackTimer = nil
        if rc == 0 {
            plan.connected(nowMs: Clock.monotonicMs())
            phase = .connected
            lastHeardMs = Clock.monotonicMs()
            report(.connected(sessionPresent: flags & 1 != 0, protocolVersion: useV5 ? 5 : 4, endpoint: plan.endpoint))
        } else {
            // Reported when the connection closes (the broker closes it after a refusal; the
            // client does, if it does not).
            refusal = .refused(code: Int(rc))
        }
    }

    fileprivate func disconnectReceived(rc: Int32) {
        progressed = true
        // An MQTT 5 DISCONNECT from the broker carries a reason code (0x80 and up), anything
        // else is one of libmosquitto's errors; errno is the failed call's still.
        if rc == 0 {
            closedReason = "disconnected"
        } else if rc >= 0x80 {
            closedReason = "the broker disconnected: \(String(cString: mosquitto_reason_string(rc)))"
        } else {
            closedReason = MQTTClient.describe(rc)
        }
    }

    fileprivate func messageReceived(_ message: UnsafePointer<mosquitto_message>, _ properties: OpaquePointer?) {
        progressed = true
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
        report(.message(MQTTMessage(topic: topic, payload: payload, qos: Int(raw.qos), retain: raw.retain,
                                    responseTopic: responseTopic, correlationData: correlation)))
    }

    fileprivate func publishAcknowledged(messageId: Int32, reasonCode: Int32) {
        progressed = true
        guard !muteWriteNotices else { return }
        if reasonCode >= 0x80 {
            report(.rejectedByBroker(messageId: messageId, reason: ConnackCode.words(Int(reasonCode))))
        } else {
            report(.acknowledged(messageId: messageId))
        }
    }

    fileprivate func answerReceived() {
        progressed = true
    }

    fileprivate func subscriptionAnswered(messageId: Int32, granted: [Int32]) {
        progressed = true
        guard let filter = subscriptionsAwaited.removeValue(forKey: messageId) else { return }
        if let code = granted.first(where: { $0 >= 0x80 }) {
            report(.subscriptionRefused(filter: filter, reason: ConnackCode.words(Int(code))))
        } else {
            report(.subscribed(filter: filter))
        }
    }
}

/// Any thread (a connect attempt's too): notes a TLS failure in the handle's `TLSProblem`.
private let onLog: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?) -> Void = {
    handle, _, level, text in
    guard level == MOSQ_LOG_ERR, let text, let handle else { return }
    let line = String(cString: text)
    guard line.hasPrefix("OpenSSL Error"), let problem = TLSProblem.of(handle) else { return }
    problem.note(verifyError: edge_mosquitto_verify_error(handle).map { String(cString: $0) }, line: line)
}

private func client(_ userData: UnsafeMutableRawPointer?) -> MQTTClient? {
    userData.map { Unmanaged<MQTTClient>.fromOpaque($0).takeUnretainedValue() }
}

private let onConnect: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, OpaquePointer?) -> Void = {
    _, userData, rc, flags, _ in client(userData)?.connackReceived(rc: rc, flags: flags)
}

private let onDisconnect: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, OpaquePointer?) -> Void = {
    _, userData, rc, _ in client(userData)?.disconnectReceived(rc: rc)
}

private let onMessage: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafePointer<mosquitto_message>?, OpaquePointer?) -> Void = {
    _, userData, message, properties in
    if let message { client(userData)?.messageReceived(message, properties) }
}

private let onPublish: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, OpaquePointer?) -> Void = {
    _, userData, messageId, reasonCode, _ in client(userData)?.publishAcknowledged(messageId: messageId, reasonCode: reasonCode)
}

private let onSubscribe: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, UnsafePointer<Int32>?, OpaquePointer?) -> Void = {
    _, userData, messageId, count, granted, _ in
    let codes = granted.map { Array(UnsafeBufferPointer(start: $0, count: Int(max(count, 0)))) } ?? []
    client(userData)?.subscriptionAnswered(messageId: messageId, granted: codes)
}

private let onUnsubscribe: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, OpaquePointer?) -> Void = {
    _, userData, _, _ in client(userData)?.answerReceived()
}
