#if canImport(Glibc)
import Glibc
#endif

/// Waiting for descriptors to become ready: poll(2), for the reactor, the I/O lanes and the MQTT
/// client's waits at stop.
public enum Poll {
    /// Waits until one of `descriptors` is ready or `timeoutMs` has passed (-1: no limit), and
    /// returns how many are ready, their `revents` set; 0 when the time passed or a signal
    /// interrupted the wait. Unlike `systemCall`, EINTR is not retried with the same timeout: the
    /// caller, which knows its deadline, works out the time left and calls again.
    public static func wait(_ descriptors: UnsafeMutableBufferPointer<pollfd>, timeoutMs: Int32) throws(SystemError) -> Int {
        let ready = poll(descriptors.baseAddress, nfds_t(descriptors.count), timeoutMs)
        if ready >= 0 { return Int(ready) }
        let code = Errno.current
        if code == .interrupted { return 0 }
        throw SystemError(failed: "poll", errno: code)
    }

    /// Waits for `events` (POLLIN, POLLOUT) on one descriptor, and returns those that occurred
    /// (POLLHUP and POLLERR included); 0 when none did in time. It takes a number: the descriptor
    /// may be one the agent does not own (libmosquitto's socket).
    public static func wait(for events: Int16, on descriptor: CInt, timeoutMs: Int32) throws(SystemError) -> Int16 {
        var entry = pollfd(fd: descriptor, events: events, revents: 0)
        let ready = try withUnsafeMutablePointer(to: &entry) { (pointer) throws(SystemError) in
            try wait(UnsafeMutableBufferPointer(start: pointer, count: 1), timeoutMs: timeoutMs)
        }
        return ready > 0 ? entry.revents : 0
    }
}
