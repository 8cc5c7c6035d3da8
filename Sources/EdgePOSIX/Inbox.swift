#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CEdgeSpawn

/// Hands messages from other threads (the MQTT loop, workers) to the reactor's thread:
/// a locked queue plus an eventfd that the reactor polls.
public final class Inbox<Message: Sendable>: Sendable {
    private let queue = Mutex<[Message]>([])
    public let fd: Int32

    public init() throws(SystemError) {
        fd = try systemCall("eventfd") { edge_eventfd() }
    }

    deinit { close(fd) }

    public func post(_ message: Message) {
        queue.withLock { $0.append(message) }
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Everything posted so far, in order; call when `fd` is readable.
    public func drain() -> [Message] {
        var counter: UInt64 = 0
        _ = read(fd, &counter, 8)
        return queue.withLock { messages in
            let taken = messages
            messages.removeAll(keepingCapacity: true)
            return taken
        }
    }
}
