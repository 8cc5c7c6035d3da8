#if canImport(Glibc)
import Glibc
#endif

/// A log file with a size cap: at `maxBytes` it becomes `.1` (older ones shift up to `.keep`),
/// so a function that floods its output can never fill the disk.
public final class RotatingLog {
    public let path: String
    private let maxBytes: Int
    private let keep: Int
    private var file: FileDescriptor?
    private var size = 0
    /// Bytes appended since this object was made, across rotations.
    public private(set) var written = 0

    public init(path: String, maxBytes: Int = 1 << 20, keep: Int = 2) {
        self.path = path
        self.maxBytes = maxBytes
        self.keep = keep
    }

    /// Appends bytes; an error writing a log is reported once by the caller's logger, never fatal.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        if file == nil { try openFile() }
        if size + bytes.count > maxBytes && size > 0 { try rotate() }
        try file!.writeAll(bytes, path: path)
        size += bytes.count
        written += bytes.count
    }

    /// Makes the file if it is not there yet: the log a status points at exists, empty when the
    /// function printed nothing.
    public func create() throws(SystemError) {
        if file == nil { try openFile() }
    }

    private func openFile() throws(SystemError) {
        let opened = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, permissions: 0o640)
        size = try opened.status(path: path).size
        file = consume opened
    }

    private func rotate() throws(SystemError) {
        try file.take()?.close(path: path)
        var index = keep
        while index > 1 {
            let older = "\(path).\(index - 1)"
            if Files.exists(older) { try Files.rename(older, to: "\(path).\(index)") }
            index -= 1
        }
        if keep >= 1 { try Files.rename(path, to: "\(path).1") } else { try Files.removeFile(path) }
        try openFile()
    }
}
