#if canImport(Glibc)
import Glibc
#endif
import CEdgeSpawn
import EdgePOSIX

/// Reads and writes the small text files of cgroupfs. A cgroup file is written with one write
/// call (the kernel parses each write as a whole) and read to its end in a small buffer.
enum CgroupFile {
    /// The contents of a cgroup file, or nil if it cannot be read (absent on this kernel).
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 8) { chunk in
            while bytes.count < 1 << 20 {
                let count = Glibc.read(fd, chunk.baseAddress, chunk.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `value` to a cgroup file. Creating the file is allowed so the same code runs against
    /// a plain directory laid out like cgroupfs (the tests); cgroupfs itself never creates one.
    static func write(_ path: String, _ value: String) throws(SystemError) {
        var fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        if fd < 0 && errno == ENOENT && !isCgroupfs(Files.parent(of: path)) {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        }
        if fd < 0 { throw SystemError("open \(path)", errno: errno) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let written = try systemCall("write '\(value)' to \(path)") { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
        if written != bytes.count { throw SystemError("write '\(value)' to \(path): short write", errno: EIO) }
    }

    /// Opens a cgroup.procs file for the child to write itself into before exec.
    static func openForJoining(_ path: String) throws(SystemError) -> Int32 {
        try systemCall("open \(path)") { open(path, O_WRONLY | O_CLOEXEC) }
    }

    /// The pids listed in a cgroup.procs file.
    static func pids(_ path: String) -> [pid_t] {
        guard let text = read(path) else { return [] }
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Child cgroups (directories) of `path`; a folder that cannot be listed is an error, not empty.
    static func children(_ path: String) throws(SystemError) -> [String] {
        try Files.list(path).filter { Files.isDirectory("\(path)/\($0)") }
    }

    /// rmdir of a cgroup and, first, of every cgroup below it. False when one is still in use.
    /// On a plain directory (the tests) the interface files are removed too.
    static func removeTree(_ path: String) -> Bool {
        guard Files.isDirectory(path) else { return true }
        guard let names = try? children(path) else { return false }  // unlistable: not removable either
        for child in names where !removeTree("\(path)/\(child)") { return false }
        if rmdir(path) == 0 || errno == ENOENT { return true }
        if errno == ENOTEMPTY, !isCgroupfs(path) {
            do { try Files.removeTree(path) } catch { return false }
            return true
        }
        return false
    }

    /// Whether `path` is on a cgroup filesystem (v1 or v2), not a plain directory.
    static func isCgroupfs(_ path: String) -> Bool {
        edge_is_cgroupfs(path) == 1
    }
}
