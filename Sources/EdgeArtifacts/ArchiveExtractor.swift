#if canImport(Glibc)
import Glibc
#endif
import EdgePOSIX

/// Unpacks an archive file into a directory that must already exist.
public enum ArchiveExtractor {
    /// Regular files (mode & 0o755 kept, never setuid/setgid/sticky) and directories only are written, each path
    /// checked with ArchivePath.confined; symlinks are created only when their target, resolved lexically against
    /// the link's own directory, stays inside the root (absolute targets rejected); hard links, devices, FIFOs are
    /// rejected with an error naming the entry. Files are opened with O_CREAT|O_EXCL|O_NOFOLLOW and created through
    /// directories that were themselves created by this extraction (openat/mkdirat relative to a root dir fd
    /// with O_NOFOLLOW on every component, so a symlink written earlier in the same archive can't redirect a later
    /// entry outside). `.tar.gz` is detected by magic bytes too (format .tar with gzip magic is accepted).
    /// Total unpacked bytes capped by maxBytes, entries by maxEntries.
    ///
    /// The archive is streamed twice, never held in memory: once to read and check every entry
    /// (nothing is written before the whole archive is validated), and once to write. Between
    /// the two, the free space of the target's file system is checked against what the files
    /// need: "not enough space in DIR: need X MB, have Y MB". `directory` should be empty: an
    /// entry whose parent already exists there is refused. After a failure while writing, a
    /// partial tree may remain; the caller should extract into a fresh directory and remove it on failure.
    /// Returns the files' bytes and the entries written.
    @discardableResult
    public static func extract(archiveAt path: String, format: ArchiveFormat, into directory: String, maxBytes: Int,
                               maxEntries: Int = .max) throws(ArtifactError) -> (bytes: Int, entries: Int) {
        let plan = try check(archiveAt: path, format: format, maxBytes: maxBytes, maxEntries: maxEntries)
        try FreeSpace.check(directory, bytes: plan.fileBytes, entries: plan.steps.count)
        let root: FileDescriptor
        do {
            root = try FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY)
        } catch {
            throw ArtifactError("cannot open the extraction directory", error)
        }
        var writer = TreeWriter(place: TreeWriter.Place(root: directory, archive: path))
        let reader = TarStreamReader(try ArchiveStream(path: path, format: format, maxOutputBytes: streamLimit(maxBytes)))
        var index = 0
        for step in plan.steps {
            // Entries without a step (the root "./") are skipped.
            while index < step.entry {
                guard try reader.next() != nil else { throw ArtifactError("archive \(path) changed while it was unpacked") }
                index += 1
            }
            guard try reader.next() != nil else { throw ArtifactError("archive \(path) changed while it was unpacked") }
            index += 1
            try writer.apply(step, below: root, data: reader)
        }
        return (plan.fileBytes, plan.steps.count)
    }

    /// Reads the whole archive and checks every entry without writing anything (the first pass
    /// of `extract`); returns the files' bytes and the entries. Also what the fuzzer drives.
    @discardableResult
    public static func validate(archiveAt path: String, format: ArchiveFormat, maxBytes: Int,
                                maxEntries: Int = .max) throws(ArtifactError) -> (bytes: Int, entries: Int) {
        let plan = try check(archiveAt: path, format: format, maxBytes: maxBytes, maxEntries: maxEntries)
        return (plan.fileBytes, plan.steps.count)
    }

    /// Tar bytes in memory, checked as `validate(archiveAt:)` checks a file.
    @discardableResult
    public static func validate(tar bytes: [UInt8], maxBytes: Int, maxEntries: Int = .max) throws(ArtifactError) -> (bytes: Int, entries: Int) {
        let plan = try ExtractionPlan(entries: TarReader.entries(in: bytes), maxBytes: maxBytes, maxEntries: maxEntries)
        return (plan.fileBytes, plan.steps.count)
    }

    /// Headers and padding add to the files' own size: the stream may be somewhat larger than maxBytes.
    private static func streamLimit(_ maxBytes: Int) -> Int {
        let (doubled, overflow) = maxBytes.multipliedReportingOverflow(by: 2)
        return overflow ? Int.max : doubled.addingReportingOverflow(1 << 20).partialValue
    }

    private static func check(archiveAt path: String, format: ArchiveFormat, maxBytes: Int,
                              maxEntries: Int) throws(ArtifactError) -> ExtractionPlan {
        var entries: [TarEntry] = []
        do {
            let reader = TarStreamReader(try ArchiveStream(path: path, format: format, maxOutputBytes: streamLimit(maxBytes)))
            while let entry = try reader.next() {
                entries.append(entry)
                if entries.count > maxEntries { break }
            }
        } catch {
            throw error.description.hasPrefix("archive ") ? error : ArtifactError("archive \(path): \(error.description)")
        }
        do {
            return try ExtractionPlan(entries: entries, maxBytes: maxBytes, maxEntries: maxEntries)
        } catch {
            throw ArtifactError("archive \(path): \(error.description)")
        }
    }
}

