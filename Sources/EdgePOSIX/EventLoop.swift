#if canImport(Glibc)
import Glibc
#endif

/// A single-threaded reactor: descriptors watched with poll(2) and one-shot timers.
/// All of the agent's state lives on the thread that runs it, so none of it needs a lock.
public final class EventLoop {
    public typealias Handler = (_ revents: Int16) -> Void

    /// Identifies a watch or a timer, for cancelling it.
    public struct Token: Hashable, Sendable {
        fileprivate let value: Int
    }

    private struct Watch {
        var fd: Int32
        var events: Int16
        var handler: Handler
    }

    private struct Timer {
        var deadline: Int64
        var handler: () -> Void
    }

    private var watches: [Int: Watch] = [:]
    private var timers: [Int: Timer] = [:]
    private var nextToken = 1
    private var stopped = false
    /// One read buffer for every handler on this loop's thread: handlers run one at a time, and
    /// a buffer per descriptor would cost memory for each function instance.
    public let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    public init() {}

    deinit { readBuffer.deallocate() }

    /// Calls `handler` whenever `fd` is ready for `events` (POLLIN, POLLOUT), until unwatched.
    @discardableResult
    public func watch(_ fd: Int32, events: Int16 = Int16(POLLIN), _ handler: @escaping Handler) -> Token {
        let token = Token(value: nextToken)
        nextToken += 1
        watches[token.value] = Watch(fd: fd, events: events, handler: handler)
        return token
    }

    public func setEvents(_ token: Token, _ events: Int16) {
        watches[token.value]?.events = events
    }

    public func unwatch(_ token: Token) {
        watches[token.value] = nil
    }

    /// Calls `handler` once, `milliseconds` from now.
    @discardableResult
    public func after(_ milliseconds: Int, _ handler: @escaping () -> Void) -> Token {
        let token = Token(value: nextToken)
        nextToken += 1
        timers[token.value] = Timer(deadline: Clock.monotonicMs() + Int64(max(0, milliseconds)), handler: handler)
        return token
    }

    public func cancel(_ token: Token?) {
        if let token { timers[token.value] = nil }
    }

    /// Makes `run` return after the current turn.
    public func stop() {
        stopped = true
    }

    /// Runs until `stop` is called.
    public func run() {
        stopped = false
        while !stopped { turn(waitAtMostMs: -1) }
    }

    /// Runs until `done()` holds or the monotonic clock passes `deadlineMs`, for a caller that
    /// waits for one thing at a time (a command-line tool); returns `done()`. `stop` ends it too.
    @discardableResult
    public func run(untilMs deadlineMs: Int64, done: () -> Bool) -> Bool {
        stopped = false
        while !stopped && !done() {
            let left = deadlineMs - Clock.monotonicMs()
            if left <= 0 { break }
            turn(waitAtMostMs: Int32(clamping: left))
        }
        return done()
    }

    /// The arrays each turn fills, kept to be reused: a turn allocates nothing. A turn inside a
    /// handler (a tool waiting in a callback) finds them taken and makes its own.
    private var spareDescriptors: [pollfd] = []
    private var spareTokens: [Int] = []

    /// One poll(2) and what is due after it: the timers, then each ready descriptor's handler.
    private func turn(waitAtMostMs cap: Int32) {
        var descriptors = spareDescriptors
        var tokens = spareTokens
        spareDescriptors = []
        spareTokens = []
        defer {
            descriptors.removeAll(keepingCapacity: true)
            tokens.removeAll(keepingCapacity: true)
            spareDescriptors = descriptors
            spareTokens = tokens
        }
        for (token, watch) in watches where watch.events != 0 {
            descriptors.append(pollfd(fd: watch.fd, events: watch.events, revents: 0))
            tokens.append(token)
        }
        var timeout = nextTimeout()
        if cap >= 0 && (timeout < 0 || timeout > cap) { timeout = cap }
        let ready = descriptors.withUnsafeMutableBufferPointer { buffer in
            do {
                return try Poll.wait(buffer, timeoutMs: timeout)
            } catch {
                // EINVAL (more descriptors than RLIMIT_NOFILE) or ENOMEM: the reactor cannot go on.
                preconditionFailure("\(error)")
            }
        }
        fireDueTimers()
        guard ready > 0 else { return }
        for index in descriptors.indices where descriptors[index].revents != 0 {
            // A handler may have removed this watch (or others) already this turn.
            guard let watch = watches[tokens[index]], watch.fd == descriptors[index].fd else { continue }
            watch.handler(descriptors[index].revents)
            if stopped { return }
        }
    }

    /// The earliest deadline, found without allocating: this runs on every turn.
    private var earliestDeadline: Int64? {
        var earliest: Int64?
        for timer in timers.values where earliest == nil || timer.deadline < earliest! { earliest = timer.deadline }
        return earliest
    }

    private func nextTimeout() -> Int32 {
        guard let earliest = earliestDeadline else { return -1 }
        let wait = earliest - Clock.monotonicMs()
        return Int32(clamping: max(0, wait))
    }

    private func fireDueTimers() {
        let now = Clock.monotonicMs()
        guard let earliest = earliestDeadline, earliest <= now else { return }
        let due = timers.filter { $0.value.deadline <= now }.sorted { $0.value.deadline < $1.value.deadline }
        for (token, _) in due {
            // An earlier timer this turn may have cancelled this one.
            guard let timer = timers.removeValue(forKey: token) else { continue }
            timer.handler()
        }
    }
}
