#if canImport(Glibc)
import Glibc
#endif
import EdgePOSIX

/// Drains a function's stdout or stderr into its rotating log, so a flood of output costs
/// disk up to the cap and never blocks the function or the agent.
final class OutputCapture {
    /// The pipe's read end, nil once closed.
    private var descriptor: FileDescriptor?
    private let loop: EventLoop
    private var token: EventLoop.Token?
    private let log: RotatingLog
    private let onError: (SystemError) -> Void
    private var reportedError = false

    init(descriptor: consuming FileDescriptor, loop: EventLoop, log: RotatingLog, onError: @escaping (SystemError) -> Void) {
        let number = descriptor.rawValue
        self.descriptor = consume descriptor
        self.loop = loop
        self.log = log
        self.onError = onError
        token = loop.watch(number) { [weak self] _ in self?.drain() }
    }

    deinit { close() }

    /// Reads what is left, then closes the descriptor exactly once.
    func close() {
        if token != nil { drain() }
        release()
    }

    private func release() {
        if let token { loop.unwatch(token) }
        token = nil
        // Unreported: nothing was written through a read end for a close error to lose.
        descriptor = nil
    }

    private func drain() {
        guard descriptor != nil else { return }
        let buffer = loop.readBuffer
        // Bounded per turn so one noisy function cannot starve the reactor.
        for _ in 0..<16 {
            let count: Int
            switch descriptor?.readAvailable(into: buffer) {
            case .data(let read)?: count = read
            case .nothing?, nil: return
            case .ended?:
                // End of file, or EIO and the like: nothing more will come through it.
                release()
                return
            }
            do {
                try log.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            } catch {
                // Reported once: a full disk must not flood the agent's own log.
                if !reportedError { onError(error) }
                reportedError = true
            }
            // A short read took what there was; the next poll says when there is more.
            if count < buffer.count { return }
        }
    }
}