/// Creates the planned entries below an open root directory, never following a symlink on the way.
private struct TreeWriter {
    /// Where the tree goes, for messages.
    struct Place {
        let root: String
        let archive: String

        func path(_ relative: String) -> String { relative.isEmpty ? root : "\(root)/\(relative)" }

        func fail(_ step: ExtractionPlan.Step, _ what: String, _ error: SystemError) -> ArtifactError {
            ArtifactError("archive \(archive): entry \"\(step.name)\": \(what) in \(root)", error)
        }
    }

    let place: Place
    /// Relative paths of the directories this extraction made; the only ones it will descend into.
    private var created: Set<String> = []

    init(place: Place) {
        self.place = place
    }

    mutating func apply(_ step: ExtractionPlan.Step, below root: borrowing FileDescriptor, data: TarStreamReader) throws(ArtifactError) {
        let place = self.place
        switch step.action {
        case .directory(let mode):
            try descend(from: root, into: step.components[...], for: step) { (directory) throws(ArtifactError) in
                try Self.setMode(directory, mode, step, place)
            }
        case .file(let mode, _, _):
            try descend(from: root, into: step.components.dropLast(), for: step) { (parent) throws(ArtifactError) in
                try Self.writeFile(in: parent, step, mode: mode, data: data, place)
            }
        case .symlink(let target):
            try descend(from: root, into: step.components.dropLast(), for: step) { (parent) throws(ArtifactError) in
                let name = step.components[step.components.count - 1]
                do throws(SystemError) {
                    try parent.makeSymbolicLink(at: name, to: target, path: place.path(step.components.joined(separator: "/")))
                } catch {
                    throw place.fail(step, "cannot create symlink", error)
                }
            }
        }
    }

    /// Walks `components` down from `parent`, creating missing directories, and runs `body` on the
    /// last one (on `parent` when there are none). A component that exists but was not created
    /// here is refused: it may be a pre-existing symlink. Each directory is closed on the way back.
    private mutating func descend(from parent: borrowing FileDescriptor, into components: ArraySlice<String>, prefix: String = "",
                                  for step: ExtractionPlan.Step, _ body: (borrowing FileDescriptor) throws(ArtifactError) -> Void) throws(ArtifactError) {
        guard let component = components.first else {
            try body(parent)
            return
        }
        let relative = prefix.isEmpty ? component : prefix + "/" + component
        var madeNow = false
        if !created.contains(relative) {
            do {
                try parent.makeDirectory(at: component, permissions: 0o700, path: place.path(relative))
            } catch where error.errno == .fileExists {
                throw ArtifactError("archive \(place.archive): entry \"\(step.name)\" needs \"\(relative)\", which already exists in \(place.root) and was not created by this extraction; extract into an empty directory")
            } catch {
                throw place.fail(step, "cannot create directory \"\(relative)\"", error)
            }
            created.insert(relative)
            madeNow = true
        }
        let directory = try Self.openDirectory(component, in: parent, relative, step, place)
        // Directories implied by deeper entries get the usual 0755; explicit entries set their own mode later.
        if madeNow { try Self.setMode(directory, 0o755, step, place) }
        try descend(from: directory, into: components.dropFirst(), prefix: relative, for: step, body)
    }

    private static func openDirectory(_ name: String, in parent: borrowing FileDescriptor, _ relative: String,
                                      _ step: ExtractionPlan.Step, _ place: Place) throws(ArtifactError) -> FileDescriptor {
        do {
            return try parent.open(at: name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, path: place.path(relative))
        } catch {
            throw place.fail(step, "cannot open directory \"\(relative)\"", error)
        }
    }

    private static func writeFile(in parent: borrowing FileDescriptor, _ step: ExtractionPlan.Step, mode: mode_t,
                                  data: TarStreamReader, _ place: Place) throws(ArtifactError) {
        let name = step.components[step.components.count - 1]
        let path = place.path(step.components.joined(separator: "/"))
        let file = try createFile(name, in: parent, path, step, place)
        try data.copyData { (piece) throws(ArtifactError) in try writeAll(file, piece, path: path) }
        try setMode(file, mode, step, place)
        try closeWritten(file, path)
    }

    private static func createFile(_ name: String, in parent: borrowing FileDescriptor, _ path: String,
                                   _ step: ExtractionPlan.Step, _ place: Place) throws(ArtifactError) -> FileDescriptor {
        do {
            return try parent.open(at: name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, permissions: 0o600, path: path)
        } catch {
            throw place.fail(step, "cannot create file", error)
        }
    }

    /// fchmod, so the archive's mode is applied exactly (the umask only shaped the initial creation).
    private static func setMode(_ file: borrowing FileDescriptor, _ mode: mode_t, _ step: ExtractionPlan.Step, _ place: Place) throws(ArtifactError) {
        do {
            try file.setPermissions(mode)
        } catch {
            throw place.fail(step, "cannot set mode \(String(mode, radix: 8))", error)
        }
    }
}
