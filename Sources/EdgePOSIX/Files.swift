#if canImport(Glibc)
import Glibc
#endif

/// File-system operations the agent needs, each a `systemCall` whose error names the path.
public enum Files {
    // MARK: Queries that answer no when they cannot tell

    /// The space of the file system `path` is on: bytes an unprivileged user may still write, and
    /// its size; nil when it cannot be told.
    public static func space(of path: String) -> (available: Int64, total: Int64)? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let block = UInt64(info.f_frsize)
        return (Int64(clamping: UInt64(info.f_bavail) &* block), Int64(clamping: UInt64(info.f_blocks) &* block))
    }

    /// Whether something is at `path`; false as well when it cannot be reached (EACCES on the way).
    public static func exists(_ path: String) -> Bool {
        isAccessible(path, F_OK)
    }

    /// Whether this process may use `path` as `mode` asks (R_OK, W_OK, X_OK, with its real ids,
    /// as access(2) checks); false as well when it cannot tell.
    public static func isAccessible(_ path: String, _ mode: CInt) -> Bool {
        do {
            try checkAccess(path, mode)
            return true
        } catch {
            return false
        }
    }

    /// Whether `path` is a directory (symbolic links followed); false when it cannot be inspected.
    public static func isDirectory(_ path: String) -> Bool {
        do { return try status(path).kind == .directory } catch { return false }
    }

    /// The size of a file in bytes, or nil if it does not exist or cannot be inspected.
    public static func size(_ path: String) -> Int? {
        do { return try status(path).size } catch { return nil }
    }

    // MARK: Paths

    /// Throws why this process may not use `path` as `mode` asks (access(2): R_OK, W_OK, X_OK, F_OK).
    public static func checkAccess(_ path: String, _ mode: CInt) throws(SystemError) {
        _ = try systemCall("access", path: path) { access(path, mode) }
    }

    /// What is at `path` (stat; lstat when `followingLinks` is false, to see a link itself).
    public static func status(_ path: String, followingLinks: Bool = true) throws(SystemError) -> FileStatus {
        var info = stat()
        if followingLinks {
            _ = try systemCall("stat", path: path) { stat(path, &info) }
        } else {
            _ = try systemCall("lstat", path: path) { lstat(path, &info) }
        }
        return FileStatus(info)
    }

    /// Creates one directory (mkdir); one that already exists is `.fileExists`.
    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        _ = try systemCall("mkdir", path: path) { mkdir(path, mode) }
    }

    /// Creates a directory and its missing parents with `mode`; an existing non-directory on the
    /// way is an error (ENOTDIR) that says so.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
            do {
                try makeDirectory(prefix, mode: mode)
                continue
            } catch where error.errno == .fileExists {
                // Someone made it (or it was there): fine if it is a directory.
            }
            if try status(prefix).kind != .directory {
                throw SystemError("mkdir", path: prefix, errno: .notDirectory,
                                  detail: "exists but is not a directory; remove it or choose another path")
            }
        }
    }

    /// Adds search (x) permission for others to a directory the process owns, so that other users
    /// can reach what is below it without being able to list it.
    public static func allowTraversal(_ path: String) throws(SystemError) {
        let info = try status(path)
        guard info.owner == geteuid(), info.permissions & 0o001 == 0 else { return }
        _ = try systemCall("chmod", path: path) { chmod(path, info.permissions | 0o011) }
    }

    /// The names in a directory, sorted, without `.` and `..`.
    public static func list(_ path: String) throws(SystemError) -> [String] {
        let directory = try systemCallReturningPointer("opendir", path: path) { opendir(path) }
        defer { closedir(directory) }
        var names: [String] = []
        while true {
            // readdir's NULL means the end, or an error when errno changed: the one call that
            // cannot go through systemCall.
            Glibc.errno = 0
            guard let entry = readdir(directory) else {
                let code = Errno.current
                if code.rawValue != 0 { throw SystemError(failed: "readdir", path: path, errno: code) }
                return names.sorted()
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// Removes a file (unlink); one that is already gone is not an error.
    public static func removeFile(_ path: String) throws(SystemError) {
        do {
            _ = try systemCall("unlink", path: path) { unlink(path) }
        } catch where error.errno == .noSuchFileOrDirectory {
            return
        }
    }

    /// Removes an empty directory (rmdir); `.directoryNotEmpty` or `.resourceBusy` (a cgroup in
    /// use) when it is not.
    public static func removeDirectory(_ path: String) throws(SystemError) {
        _ = try systemCall("rmdir", path: path) { rmdir(path) }
    }

    /// Removes a file or a whole tree; symbolic links are removed, never followed. A path that
    /// is already gone is not an error.
    public static func removeTree(_ path: String) throws(SystemError) {
        let info: FileStatus
        do {
            info = try status(path, followingLinks: false)
        } catch where error.errno == .noSuchFileOrDirectory {
            return
        }
        if info.kind == .directory {
            for name in try list(path) { try removeTree("\(path)/\(name)") }
            try removeDirectory(path)
        } else {
            try removeFile(path)
        }
    }

    /// A second name for the file at `from` (link(2)): the same inode, so the same content and mode.
    public static func link(_ from: String, to: String) throws(SystemError) {
        _ = try systemCall("link", path: from, destination: to) { Glibc.link(from, to) }
    }

    public static func setPermissions(_ path: String, _ mode: mode_t) throws(SystemError) {
        _ = try systemCall("chmod", path: path) { chmod(path, mode) }
    }

    public static func rename(_ from: String, to: String) throws(SystemError) {
        _ = try systemCall("rename", path: from, destination: to) { Glibc.rename(from, to) }
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The absolute path of the running executable, nil if /proc is not mounted.
    public static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count: Int
        do {
            count = try systemCall("readlink", path: "/proc/self/exe") { readlink("/proc/self/exe", &buffer, buffer.count - 1) }
        } catch {
            return nil
        }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Contents

    /// Reads a whole file, refusing one larger than `maxBytes` (EFBIG).
    public static func read(_ path: String, maxBytes: Int = 64 << 20) throws(SystemError) -> [UInt8] {
        let file = try FileDescriptor.open(path, O_RDONLY)
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count = try file.read(into: chunk, path: path)
            if count == 0 { return result }
            if result.count + count > maxBytes {
                throw SystemError("read", path: path, descriptor: file.rawValue, errno: .fileTooLarge, detail: "larger than \(maxBytes) bytes")
            }
            result.append(contentsOf: chunk[0..<count])
        }
    }

    /// Up to `count` bytes of a regular file from `offset` on (fewer at its end), with the file's
    /// status as it was opened (its inode tells a rotated log apart). A symbolic link is refused.
    public static func readRange(_ path: String, from offset: Int, count: Int) throws(SystemError) -> (bytes: [UInt8], status: FileStatus) {
        let file = try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        let status = try file.status(path: path)
        let wanted = max(0, min(count, status.size - offset))
        guard wanted > 0 else { return ([], status) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: wanted, alignment: 16)
        defer { buffer.deallocate() }
        var filled = 0
        let number = file.rawValue
        while filled < wanted {
            let read = try systemCall("pread", path: path, descriptor: number) {
                pread(number, buffer.baseAddress! + filled, wanted - filled, off_t(offset + filled))
            }
            if read == 0 { break }
            filled += read
        }
        return (Array(buffer[0..<filled]), status)
    }

    /// Replaces `path` so that a reader (or a power loss) sees the old or the new content, never a mix:
    /// write a temporary file, fsync it, rename it over, fsync the directory.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws(SystemError) {
        let temporary = "\(path).tmp-\(getpid())"
        let file = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, permissions: mode)
        do throws(SystemError) {
            try bytes.withUnsafeBufferPointer { (buffer) throws(SystemError) in
                try file.writeAll(UnsafeRawBufferPointer(buffer), path: temporary)
            }
            try file.sync(path: temporary)
            try file.close(path: temporary)
            try rename(temporary, to: path)
        } catch {
            throw discarding(temporary, after: error)
        }
        syncDirectory(of: path)
    }

    /// Flushes a directory entry change (a rename) to disk; best effort, since some file systems
    /// refuse to open or fsync a directory, and the change itself has been made.
    public static func syncDirectory(of path: String) {
        do {
            let directory = try FileDescriptor.open(parent(of: path), O_RDONLY | O_DIRECTORY)
            try directory.sync(path: parent(of: path))
        } catch {
            return
        }
    }

    /// Copies a file (used to lay artifacts out in a function's directory); never over an existing
    /// file or through a symbolic link at `to`.
    public static func copy(_ from: String, to: String, mode: mode_t = 0o644) throws(SystemError) {
        let source = try FileDescriptor.open(from, O_RDONLY)
        let target = try FileDescriptor.open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, permissions: mode)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count = try source.read(into: chunk, path: from)
            if count == 0 { break }
            try target.writeAll(UnsafeRawBufferPointer(rebasing: chunk[0..<count]), path: to)
        }
        try target.close(path: to)
    }

    /// `error`, after removing the partial file at `path`; if that fails too, the error says so.
    static func discarding(_ path: String, after error: SystemError) -> SystemError {
        do {
            try removeFile(path)
            return error
        } catch let removal {
            var combined = error
            combined.detail = "\(error.reason); also, the partial file could not be removed: \(removal)"
            return combined
        }
    }
}
