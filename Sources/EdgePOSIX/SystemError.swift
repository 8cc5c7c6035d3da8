#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: what was being done, and the errno it returned.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32

    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var reason: String { String(cString: strerror(errno)) }
    public var description: String { "\(operation): \(reason)" }
}

/// Runs a system call, retrying on EINTR, and turns a -1 into a `SystemError` with errno read at once.
@inline(__always)
public func systemCall<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        precondition(code != EBADF && code != EFAULT, "programmer error in \(operation()): \(String(cString: strerror(code)))")
        throw SystemError(operation(), errno: code)
    }
}
