#if canImport(Glibc)
import Glibc
#endif

/// An error number from the C library (`errno`), typed so that it is never confused with a
/// descriptor or a count. Compare with the named codes: `error.errno == .noSuchFileOrDirectory`.
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: CInt

    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// The calling thread's errno now: read it straight after the call that failed.
    public static var current: Errno { Errno(rawValue: Glibc.errno) }

    /// The C library's text: "No such file or directory".
    public var description: String {
        // glibc returns a static string for every known code and a thread-local one otherwise.
        guard let text = strerror(rawValue) else { return "unknown error \(rawValue)" }
        return String(cString: text)
    }

    /// The symbolic name, "ENOENT", for messages a user can search for; "errno 123" when unknown.
    public var name: String {
        Errno.names[rawValue] ?? "errno \(rawValue)"
    }

    public static let notPermitted = Errno(rawValue: EPERM)
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    public static let interrupted = Errno(rawValue: EINTR)
    public static let ioError = Errno(rawValue: EIO)
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    public static let noChildProcess = Errno(rawValue: ECHILD)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let permissionDenied = Errno(rawValue: EACCES)
    public static let badAddress = Errno(rawValue: EFAULT)
    public static let resourceBusy = Errno(rawValue: EBUSY)
    public static let fileExists = Errno(rawValue: EEXIST)
    public static let notDirectory = Errno(rawValue: ENOTDIR)
    public static let isDirectory = Errno(rawValue: EISDIR)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let fileTooLarge = Errno(rawValue: EFBIG)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let readOnlyFileSystem = Errno(rawValue: EROFS)
    public static let directoryNotEmpty = Errno(rawValue: ENOTEMPTY)
    public static let tooManySymbolicLinkLevels = Errno(rawValue: ELOOP)
    public static let crossDevice = Errno(rawValue: EXDEV)
    public static let tooManyLinks = Errno(rawValue: EMLINK)

    /// Names of the codes a file, process or cgroup call returns (glibc's strerrorname_np is
    /// 2.32+, newer than some devices' C library).
    private static let names: [CInt: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO",
        E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD", EAGAIN: "EAGAIN",
        ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST",
        EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
        ENFILE: "ENFILE", EMFILE: "EMFILE", ETXTBSY: "ETXTBSY", EFBIG: "EFBIG", ENOSPC: "ENOSPC",
        ESPIPE: "ESPIPE", EROFS: "EROFS", EMLINK: "EMLINK", EPIPE: "EPIPE", ENAMETOOLONG: "ENAMETOOLONG",
        ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY", ELOOP: "ELOOP", EOPNOTSUPP: "EOPNOTSUPP",
        EDQUOT: "EDQUOT", ECONNRESET: "ECONNRESET", ECONNREFUSED: "ECONNREFUSED", ETIMEDOUT: "ETIMEDOUT",
    ]
}
