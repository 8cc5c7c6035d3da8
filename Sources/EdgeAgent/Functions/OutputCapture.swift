#if canImport(Glibc)
import Glibc
#endif
import EdgePOSIX

/// Drains a function's stdout or stderr into its rotating log, so a flood of output costs
/// disk up to the cap and never blocks the function or the agent.
final class OutputCapture {
    private var fd: Int32
    private let loop: EventLoop
    private var token: EventLoop.Token?
    private let log: RotatingLog
    private let onError: (SystemError) -> Void
    private var reportedError = false

    init(fd: Int32, loop: EventLoop, log: RotatingLog, onError: @escaping (SystemError) -> Void) {
        self.fd = fd
        self.loop = loop
        self.log = log
        self.onError = onError
        token = loop.watch(fd) { [weak self] _ in self?.drain() }
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
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private func drain() {
        guard fd >= 0 else { return }
        let buffer = loop.readBuffer
        // Bounded per turn so one noisy function cannot starve the reactor.
        for _ in 0..<16 {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                if count == 0 || errno != EAGAIN { release() }
                return
            }
            do {
                try log.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            } catch {
                // Reported once: a full disk must not flood the agent's own log.
                if !reportedError { onError(error) }
                reportedError = true
            }
        }
    }
}
