#if canImport(Glibc)
import Glibc
#endif

/// An open descriptor that this code owns. It cannot be copied, so it is closed exactly once:
/// by `close()`, which reports a failure, or else when its owner goes away. Pass it `borrowing`;
/// hand it to code that closes descriptors itself with `release()`.
public struct FileDescriptor: ~Copyable, Sendable {
    /// The number, for a call that takes one (poll, the spawn request); it stays owned here.
    public let rawValue: CInt

    /// Takes ownership of a descriptor a C call returned, or one code not yet migrated handed over.
    public init(taking rawValue: CInt) {
        precondition(rawValue >= 0, "not a descriptor: \(rawValue)")
        self.rawValue = rawValue
    }

    /// A descriptor nobody closed explicitly: read-only files, directories, error paths. A close
    /// error cannot be reported from here, and cannot lose data that `close()` would have saved
    /// for them; a file that was written is closed with `close()`.
    deinit {
        if Glibc.close(rawValue) != 0 { FileDescriptor.checkClosed(rawValue, Errno.current) }
    }

    /// Closes now, reporting failure: after writes, an error here (EIO, ENOSPC, EDQUOT on
    /// network and quota'd file systems) means the data may not have reached the file.
    public consuming func close(path: @autoclosure () -> String? = nil) throws(SystemError) {
        let number = rawValue
        discard self
        // Never retried: on Linux the descriptor is gone even when close reports EINTR.
        if Glibc.close(number) == 0 { return }
        let code = Errno.current
        FileDescriptor.checkClosed(number, code)
        if code == .interrupted { return }
        throw SystemError("close", path: path(), descriptor: number, errno: code)
    }

    /// Gives the descriptor up without closing it: the caller owns the number now.
    public consuming func release() -> CInt {
        let number = rawValue
        discard self
        return number
    }

    /// Runs `body` with a descriptor this code does not own (standard input): lent for the call,
    /// never closed here.
    public static func withUnowned<Value, Failure: Error>(
        _ number: CInt, _ body: (borrowing FileDescriptor) throws(Failure) -> Value
    ) throws(Failure) -> Value {
        let lent = FileDescriptor(taking: number)
        do {
            let value = try body(lent)
            _ = lent.release()
            return value
        } catch {
            _ = lent.release()
            throw error
        }
    }

    /// Closing a descriptor twice would close whatever reused the number: a bug, not an error.
    private static func checkClosed(_ number: CInt, _ code: Errno) {
        precondition(code != .badFileDescriptor, "programmer error: close fd \(number): descriptor already closed")
    }

    // MARK: Opening

    /// Opens `path`, always close-on-exec (no descriptor leaks into a function's process).
    public static func open(_ path: String, _ flags: CInt, permissions: mode_t = 0) throws(SystemError) -> FileDescriptor {
        FileDescriptor(taking: try systemCall("open", path: path) { Glibc.open(path, flags | O_CLOEXEC, permissions) })
    }

    /// Opens `name` relative to this directory (openat), close-on-exec. `path` names it in errors.
    public func open(at name: String, _ flags: CInt, permissions: mode_t = 0,
                     path: @autoclosure () -> String? = nil) throws(SystemError) -> FileDescriptor {
        let directory = rawValue
        let opened = try systemCall("openat", path: path() ?? name, descriptor: directory) {
            openat(directory, name, flags | O_CLOEXEC, permissions)
        }
        return FileDescriptor(taking: opened)
    }

    // MARK: Reading and writing

