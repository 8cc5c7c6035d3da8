#if canImport(Glibc)
import Glibc
#endif

/// An errno captured immediately after a failed system call.
struct Errno: Error {
    let code: Int32
}

/// Runs a descriptor-returning call, retrying on EINTR; throws the errno captured right after a failure.
func retryingEINTR(_ call: () -> Int32) throws(Errno) -> Int32 {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = errno
        if code != EINTR { throw Errno(code: code) }
    }
}

/// Same as `retryingEINTR` for calls returning `ssize_t` (read, write, readlink).
func retryingEINTR(_ call: () -> Int) throws(Errno) -> Int {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = errno
        if code != EINTR { throw Errno(code: code) }
    }
}

/// Closes a descriptor, reporting failure. Never retried: on Linux the descriptor is gone even after EINTR.
func closeChecked(_ fd: Int32, _ what: @autoclosure () -> String) throws(ArtifactError) {
    if close(fd) != 0 {
        let code = errno
        if code == EINTR { return }
        throw ArtifactError("closing \(what())", errno: code)
    }
}

/// Closes a descriptor used only for reading or on an error path, where a close failure changes nothing.
func closeAfterUse(_ fd: Int32) {
    _ = close(fd)
}

/// Opens `path` with `flags`, naming `path` in the error.
func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0, purpose: String) throws(ArtifactError) -> Int32 {
    do {
        return try retryingEINTR { open(path, flags | O_CLOEXEC, mode) }
    } catch {
        throw ArtifactError("cannot open \(path) for \(purpose)", errno: error.code)
    }
}

/// Writes the whole buffer, continuing after short writes.
func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: @autoclosure () -> String) throws(ArtifactError) {
    guard var cursor = buffer.baseAddress else { return }
    var remaining = buffer.count
    while remaining > 0 {
        let written: Int
        do {
            let chunk = cursor
            let count = remaining
            written = try retryingEINTR { write(fd, chunk, count) }
        } catch {
            throw ArtifactError("cannot write \(path())", errno: error.code)
        }
        cursor += written
        remaining -= written
    }
}

/// Reads up to `count` bytes into `buffer`; 0 means end of file.
func readSome(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, path: @autoclosure () -> String) throws(ArtifactError) -> Int {
    do {
        return try retryingEINTR { read(fd, buffer.baseAddress, buffer.count) }
    } catch {
        throw ArtifactError("cannot read \(path())", errno: error.code)
    }
}

/// Reads a whole file into memory, refusing files larger than `maxBytes`.
func readWholeFile(_ path: String, maxBytes: Int) throws(ArtifactError) -> [UInt8] {
    // O_NONBLOCK so that a FIFO cannot hang the open; it is then refused as not regular.
    let fd = try openFile(path, O_RDONLY | O_NONBLOCK, purpose: "reading")
    defer { closeAfterUse(fd) }
    var info = stat()
    do {
        _ = try retryingEINTR { fstat(fd, &info) }
    } catch {
        throw ArtifactError("cannot stat \(path)", errno: error.code)
    }
    guard info.st_mode & S_IFMT == S_IFREG else {
        throw ArtifactError("\(path) is not a regular file")
    }
    let size = Int(info.st_size)
    if size > maxBytes {
        throw ArtifactError("\(path) is \(size) bytes, more than the limit of \(maxBytes); raise the limit or use a smaller file")
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(size)
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    defer { chunk.deallocate() }
    while true {
        let count = try readSome(fd, chunk, path: path)
        if count == 0 { break }
        // The file may have grown since fstat; keep enforcing the cap.
        if bytes.count + count > maxBytes {
            throw ArtifactError("\(path) grew past the limit of \(maxBytes) bytes while being read")
        }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
}

/// Flushes a file or directory to stable storage.
func syncPath(_ path: String, directory: Bool) throws(ArtifactError) {
    let fd = try openFile(path, O_RDONLY | (directory ? O_DIRECTORY : 0), purpose: "syncing")
    defer { closeAfterUse(fd) }
    do {
        _ = try retryingEINTR { fsync(fd) }
    } catch {
        throw ArtifactError("cannot fsync \(path)", errno: error.code)
    }
}

/// Removes a file; a file that is already gone is not an error.
func removeFile(_ path: String) throws(ArtifactError) {
    do {
        _ = try retryingEINTR { unlink(path) }
    } catch {
        if error.code != ENOENT { throw ArtifactError("cannot remove \(path)", errno: error.code) }
    }
}

/// `mkdir -p` with `mode` for the directories it creates; existing non-directories are an error.
func makeDirectories(_ path: String, mode: mode_t) throws(ArtifactError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/", omittingEmptySubsequences: true) {
        prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
        let current = prefix
        do {
            _ = try retryingEINTR { mkdir(current, mode) }
            continue
        } catch {
            guard error.code == EEXIST else {
                throw ArtifactError("cannot create directory \(prefix)", errno: error.code)
            }
        }
        var info = stat()
        do {
            _ = try retryingEINTR { stat(current, &info) }
        } catch {
            throw ArtifactError("cannot stat \(prefix)", errno: error.code)
        }
        if info.st_mode & S_IFMT != S_IFDIR {
            throw ArtifactError("\(prefix) exists but is not a directory; remove it or choose another path")
        }
    }
}

/// Removes a partially written file after `error`; if that fails too, the message says so.
func discardingPartial(_ path: String, after error: ArtifactError) -> ArtifactError {
    do {
        try removeFile(path)
        return error
    } catch let removal {
        return ArtifactError("\(error.description); also, the partial file could not be removed: \(removal.description)")
    }
}
