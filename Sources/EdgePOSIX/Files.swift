#if canImport(Glibc)
import Glibc
#endif

/// File-system operations the agent needs, each reporting errno with the path.
public enum Files {
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Reads a whole file, refusing one larger than `maxBytes`.
    public static func read(_ path: String, maxBytes: Int = 64 << 20) throws(SystemError) -> [UInt8] {
        let fd = try systemCall("open \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try systemCall("read \(path)") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if count == 0 { return result }
            if result.count + count > maxBytes { throw SystemError("read \(path): larger than \(maxBytes) bytes", errno: EFBIG) }
            result.append(contentsOf: chunk[0..<count])
        }
    }

    /// Writes all of `bytes` to `fd`.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], what: String) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let written = try systemCall("write \(what)") {
                bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            }
            offset += written
        }
    }

    /// Replaces `path` so that a reader (or a power loss) sees the old or the new content, never a mix:
    /// write a temporary file, fsync it, rename it over, fsync the directory.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws(SystemError) {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = try systemCall("create \(temporary)") { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        do throws(SystemError) {
            try writeAll(fd, bytes, what: temporary)
            _ = try systemCall("fsync \(temporary)") { fsync(fd) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        do throws(SystemError) {
            _ = try systemCall("rename \(temporary) to \(path)") { Glibc.rename(temporary, path) }
        } catch {
            unlink(temporary)
            throw error
        }
        syncDirectory(of: path)
    }

    /// Flushes a directory entry change (a rename) to disk; best effort, since some file systems refuse it.
    public static func syncDirectory(of path: String) {
        let directory = parent(of: path)
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Creates a directory and its missing parents.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        if isDirectory(path) { return }
        let parentPath = parent(of: path)
        if parentPath != path && parentPath != "." && !isDirectory(parentPath) {
            try makeDirectories(parentPath, mode: mode)
        }
        if mkdir(path, mode) != 0 && Glibc.errno != EEXIST {
            throw SystemError("create directory \(path)", errno: Glibc.errno)
        }
    }

    /// Adds search (x) permission for others to a directory the process owns, so that other users
    /// can reach what is below it without being able to list it.
    public static func allowTraversal(_ path: String) throws(SystemError) {
        var info = stat()
        _ = try systemCall("inspect \(path)") { stat(path, &info) }
        guard info.st_uid == geteuid(), info.st_mode & 0o001 == 0 else { return }
        _ = try systemCall("chmod \(path)") { chmod(path, (info.st_mode & 0o7777) | 0o011) }
    }

    /// The names in a directory, without `.` and `..`.
    public static func list(_ path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else { throw SystemError("list \(path)", errno: Glibc.errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes a file or a whole tree; symbolic links are removed, never followed.
    public static func removeTree(_ path: String) throws(SystemError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            if Glibc.errno == ENOENT { return }
            throw SystemError("inspect \(path)", errno: Glibc.errno)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try list(path) { try removeTree("\(path)/\(name)") }
            _ = try systemCall("remove directory \(path)") { rmdir(path) }
        } else {
            _ = try systemCall("remove \(path)") { unlink(path) }
        }
    }

    public static func rename(_ from: String, to: String) throws(SystemError) {
        _ = try systemCall("rename \(from) to \(to)") { Glibc.rename(from, to) }
    }

    /// Copies a file (used to lay artifacts out in a function's directory).
    public static func copy(_ from: String, to: String, mode: mode_t = 0o644) throws(SystemError) {
        let source = try systemCall("open \(from)") { open(from, O_RDONLY | O_CLOEXEC) }
        defer { close(source) }
        let target = try systemCall("create \(to)") { open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode) }
        defer { close(target) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try systemCall("read \(from)") { chunk.withUnsafeMutableBytes { Glibc.read(source, $0.baseAddress, $0.count) } }
            if count == 0 { break }
            try writeAll(target, Array(chunk[0..<count]), what: to)
        }
    }

    /// The size of a file in bytes, or nil if it does not exist.
    public static func size(_ path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }

    /// The absolute path of the running executable.
    public static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