    /// Reads up to `buffer.count` bytes; 0 at end of file. A non-blocking descriptor with nothing
    /// to read throws `.wouldBlock`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, path: @autoclosure () -> String? = nil) throws(SystemError) -> Int {
        let number = rawValue
        return try systemCall("read", path: path(), descriptor: number) { Glibc.read(number, buffer.baseAddress, buffer.count) }
    }

    /// What a read from a non-blocking descriptor the reactor watches found.
    public enum Available: Equatable, Sendable {
        /// This many bytes (at least one).
        case data(Int)
        /// Nothing now (EAGAIN): the next poll says when there is more.
        case nothing
        /// End of file, or a read error after which nothing more comes (EIO, ECONNRESET).
        case ended
    }

    /// Reads what is there into `buffer`, for a reactor's handler: one read, its outcome sorted
    /// into data, nothing yet, or the end.
    public func readAvailable(into buffer: UnsafeMutableRawBufferPointer) -> Available {
        do {
            let count = try read(into: buffer)
            return count == 0 ? .ended : .data(count)
        } catch where error.errno == .wouldBlock {
            return .nothing
        } catch {
            return .ended
        }
    }

    /// Writes some of `bytes` and returns how many.
    public func write(_ bytes: UnsafeRawBufferPointer, path: @autoclosure () -> String? = nil) throws(SystemError) -> Int {
        let number = rawValue
        return try systemCall("write", path: path(), descriptor: number) { Glibc.write(number, bytes.baseAddress, bytes.count) }
    }

    /// Sends some of `bytes` on a socket and returns how many: send(2) with MSG_NOSIGNAL, so a
    /// peer that has closed its end is EPIPE, never SIGPIPE.
    public func send(_ bytes: UnsafeRawBufferPointer, path: @autoclosure () -> String? = nil) throws(SystemError) -> Int {
        let number = rawValue
        return try systemCall("send", path: path(), descriptor: number) {
            Glibc.send(number, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL))
        }
    }

    /// Writes all of `bytes`, continuing after short writes.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, path: @autoclosure () -> String? = nil) throws(SystemError) {
        guard let start = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            offset += try write(UnsafeRawBufferPointer(start: start + offset, count: bytes.count - offset), path: path())
        }
    }

    /// Flushes the file (or a directory's entries) to stable storage.
    public func sync(path: @autoclosure () -> String? = nil) throws(SystemError) {
        let number = rawValue
        _ = try systemCall("fsync", path: path(), descriptor: number) { fsync(number) }
    }

    // MARK: Attributes

    /// What the descriptor refers to (fstat).
    public func status(path: @autoclosure () -> String? = nil) throws(SystemError) -> FileStatus {
        let number = rawValue
        var info = stat()
        _ = try systemCall("fstat", path: path(), descriptor: number) { fstat(number, &info) }
        return FileStatus(info)
    }

    /// Sets the permission bits exactly (fchmod): the umask shaped only the creation.
    public func setPermissions(_ mode: mode_t, path: @autoclosure () -> String? = nil) throws(SystemError) {
        let number = rawValue
        _ = try systemCall("fchmod", path: path(), descriptor: number) { fchmod(number, mode) }
    }

    /// Makes reads and writes return `.wouldBlock` instead of waiting (for the reactor).
    public func setNonBlocking() throws(SystemError) {
        let number = rawValue
        let flags = try systemCall("fcntl", descriptor: number) { fcntl(number, F_GETFL) }
        _ = try systemCall("fcntl", descriptor: number) { fcntl(number, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Takes an exclusive flock without waiting: false when another process holds it. The lock
    /// lasts until the descriptor is closed.
    public func lockExclusively(path: @autoclosure () -> String? = nil) throws(SystemError) -> Bool {
        let number = rawValue
        do {
            _ = try systemCall("flock", path: path(), descriptor: number) { flock(number, LOCK_EX | LOCK_NB) }
            return true
        } catch where error.errno == .wouldBlock {
            return false
        }
    }

    // MARK: Directory entries

    /// Creates the directory `name` in this directory (mkdirat).
    public func makeDirectory(at name: String, permissions: mode_t, path: @autoclosure () -> String? = nil) throws(SystemError) {
        let directory = rawValue
        _ = try systemCall("mkdirat", path: path() ?? name, descriptor: directory) { mkdirat(directory, name, permissions) }
    }

    /// Creates the symbolic link `name` in this directory, pointing at `target` (symlinkat).
    public func makeSymbolicLink(at name: String, to target: String, path: @autoclosure () -> String? = nil) throws(SystemError) {
        let directory = rawValue
        _ = try systemCall("symlinkat", path: path() ?? name, descriptor: directory) { symlinkat(target, directory, name) }
    }
}

/// Descriptors owned together, in order, and closed together when their owner goes away (an
/// Array cannot hold a non-copyable `FileDescriptor`): the cgroup.procs files a child joins.
public struct FileDescriptorList: ~Copyable, Sendable {
    /// The numbers, for a call that takes them (the spawn request); they stay owned here.
    public private(set) var rawValues: [CInt] = []

    public init() {}

    /// Never written through here (they are the child's to write), so nothing is lost that a
    /// reported close would have saved.
    deinit {
        for number in rawValues { _ = FileDescriptor(taking: number) }
    }

    public mutating func append(_ descriptor: consuming FileDescriptor) {
        rawValues.append(descriptor.release())
    }

    public var count: Int { rawValues.count }
}

/// What a path or descriptor refers to: the parts of `struct stat` the agent uses.
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case regular, directory, symbolicLink, other
    }

    public var kind: Kind
    /// The permission bits, setuid, setgid and sticky included (mode & 0o7777).
    public var permissions: mode_t
    public var size: Int
    public var owner: uid_t
    /// The file itself (its inode on its device), and how many names it has: what tells a hard link.
    public var inode: UInt64
    public var device: UInt64
    public var linkCount: Int

    init(_ info: stat) {
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symbolicLink
        default: kind = .other
        }
        permissions = info.st_mode & 0o7777
        size = Int(info.st_size)
        owner = info.st_uid
        inode = UInt64(info.st_ino)
        device = UInt64(info.st_dev)
        linkCount = Int(info.st_nlink)
    }
}
