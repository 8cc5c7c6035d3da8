#if canImport(Glibc)
import Glibc
#endif

/// Unpacks an archive file into a directory that must already exist.
public enum ArchiveExtractor {
    /// Regular files (mode & 0o755 kept, never setuid/setgid/sticky) and directories only are written, each path
    /// checked with ArchivePath.confined; symlinks are created only when their target, resolved lexically against
    /// the link's own directory, stays inside the root (absolute targets rejected); hard links, devices, FIFOs are
    /// rejected with an error naming the entry. Files are opened with O_CREAT|O_EXCL|O_NOFOLLOW and created through
    /// directories that were themselves created by this extraction (openat/mkdirat relative to a root dir fd
    /// with O_NOFOLLOW on every component, so a symlink written earlier in the same archive can't redirect a later
    /// entry outside). `.tar.gz` is detected by magic bytes too (format .tar with gzip magic is accepted).
    /// Total unpacked bytes capped by maxBytes.
    ///
    /// The whole archive is validated before anything is written. `directory` should be empty: an entry whose
    /// parent already exists there is refused. After a failure while writing, a partial tree may remain; the
    /// caller should extract into a fresh directory and remove it on failure.
    public static func extract(archiveAt path: String, format: ArchiveFormat, into directory: String, maxBytes: Int) throws(ArtifactError) {
        let tar = try loadTarBytes(path, format: format, maxBytes: maxBytes)
        let plan: ExtractionPlan
        do {
            plan = try ExtractionPlan(entries: TarReader.entries(in: tar), maxBytes: maxBytes)
        } catch {
            throw ArtifactError("archive \(path): \(error.description)")
        }
        let rootFD: Int32
        do {
            rootFD = try retryingEINTR { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        } catch {
            throw ArtifactError("cannot open extraction directory \(directory)", errno: error.code)
        }
        defer { closeAfterUse(rootFD) }
        var writer = TreeWriter(rootFD: rootFD, root: directory, archive: path)
        for step in plan.steps {
            try writer.apply(step, archiveBytes: tar)
        }
    }

    /// The uncompressed tar stream. Headers and padding add to the files' own size, so the stream may be somewhat
    /// larger than `maxBytes`; the file sizes themselves are capped by the plan.
    private static func loadTarBytes(_ path: String, format: ArchiveFormat, maxBytes: Int) throws(ArtifactError) -> [UInt8] {
        let (doubled, overflow) = maxBytes.multipliedReportingOverflow(by: 2)
        let streamLimit = overflow ? Int.max : doubled.addingReportingOverflow(1 << 20).partialValue
        let raw = try readWholeFile(path, maxBytes: streamLimit)
        if Gzip.isGzip(raw) {
            do {
                return try Gzip.decompress(raw, maxOutputBytes: streamLimit)
            } catch {
                throw ArtifactError("archive \(path): \(error.description)")
            }
        }
        if format == .tarGz {
            throw ArtifactError("archive \(path) was declared as tar.gz but is not gzip-compressed; check the artifact's format")
        }
        return raw
    }
}

/// Creates the planned entries below an open root directory, never following a symlink on the way.
private struct TreeWriter {
    let rootFD: Int32
    let root: String
    let archive: String
    /// Relative paths of the directories this extraction made; the only ones it will descend into.
    private var created: Set<String> = []

    init(rootFD: Int32, root: String, archive: String) {
        self.rootFD = rootFD
        self.root = root
        self.archive = archive
    }

    mutating func apply(_ step: ExtractionPlan.Step, archiveBytes: [UInt8]) throws(ArtifactError) {
        switch step.action {
        case .directory(let mode):
            let fd = try openDirectories(step.components[...], for: step)
            defer { if fd != rootFD { closeAfterUse(fd) } }
            try setMode(fd, mode, step)
        case .file(let mode, let dataOffset, let size):
            let parent = try openDirectories(step.components.dropLast(), for: step)
            defer { if parent != rootFD { closeAfterUse(parent) } }
            try writeFile(in: parent, step, mode: mode, data: archiveBytes, offset: dataOffset, size: size)
        case .symlink(let target):
            let parent = try openDirectories(step.components.dropLast(), for: step)
            defer { if parent != rootFD { closeAfterUse(parent) } }
            let name = step.components[step.components.count - 1]
            do {
                _ = try retryingEINTR { symlinkat(target, parent, name) }
            } catch {
                throw fail(step, "cannot create symlink", errno: error.code)
            }
        }
    }

    /// Walks `components` from the root, creating missing directories, and returns the last one opened.
    /// A component that exists but was not created here is refused: it may be a pre-existing symlink.
    private mutating func openDirectories(_ components: ArraySlice<String>, for step: ExtractionPlan.Step) throws(ArtifactError) -> Int32 {
        var current = rootFD
        var prefix = ""
        for component in components {
            prefix += prefix.isEmpty ? component : "/" + component
            var madeNow = false
            if !created.contains(prefix) {
                do {
                    let parent = current
                    _ = try retryingEINTR { mkdirat(parent, component, 0o700) }
                } catch {
                    let code = error.code
                    if current != rootFD { closeAfterUse(current) }
                    if code == EEXIST {
                        throw ArtifactError("archive \(archive): entry \"\(step.name)\" needs \"\(prefix)\", which already exists in \(root) and was not created by this extraction; extract into an empty directory")
                    }
                    throw fail(step, "cannot create directory \"\(prefix)\"", errno: code)
                }
                created.insert(prefix)
                madeNow = true
            }
            let parent = current
            let next: Int32
            do {
                next = try retryingEINTR { openat(parent, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            } catch {
                if current != rootFD { closeAfterUse(current) }
                throw fail(step, "cannot open directory \"\(prefix)\"", errno: error.code)
            }
            if current != rootFD { closeAfterUse(current) }
            current = next
            // Directories implied by deeper entries get the usual 0755; explicit entries set their own mode later.
            if madeNow {
                do {
                    try setMode(current, 0o755, step)
                } catch {
                    closeAfterUse(current)
                    throw error
                }
            }
        }
        return current
    }

    private func writeFile(in parent: Int32, _ step: ExtractionPlan.Step, mode: mode_t, data: [UInt8], offset: Int, size: Int) throws(ArtifactError) {
        let name = step.components[step.components.count - 1]
        let fd: Int32
        do {
            fd = try retryingEINTR { openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        } catch {
            throw fail(step, "cannot create file", errno: error.code)
        }
        do {
            try data.withUnsafeBufferPointer { (bytes) throws(ArtifactError) in
                let slice = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[offset..<(offset + size)]))
                try writeAll(fd, slice, path: "\(root)/\(step.components.joined(separator: "/"))")
            }
            try setMode(fd, mode, step)
        } catch {
            closeAfterUse(fd)
            throw error
        }
        try closeChecked(fd, "\(root)/\(step.components.joined(separator: "/"))")
    }

    /// fchmod, so the archive's mode is applied exactly (the umask only shaped the initial creation).
    private func setMode(_ fd: Int32, _ mode: mode_t, _ step: ExtractionPlan.Step) throws(ArtifactError) {
        do {
            _ = try retryingEINTR { fchmod(fd, mode) }
        } catch {
            throw fail(step, "cannot set mode \(String(mode, radix: 8))", errno: error.code)
        }
    }

    private func fail(_ step: ExtractionPlan.Step, _ what: String, errno code: Int32) -> ArtifactError {
        ArtifactError("archive \(archive): entry \"\(step.name)\": \(what) in \(root)", errno: code)
    }
}
