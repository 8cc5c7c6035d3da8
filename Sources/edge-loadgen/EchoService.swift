#if canImport(Glibc)
import Glibc
#endif
import EdgeMQTT

/// The broker-only baseline: what an MQTT client that answers each request itself costs, with
/// the same client library as the agent and no function behind it.
struct EchoService {
    let connection: Connection
    let replyTopic: String
    let qos: Int

    /// Echoes until standard input reaches its end (the driver closes it); returns how many.
    func run() throws -> Int {
        var echoed = 0
        var descriptors = [pollfd(fd: connection.events.fd, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)]
        while true {
            guard poll(&descriptors, 2, 1000) >= 0 || errno == EINTR else {
                throw LoadError("poll failed: \(String(cString: strerror(errno)))")
            }
            if descriptors[0].revents != 0 {
                for event in connection.events.drain() {
                    guard case .message(let message) = event, Request.sequence(in: message.payload) != nil else { continue }
                    try connection.client.publish(topic: replyTopic, payload: message.payload, qos: qos, retain: false)
                    echoed += 1
                }
            }
            if descriptors[1].revents != 0 {
                var byte: UInt8 = 0
                if read(STDIN_FILENO, &byte, 1) <= 0 { return echoed }
            }
        }
    }
}
