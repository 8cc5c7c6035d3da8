#if canImport(Glibc)
import Glibc
#endif
import EdgePOSIX

// The module's file operations: EdgePOSIX's, with each SystemError put in artifact terms.

/// Opens `path` with `flags` (close-on-exec), for `purpose` ("hashing").
func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0, purpose: String) throws(ArtifactError) -> FileDescriptor {
    do {
        return try FileDescriptor.open(path, flags, permissions: mode)
    } catch {
        throw ArtifactError("cannot open a file for \(purpose)", error)
    }
}

/// Closes a file that was written, reporting failure (the data may not have reached it).
func closeWritten(_ file: consuming FileDescriptor, _ path: String) throws(ArtifactError) {
    do {
        try file.close(path: path)
    } catch {
        throw ArtifactError("cannot finish writing \(path)", error)
    }
}

/// Writes the whole buffer, continuing after short writes.
func writeAll(_ file: borrowing FileDescriptor, _ buffer: UnsafeRawBufferPointer, path: @autoclosure () -> String) throws(ArtifactError) {
    do {
        try file.writeAll(buffer, path: path())
    } catch {
        throw ArtifactError("cannot write the file", error)
    }
}

/// Reads up to `buffer.count` bytes into `buffer`; 0 means end of file.
func readSome(_ file: borrowing FileDescriptor, _ buffer: UnsafeMutableRawBufferPointer, path: @autoclosure () -> String) throws(ArtifactError) -> Int {
    do {
        return try file.read(into: buffer, path: path())
    } catch {
        throw ArtifactError("cannot read the file", error)
    }
}

/// What an open file is (fstat).
func status(of file: borrowing FileDescriptor, _ path: String) throws(ArtifactError) -> FileStatus {
    do {
        return try file.status(path: path)
    } catch {
        throw ArtifactError("cannot inspect the file", error)
    }
}

/// Reads a whole file into memory, refusing files larger than `maxBytes`.
func readWholeFile(_ path: String, maxBytes: Int) throws(ArtifactError) -> [UInt8] {
    // O_NONBLOCK so that a FIFO cannot hang the open; it is then refused as not regular.
    let file = try openFile(path, O_RDONLY | O_NONBLOCK, purpose: "reading")
    let info = try status(of: file, path)
    guard info.kind == .regular else {
        throw ArtifactError("\(path) is not a regular file")
    }
    if info.size > maxBytes {
        throw ArtifactError("\(path) is \(info.size) bytes, more than the limit of \(maxBytes); raise the limit or use a smaller file")
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(info.size)
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    defer { chunk.deallocate() }
    while true {
        let count = try readSome(file, chunk, path: path)
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
    let file = try openFile(path, O_RDONLY | (directory ? O_DIRECTORY : 0), purpose: "syncing")
    do {
        try file.sync(path: path)
    } catch {
        throw ArtifactError("cannot flush \(directory ? "the directory" : "the file") to disk", error)
    }
}

/// Removes a file; a file that is already gone is not an error.
func removeFile(_ path: String) throws(ArtifactError) {
    do {
        try Files.removeFile(path)
    } catch {
        throw ArtifactError("cannot remove a file", error)
    }
}

/// `mkdir -p` with `mode` for the directories it creates; existing non-directories are an error.
func makeDirectories(_ path: String, mode: mode_t) throws(ArtifactError) {
    do {
        try Files.makeDirectories(path, mode: mode)
    } catch {
        throw ArtifactError("cannot create the directory \(path)", error)
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
