#if canImport(Glibc)
import Glibc
#endif

/// A log file with a size cap: at `maxBytes` it becomes `.1` (older ones shift up to `.keep`),
/// so a function that floods its output can never fill the disk.
public final class RotatingLog {
    public let path: String
    private let maxBytes: Int
    private let keep: Int
    private var fd: Int32 = -1
    private var size = 0

    public init(path: String, maxBytes: Int = 1 << 20, keep: Int = 2) {
        self.path = path
        self.maxBytes = maxBytes
        self.keep = keep
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends bytes; an error writing a log is reported once by the caller's logger, never fatal.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        if fd < 0 { try openFile() }
        if size + bytes.count > maxBytes && size > 0 { try rotate() }
        var offset = 0
        while offset < bytes.count {
            let written = try systemCall("write \(path)") { write(fd, bytes.baseAddress! + offset, bytes.count - offset) }
            offset += written
        }
        size += bytes.count
    }

    private func openFile() throws(SystemError) {
        fd = try systemCall("open \(path)") { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o640) }
        size = Files.size(path) ?? 0
    }

    private func rotate() throws(SystemError) {
        close(fd)
        fd = -1
        var index = keep
        while index > 1 {
            let older = "\(path).\(index - 1)"
            if Files.exists(older) { try Files.rename(older, to: "\(path).\(index)") }
            index -= 1
        }
        if keep >= 1 { try Files.rename(path, to: "\(path).1") } else { unlink(path) }
        try openFile()
    }
}
