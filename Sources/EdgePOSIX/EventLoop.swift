#if canImport(Glibc)
import Glibc
#endif

/// A single-threaded reactor: descriptors watched with epoll(7) and one-shot timers.
/// All of the agent's state lives on the thread that runs it, so none of it needs a lock.
/// epoll rather than poll(2): a turn costs the descriptors that are ready, not all of them (an
/// agent with functions watches three or four descriptors per instance).
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
        /// In the epoll set (only while `events` is not empty, so that, as with poll(2), a watch
        /// that asks for nothing hears nothing, not even a hang-up).
        var registered = false
        /// A descriptor epoll refuses (a regular file, /dev/null): ready whenever asked, as poll(2) says.
        var alwaysReady = false
    }

    private struct Timer {
        var deadline: Int64
        var handler: () -> Void
    }

    private let epoll: Epoll
    private var watches: [Int: Watch] = [:]
    /// The watch each descriptor in the epoll set belongs to.
    private var registeredBy: [Int32: Int] = [:]
    private var alwaysReady: Set<Int> = []
    private var timers: [Int: Timer] = [:]
    private var nextToken = 1
    private var stopped = false
    /// Runs at the end of every turn, before the loop waits again: what a turn gathered (the
    /// outbox's writes) is finished there in one go.
    public var beforeWait: (() -> Void)?
    /// One read buffer for every handler on this loop's thread: handlers run one at a time, and
    /// a buffer per descriptor would cost memory for each function instance.
    public let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    public init() {
        do {
            epoll = try Epoll()
        } catch {
            // EMFILE, ENFILE or ENOMEM before anything runs: nothing can go on without a reactor.
            preconditionFailure("cannot create the event loop: \(error)")
        }
    }

    deinit {
        readBuffer.deallocate()
        spare?.tokens.deallocate()
        spare?.events.deallocate()
    }

    /// Calls `handler` whenever `fd` is ready for `events` (POLLIN, POLLOUT), until unwatched.
    /// POLLHUP and POLLERR come whenever events are asked for. One watch per descriptor.
    @discardableResult
    public func watch(_ fd: Int32, events: Int16 = Int16(POLLIN), _ handler: @escaping Handler) -> Token {
        let token = Token(value: nextToken)
        nextToken += 1
        watches[token.value] = Watch(fd: fd, events: 0, handler: handler)
        setEvents(token, events)
        return token
    }

    public func setEvents(_ token: Token, _ events: Int16) {
        guard var watch = watches[token.value], watch.events != events else { return }
        watch.events = events
        do {
            if watch.alwaysReady {
                // Nothing to tell the kernel: the turn looks at the events asked for.
            } else if events == 0 {
                if watch.registered { forget(watch.fd, of: token.value) }
                watch.registered = false
            } else if watch.registered {
                try epoll.modify(watch.fd, events: events, token: UInt64(token.value))
            } else {
                switch try epoll.add(watch.fd, events: events, token: UInt64(token.value)) {
                case .added:
                    watch.registered = true
                    registeredBy[watch.fd] = token.value
                case .unsupported:
                    watch.alwaysReady = true
                    alwaysReady.insert(token.value)
                }
            }
        } catch {
            // EBADF, ENOMEM, ENOSPC (max_user_watches): a descriptor the reactor cannot watch
            // would never be served; the watcher's owner cannot recover from that either.
            preconditionFailure("cannot watch descriptor \(watch.fd): \(error)")
        }
        watches[token.value] = watch
    }

    public func unwatch(_ token: Token) {
        guard let watch = watches.removeValue(forKey: token.value) else { return }
        if watch.registered { forget(watch.fd, of: token.value) }
        alwaysReady.remove(token.value)
    }

    /// Takes `fd` out of the epoll set unless it is another watch's by now (its number reused
    /// after a close the kernel saw first).
    private func forget(_ fd: Int32, of token: Int) {
        guard registeredBy[fd] == token else { return }
        registeredBy[fd] = nil
        epoll.remove(fd)
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

    private static let batch = 64
    /// What a turn's wait fills, kept to be reused: a turn allocates nothing. A turn inside a
    /// handler (a tool waiting in a callback) finds them taken and makes its own.
    private var spare: (tokens: UnsafeMutableBufferPointer<UInt64>, events: UnsafeMutableBufferPointer<UInt32>)? =
        (.allocate(capacity: EventLoop.batch), .allocate(capacity: EventLoop.batch))

    /// One wait and what is due after it: the timers, then each ready descriptor's handler.
    private func turn(waitAtMostMs cap: Int32) {
        let buffers = spare ?? (.allocate(capacity: Self.batch), .allocate(capacity: Self.batch))
        let owned = spare == nil
        spare = nil
        defer {
            if owned {
                buffers.tokens.deallocate()
                buffers.events.deallocate()
            } else {
                spare = buffers
            }
        }
        beforeWait?()
        var timeout = nextTimeout()
        if cap >= 0 && (timeout < 0 || timeout > cap) { timeout = cap }
        if alwaysReady.contains(where: { watches[$0]?.events ?? 0 != 0 }) { timeout = 0 }
        let ready: Int
        do {
            ready = try epoll.wait(tokens: buffers.tokens, events: buffers.events, timeoutMs: timeout)
        } catch {
            // EBADF, EFAULT or EINVAL: the reactor's own descriptor or buffers are wrong.
            preconditionFailure("\(error)")
        }
        fireDueTimers()
        for index in 0..<ready {
            // A handler may have removed this watch (or others) already this turn.
            guard let watch = watches[Int(buffers.tokens[index])], watch.registered else { continue }
            watch.handler(Int16(truncatingIfNeeded: buffers.events[index]))
            if stopped { return }
        }
        for token in alwaysReady {
            guard let watch = watches[token], watch.events != 0 else { continue }
            watch.handler(watch.events & Int16(POLLIN | POLLOUT))
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
