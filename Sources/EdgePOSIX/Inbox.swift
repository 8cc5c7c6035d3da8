#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Hands messages from other threads (MQTT connect attempts, workers) to the reactor's thread:
/// a locked queue plus an eventfd that the reactor polls.
public final class Inbox<Message: Sendable>: Sendable {
    private let queue = Mutex<[Message]>([])
    /// Readable while messages wait: the reactor watches `wakeUp.descriptor`.
    public let wakeUp: EventCounter

    public init() throws(SystemError) {
        wakeUp = try EventCounter()
    }

    public func post(_ message: Message) {
        // Only the first message of a batch wakes the reader: while the queue is not empty, a
        // wake-up is already pending (drain reads the eventfd before it takes the queue), so a
        // burst costs one write and one wake-up instead of one per message.
        let first = queue.withLock { messages in
            messages.append(message)
            return messages.count == 1
        }
        guard first else { return }
        wakeUp.signal()
    }

    /// Everything posted so far, in order; call when `wakeUp` is readable.
    public func drain() -> [Message] {
        wakeUp.reset()
        return queue.withLock { messages in
            let taken = messages
            messages.removeAll(keepingCapacity: true)
            return taken
        }
    }
}
