#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, what it acted on (a path, a descriptor) and the errno it
/// returned. Its description is the message for a user:
/// "open /var/lib/edge-agent/state.json: Permission denied (EACCES)".
public struct SystemError: Error, Sendable, CustomStringConvertible {
    /// The call as its manual page names it: "open", "openat", "read", "rename".
    public var call: String
    /// The path it acted on; for a call on a descriptor, the path the descriptor was opened at.
    public var path: String?
    /// The second path of a call that takes two: rename's new name.
    public var destination: String?
    /// The descriptor it acted on.
    public var descriptor: CInt?
    /// The process it acted on; a negative number is a process group, as for kill(2).
    public var process: pid_t?
    public var errno: Errno
    /// What went wrong when errno alone does not say it ("larger than 65536 bytes").
    public var detail: String?

    public init(_ call: String, path: String? = nil, destination: String? = nil, descriptor: CInt? = nil,
                process: pid_t? = nil, errno: Errno, detail: String? = nil) {
        self.call = call
        self.path = path
        self.destination = destination
        self.descriptor = descriptor
        self.process = process
        self.errno = errno
        self.detail = detail
    }

    /// What went wrong, without the call: "Permission denied", for a sentence of the caller's own.
    public var reason: String { detail ?? errno.description }

    public var description: String {
        var subject = ""
        if let path { subject += " \(path)" }
        if let destination { subject += " to \(destination)" }
        if let descriptor { subject += path == nil ? " fd \(descriptor)" : " (fd \(descriptor))" }
        if let process { subject += process < 0 ? " process group \(-process)" : " pid \(process)" }
        return "\(call)\(subject): \(reason) (\(errno.name))"
    }

    /// The error for a call that has just failed with `errno`. EBADF and EFAULT stop the process:
    /// a descriptor or a pointer that is wrong is a bug in the agent, and carrying on could read or
    /// write a file that some other part of it opened.
    @usableFromInline
    init(failed call: String, path: String? = nil, destination: String? = nil, descriptor: CInt? = nil,
         process: pid_t? = nil, errno: Errno) {
        self.init(call, path: path, destination: destination, descriptor: descriptor, process: process, errno: errno)
        precondition(errno != .badFileDescriptor && errno != .badAddress, "programmer error: \(self)")
    }
}

/// Runs one system call the way every call in the agent runs: `body` makes the call and returns
/// its result, -1 on failure; errno is read at once, EINTR is retried, EBADF and EFAULT are
/// programmer errors (a precondition), and any other errno is thrown as a `SystemError` naming
/// `call` and what it acted on: `path` (and `destination`), `descriptor` or `process`.
///
///     let fd = try systemCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
@inlinable @inline(__always)
public func systemCall<Result: FixedWidthInteger>(
    _ call: @autoclosure () -> String,
    path: @autoclosure () -> String? = nil,
    destination: @autoclosure () -> String? = nil,
    descriptor: CInt? = nil,
    process: pid_t? = nil,
    _ body: () -> Result
) throws(SystemError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Errno.current
        if code == .interrupted { continue }
        throw SystemError(failed: call(), path: path(), destination: destination(), descriptor: descriptor, process: process, errno: code)
    }
}

/// `systemCall` for the calls that return a pointer, NULL on failure (opendir). A name of its
/// own: an overload would also accept a call returning an integer, and never see it fail.
@inlinable @inline(__always)
func systemCallReturningPointer<Pointer>(
    _ call: @autoclosure () -> String,
    path: @autoclosure () -> String? = nil,
    _ body: () -> Pointer?
) throws(SystemError) -> Pointer {
    while true {
        if let result = body() { return result }
        let code = Errno.current
        if code == .interrupted { continue }
        throw SystemError(failed: call(), path: path(), errno: code)
    }
}

/// `systemCall` for the calls that return the error number itself instead of setting errno
/// (the pthread family): 0 on success.
@inlinable @inline(__always)
func systemCallReturningErrno(_ call: @autoclosure () -> String, _ body: () -> CInt) throws(SystemError) {
    while true {
        let code = Errno(rawValue: body())
        if code.rawValue == 0 { return }
        if code == .interrupted { continue }
        throw SystemError(failed: call(), errno: code)
    }
}
