#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgeJSON
import EdgePOSIX

/// The agent's end of a function's fd 3: JSON lines in both directions over a non-blocking
/// socket, with a cap on line length so a function cannot make the agent buffer without end.
final class RuntimeChannel {
    static let maxLineBytes = RuntimeProtocol.maxLineBytes
    static let maxPendingBytes = 8 << 20

    enum Incoming {
        case message(FunctionMessage)
        case protocolError(String)
        case closed
    }

    /// The socket, nil once closed.
    private var descriptor: FileDescriptor?
    private let loop: EventLoop
    private var token: EventLoop.Token?
    private var inbound: [UInt8] = []
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private let onIncoming: (Incoming) -> Void

    init(descriptor: consuming FileDescriptor, loop: EventLoop, onIncoming: @escaping (Incoming) -> Void) {
        let number = descriptor.rawValue
        self.descriptor = consume descriptor
        self.loop = loop
        self.onIncoming = onIncoming
        token = loop.watch(number) { [weak self] revents in self?.ready(revents) }
    }

    deinit { close() }

    /// Closes the descriptor exactly once: its number may be reused by the next instance at once.
    func close() {
        if let token { loop.unwatch(token) }
        token = nil
        // Unreported: a close error on a socket says nothing about what was sent.
        descriptor = nil
    }

    /// Queues one message; false when the channel is closed or the function stopped reading.
    @discardableResult
    func send(_ message: JSONValue) -> Bool {
        queue(JSONCodec.serialize(message))
    }

    /// Queues an invoke line, the event spliced in as the MQTT payload's own bytes when it is
    /// JSON (`InvokeEvent`).
    @discardableResult
    func sendInvoke(_ invocation: Invocation, timeoutMs: Int) -> Bool {
        queue(InvokeEvent.line(for: invocation, timeoutMs: timeoutMs))
    }

    private func queue(_ line: [UInt8]) -> Bool {
        guard let token else { return false }
        if outbound.count - outboundOffset > Self.maxPendingBytes { return false }
        outbound.append(contentsOf: line)
        outbound.append(0x0A)
        flush()
        if outboundOffset < outbound.count { loop.setEvents(token, Int16(POLLIN | POLLOUT)) }
        return true
    }

    private func ready(_ revents: Int16) {
        if revents & Int16(POLLOUT) != 0 { flush() }
        if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readAvailable() }
    }

    private func flush() {
        guard descriptor != nil else { return }
        while outboundOffset < outbound.count {
            let sent = outbound.withUnsafeBytes { bytes in
                Result { () throws(SystemError) in try descriptor!.send(UnsafeRawBufferPointer(rebasing: bytes[outboundOffset...])) }
            }
            switch sent {
            case .success(let count):
                outboundOffset += count
            case .failure(let error) where error.errno == .wouldBlock:
                return
            case .failure:
                // The function closed its end (EPIPE, ECONNRESET); reading will report the close.
                outbound.removeAll()
                outboundOffset = 0
                return
            }
        }
        outbound.removeAll(keepingCapacity: true)
        outboundOffset = 0
        if let token { loop.setEvents(token, Int16(POLLIN)) }
    }

    private func readAvailable() {
        let buffer = loop.readBuffer
        // Bounded per turn (256 KiB), so a function that streams messages cannot starve the
        // reactor: the other functions' answers are read in the same turn.
        for _ in 0..<4 where token != nil {
            let count: Int
            switch descriptor?.readAvailable(into: buffer) {
            case .data(let read)?: count = read
            case .nothing?, nil: return
            case .ended?:
                // End of file, or ECONNRESET: the function's end is gone.
                finish(.closed)
                return
            }
            inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            if !deliverLines() { return }
            // A short read took what there was: poll(2) is level-triggered and says when there
            // is more, so the read that would only find the socket empty is saved.
            if count < buffer.count { return }
        }
    }

    /// Hands over every complete line; false once the channel was closed on an error.
    private func deliverLines() -> Bool {
        var start = 0
        while let newline = inbound[start...].firstIndex(of: 0x0A) {
            let line = start..<newline
            start = newline + 1
            let message = inbound.withUnsafeBufferPointer { RuntimeLine.read(UnsafeBufferPointer(rebasing: $0[line]), maxLineBytes: Self.maxLineBytes) }
            switch message {
            case .message(let message):
                onIncoming(.message(message))
                if token == nil { return false }
            case .blank:
                continue
            case .problem(let problem):
                finish(.protocolError(problem))
                return false
            }
        }
        inbound.removeFirst(start)
        if inbound.count > Self.maxLineBytes {
            finish(.protocolError("fd 3 carried a line longer than \(Self.maxLineBytes) bytes"))
            return false
        }
        return true
    }

    private func finish(_ reason: Incoming) {
        close()
        onIncoming(reason)
    }
}
