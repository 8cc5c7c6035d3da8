#if canImport(Glibc)
import Glibc
#endif
import CMosquitto
import EdgeCore
import EdgePOSIX

/// The libmosquitto handle, destroyed when its last owner lets go: the client, or a connect
/// attempt that was still running on its thread when the client was stopped.
final class MosquittoHandle: @unchecked Sendable {
    // Unchecked: one thread at a time uses it. The loop's thread hands it to a connect attempt
    // and takes it back through an Inbox, whose lock orders the two threads' accesses.
    let raw: OpaquePointer

    init(_ raw: OpaquePointer) { self.raw = raw }

    deinit {
        mosquitto_user_data_set(raw, nil)
        mosquitto_destroy(raw)
    }
}

/// How a connect attempt ended, described on its own thread (errno is per thread).
struct ConnectResult: Sendable {
    var rc: Int32
    /// Why it failed; nil when it did not.
    var failure: ConnectionFailure?
}

/// One blocking connect on a thread of its own: the DNS lookup and the TCP connect block
/// (seconds, to a broker that is unreachable or a resolver that is down), so the loop keeps
/// serving while they take. The TLS handshake only starts here: libmosquitto's socket is
/// non-blocking by then, and the loop finishes the handshake with loop_read. The thread has the
/// handle to itself until it posts its result.
enum MQTTConnector {
    struct Attempt: Sendable {
        var handle: MosquittoHandle
        var host: String
        var port: Int32
        var keepAliveSeconds: Int32
        /// MQTT 5 only: how long the broker keeps the session after the connection ends.
        var sessionExpirySeconds: UInt32?
        var done: Inbox<ConnectResult>
    }

    private final class Job {
        let attempt: Attempt
        init(_ attempt: Attempt) { self.attempt = attempt }
    }

    /// Starts the attempt; the error pthread_create returned if no thread could be made (then
    /// nothing is posted), else nil.
    static func start(_ attempt: Attempt) -> Errno? {
        let job = Unmanaged.passRetained(Job(attempt))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            let attempt = Unmanaged<Job>.fromOpaque(argument!).takeRetainedValue().attempt
            attempt.done.post(MQTTConnector.connect(attempt))
            return nil
        }, job.toOpaque())
        guard rc == 0 else {
            job.release()
            // pthread_create returns its error; it does not set errno.
            return Errno(rawValue: rc)
        }
        pthread_detach(thread)
        return nil
    }

    /// How long a TCP handshake may take before the attempt is given up (and made again after
    /// the backoff). libmosquitto's own connect has no limit: across a silent partition it waits
    /// out the kernel's SYN retries (over two minutes), so a broker back meanwhile would not be
    /// seen until then.
    static let handshakeTimeoutMs: Int32 = 2000

    private static func connect(_ attempt: Attempt) -> ConnectResult {
        if let failure = unanswered(attempt.host, attempt.port, timeoutMs: handshakeTimeoutMs) {
            return ConnectResult(rc: MOSQ_ERR_ERRNO.rawValue, failure: failure)
        }
        var properties: OpaquePointer? = nil
        defer { if properties != nil { mosquitto_property_free_all(&properties) } }
        if let expiry = attempt.sessionExpirySeconds {
            _ = mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), expiry)
        }
        let rc = mosquitto_connect_bind_v5(attempt.handle.raw, attempt.host, attempt.port, attempt.keepAliveSeconds,
                                           nil, properties)
        return ConnectResult(rc: rc, failure: failure(rc))
    }

    /// What a failed connect call means; errno (and getaddrinfo's code, which libmosquitto puts
    /// there) is this thread's.
    private static func failure(_ rc: Int32) -> ConnectionFailure? {
        switch rc {
        case MOSQ_ERR_SUCCESS.rawValue: return nil
        case MOSQ_ERR_EAI.rawValue: return .nameLookup(String(cString: gai_strerror(errno)))
        case MOSQ_ERR_TLS.rawValue, MOSQ_ERR_TLS_HANDSHAKE.rawValue: return .tls(MQTTClient.describe(rc))
        case MOSQ_ERR_ERRNO.rawValue: return .unreachable(MQTTClient.describe(rc))
        default: return .other(MQTTClient.describe(rc))
        }
    }

    /// Whether the broker answers a TCP handshake within `timeoutMs`: nil when one of its
    /// addresses does, else why not (the name that cannot be looked up, the refusal, the silence).
    private static func unanswered(_ host: String, _ port: Int32, timeoutMs: Int32) -> ConnectionFailure? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let lookup = getaddrinfo(host, String(port), &hints, &found)
        guard lookup == 0, let first = found else {
            return .nameLookup("\(host): \(String(cString: gai_strerror(lookup)))")
        }
        defer { freeaddrinfo(first) }
        var problem = "no answer from \(host):\(port) within \(timeoutMs) ms (the network is down, or it drops packets to the broker)"
        var current: UnsafeMutablePointer<addrinfo>? = first
        while let address = current {
            current = address.pointee.ai_next
            let fd = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            if Glibc.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 { return nil }
            guard errno == EINPROGRESS else {
                problem = String(cString: strerror(errno))
                continue
            }
            var watched = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&watched, 1, timeoutMs) == 1 else { continue }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 { return nil }
            problem = String(cString: strerror(error))
        }
        return .unreachable(problem)
    }
}
