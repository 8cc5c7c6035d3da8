#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CEdgeSpawn

/// Hands messages from other threads (MQTT connect attempts, workers) to the reactor's thread:
/// a locked queue plus an eventfd that the reactor polls.
public final class Inbox<Message: Sendable>: Sendable {
    private let queue = Mutex<[Message]>([])
    public let fd: Int32

    public init() throws(SystemError) {
        fd = try systemCall("eventfd") { edge_eventfd() }
    }

    deinit { close(fd) }

    public func post(_ message: Message) {
        // Only the first message of a batch wakes the reader: while the queue is not empty, a
        // wake-up is already pending (drain reads the eventfd before it takes the queue), so a
        // burst costs one write and one wake-up instead of one per message.
        let first = queue.withLock { messages in
            messages.append(message)
            return messages.count == 1
        }
        guard first else { return }
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
