#if canImport(Glibc)
import Glibc
#endif
import CEdgeSpawn
import EdgePOSIX

/// Reads and writes the small text files of cgroupfs. A cgroup file is written with one write
/// call (the kernel parses each write as a whole) and read to its end in a small buffer.
enum CgroupFile {
    /// The contents of a cgroup file, or nil if it cannot be read: an interface file a kernel
    /// lacks is absent, and every caller treats that as "not available here".
    static func read(_ path: String) -> String? {
        do {
            let file = try FileDescriptor.open(path, O_RDONLY)
            var bytes: [UInt8] = []
            try withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 8) { (chunk) throws(SystemError) in
                while bytes.count < 1 << 20 {
                    let count = try file.read(into: chunk, path: path)
                    if count == 0 { break }
                    bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        } catch {
            return nil
        }
    }

    /// Writes `value` to a cgroup file. Creating the file is allowed so the same code runs against
    /// a plain directory laid out like cgroupfs (the tests); cgroupfs itself never creates one.
    static func write(_ path: String, _ value: String) throws(SystemError) {
        let file = try openForWriting(path)
        let bytes = Array(value.utf8)
        let written = try bytes.withUnsafeBufferPointer { (buffer) throws(SystemError) in
            try file.write(UnsafeRawBufferPointer(buffer), path: path)
        }
        if written != bytes.count {
            throw SystemError("write", path: path, descriptor: file.rawValue, errno: .ioError,
                              detail: "wrote \(written) of the \(bytes.count) bytes of '\(value)'")
        }
        try file.close(path: path)
    }

    private static func openForWriting(_ path: String) throws(SystemError) -> FileDescriptor {
        do {
            return try FileDescriptor.open(path, O_WRONLY | O_TRUNC)
        } catch where error.errno == .noSuchFileOrDirectory && !isCgroupfs(Files.parent(of: path)) {
            return try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_TRUNC, permissions: 0o644)
        }
    }

    /// Opens a cgroup.procs file for the child to write itself into before exec.
    static func openForJoining(_ path: String) throws(SystemError) -> FileDescriptor {
        try FileDescriptor.open(path, O_WRONLY)
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

    /// rmdir of a cgroup and, first, of every cgroup below it. False when one is still in use
    /// (EBUSY, ENOTEMPTY) or cannot be listed or removed.
    /// On a plain directory (the tests) the interface files are removed too.
    static func removeTree(_ path: String) -> Bool {
        guard Files.isDirectory(path) else { return true }
        let names: [String]
        do { names = try children(path) } catch { return false }  // unlistable: not removable either
        for child in names where !removeTree("\(path)/\(child)") { return false }
        do {
            try Files.removeDirectory(path)
            return true
        } catch where error.errno == .noSuchFileOrDirectory {
            return true
        } catch where error.errno == .directoryNotEmpty && !isCgroupfs(path) {
            do { try Files.removeTree(path) } catch { return false }
            return true
        } catch {
            return false
        }
    }

    /// Whether `path` is on a cgroup filesystem (v1 or v2), not a plain directory.
    static func isCgroupfs(_ path: String) -> Bool {
        edge_is_cgroupfs(path) == 1
    }
}
