#if canImport(Glibc)
import Glibc
#endif
import EdgeMQTT
import EdgePOSIX

/// The broker-only baseline: what an MQTT client that answers each request itself costs, with
/// the same client code as the agent (each answer published from the message's handler, on the
/// thread that read it) and no function behind it.
struct EchoService {
    let connection: Connection
    let replyTopic: String
    let qos: Int

    /// Echoes until standard input reaches its end (the driver closes it); returns how many.
    func run() throws -> Int {
        let loop = connection.loop
        var echoed = 0
        var failure: String?
        connection.onMessage = { [connection, replyTopic, qos] message in
            guard Request.sequence(in: message.payload) != nil else { return }
            do {
                try connection.client.publish(topic: replyTopic, payload: message.payload, qos: qos, retain: false)
                echoed += 1
            } catch {
                failure = "\(error)"
                loop.stop()
            }
        }
        let input = loop.watch(STDIN_FILENO) { _ in
            var byte: UInt8 = 0
            do {
                let count = try FileDescriptor.withUnowned(STDIN_FILENO) { (stdin) throws(SystemError) in
                    try withUnsafeMutableBytes(of: &byte) { (buffer) throws(SystemError) in try stdin.read(into: buffer) }
                }
                if count == 0 { loop.stop() }
            } catch {
                // Standard input is unusable (EIO): the driver cannot tell it to stop either.
                loop.stop()
            }
        }
        loop.run()
        loop.unwatch(input)
        connection.onMessage = nil
        if let failure { throw LoadError("cannot echo: \(failure)") }
        return echoed
    }
}
