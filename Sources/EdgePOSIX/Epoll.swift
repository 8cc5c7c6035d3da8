#if canImport(Glibc)
import Glibc
#endif
import CEdgeSpawn

/// An epoll instance (close-on-exec): descriptors registered once with a token, and a wait that
/// returns only those ready, whatever their number. Level-triggered, as poll(2) is; the event
/// bits are poll's (POLLIN, POLLOUT, POLLERR, POLLHUP).
public struct Epoll: ~Copyable {
    public let descriptor: FileDescriptor

    public init() throws(SystemError) {
        descriptor = FileDescriptor(taking: try systemCall("epoll_create1") { edge_epoll_create() })
    }

    public enum Registration {
        case added
        /// The descriptor cannot be watched with epoll (a regular file, /dev/null): poll(2) calls
        /// such a descriptor always ready, and so must its watcher.
        case unsupported
    }

    /// Registers `fd` for `events` under `token`; one already registered takes the new token.
    public func add(_ fd: CInt, events: Int16, token: UInt64) throws(SystemError) -> Registration {
        if edge_epoll_ctl(descriptor.rawValue, EDGE_EPOLL_CTL_ADD, fd, Self.bits(events), token) == 0 { return .added }
        switch Errno.current {
        case .notPermitted: return .unsupported
        case .fileExists:
            try modify(fd, events: events, token: token)
            return .added
        case let code: throw SystemError(failed: "epoll_ctl(ADD)", descriptor: fd, errno: code)
        }
    }

    public func modify(_ fd: CInt, events: Int16, token: UInt64) throws(SystemError) {
        _ = try systemCall("epoll_ctl(MOD)", descriptor: fd) { edge_epoll_ctl(descriptor.rawValue, EDGE_EPOLL_CTL_MOD, fd, Self.bits(events), token) }
    }

    /// Forgets `fd`. A descriptor closed already was forgotten by the kernel: that is no error,
    /// nor is its number now naming something else that is not in the set (ENOENT) or that epoll
    /// cannot watch at all (EPERM: a regular file opened meanwhile, by another thread, under it).
    public func remove(_ fd: CInt) {
        if edge_epoll_ctl(descriptor.rawValue, EDGE_EPOLL_CTL_DEL, fd, 0, 0) == 0 { return }
        let code = Errno.current
        precondition(code == .badFileDescriptor || code == .noSuchFileOrDirectory || code == .notPermitted,
                     "epoll_ctl(DEL) of \(fd): \(code)")
    }

    /// Waits up to `timeoutMs` (-1: no limit) and fills `tokens` and `events` (poll's bits) of
    /// the descriptors ready; returns how many, 0 when the time passed or a signal interrupted
    /// the wait (the caller works out the time left, as with `Poll.wait`).
    public func wait(tokens: UnsafeMutableBufferPointer<UInt64>, events: UnsafeMutableBufferPointer<UInt32>,
                     timeoutMs: Int32) throws(SystemError) -> Int {
        let capacity = Int32(min(tokens.count, events.count))
        let ready = edge_epoll_wait(descriptor.rawValue, tokens.baseAddress, events.baseAddress, capacity, timeoutMs)
        if ready >= 0 { return Int(ready) }
        let code = Errno.current
        if code == .interrupted { return 0 }
        throw SystemError(failed: "epoll_wait", errno: code)
    }

    /// poll(2)'s POLLIN, POLLOUT, POLLPRI, POLLERR and POLLHUP have epoll's values.
    private static func bits(_ events: Int16) -> UInt32 { UInt32(UInt16(bitPattern: events)) }
}
