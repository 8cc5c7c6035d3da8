#if canImport(Glibc)
import Glibc
#endif
import EdgePOSIX

/// Drains a function's stdout or stderr into its rotating log, so a flood of output costs
/// disk up to the cap and never blocks the function or the agent. Each line is stamped with the
/// time the agent read it (`LogLine`: ISO 8601 UTC, then a space), which `edgectl logs --since`
/// selects by.
final class OutputCapture {
    /// The pipe's read end, nil once closed.
    private var descriptor: FileDescriptor?
    private let loop: EventLoop
    private var token: EventLoop.Token?
    private let log: RotatingLog
    private let onError: (SystemError) -> Void
    private var reportedError = false
    /// Whether the next byte read begins a line (and gets a stamp).
    private var atLineStart = true
    private var stamped: [UInt8] = []

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
                try stamp(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            } catch {
                // Reported once: a full disk must not flood the agent's own log.
                if !reportedError { onError(error) }
                reportedError = true
            }
            // A short read took what there was; the next poll says when there is more.
            if count < buffer.count { return }
        }
    }

    /// Writes `bytes` to the log with a stamp before each line that begins in them (one clock
    /// reading a read), in pieces of at most a read's size: short lines can make the stamped text
    /// many times longer, and the log's cap must still hold for each file.
    private func stamp(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        stamped.removeAll(keepingCapacity: true)
        var stampBytes: [UInt8]?
        var start = 0
        while start < bytes.count {
            if atLineStart {
                if stampBytes == nil { stampBytes = Array("\(Clock.iso8601()) ".utf8) }
                stamped.append(contentsOf: stampBytes!)
                atLineStart = false
            }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
            var length = rest.count
            if let base = rest.baseAddress, let newline = memchr(base, 0x0A, rest.count) {
                length = UnsafeRawPointer(newline) - base + 1
                atLineStart = true
            }
            stamped.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[0..<length]))
            start += length
            if stamped.count >= bytes.count { try flush() }
        }
        try flush()
    }

    private func flush() throws(SystemError) {
        guard !stamped.isEmpty else { return }
        defer { stamped.removeAll(keepingCapacity: true) }
        try stamped.withUnsafeBytes { bytes in Result { () throws(SystemError) in try log.append(bytes) } }.get()
    }
}
