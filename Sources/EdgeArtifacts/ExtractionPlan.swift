#if canImport(Glibc)
import Glibc
#endif

/// The validated, ordered list of things an extraction will create. Built before anything touches the disk,
/// so that an archive with a forbidden entry is rejected without writing anything.
struct ExtractionPlan {
    enum Action {
        case directory(mode: mode_t)
        case file(mode: mode_t, dataOffset: Int, size: Int)
        case symlink(target: String)
    }

    struct Step {
        /// The entry's position in the archive (0 for the first).
        let entry: Int
        /// The entry's name as written in the archive, for messages.
        let name: String
        /// Confined, normalised path components; never empty.
        let components: [String]
        let action: Action
    }

    private enum Node { case directory, file, symlink }

    private(set) var steps: [Step] = []
    /// The regular files' bytes together.
    private(set) var fileBytes = 0

    /// Checks every entry: confined paths, allowed kinds, no entry under a file or symlink of this archive,
    /// no duplicates, symlink targets that stay inside, the total size of files against `maxBytes`
    /// and the number of entries against `maxEntries`.
    init(entries: [TarEntry], maxBytes: Int, maxEntries: Int = .max) throws(ArtifactError) {
        var nodes: [String: Node] = [:]
        var totalBytes = 0
        if entries.count > maxEntries {
            throw ArtifactError("the archive holds \(entries.count) entries, more than the limit of \(maxEntries); ship fewer files (pack them into one) or raise the limit")
        }

        for (index, entry) in entries.enumerated() {
            let components = try ArchivePath.confined(entry.path)
            let node: Node
            let action: Action
            switch entry.kind {
            case .directory:
                node = .directory
                // Owner rwx is always kept so that the extraction itself can fill the directory.
                action = .directory(mode: mode_t(entry.mode & 0o755) | 0o700)
            case .file:
                node = .file
                action = .file(mode: mode_t(entry.mode & 0o755), dataOffset: entry.dataOffset, size: entry.size)
                let (sum, overflow) = totalBytes.addingReportingOverflow(entry.size)
                guard !overflow, sum <= maxBytes else {
                    throw ArtifactError("archive entry \"\(entry.path)\" takes the unpacked size past the limit of \(maxBytes) bytes; raise the limit or ship a smaller artifact")
                }
                totalBytes = sum
            case .symlink(let target):
                node = .symlink
                action = .symlink(target: target)
            case .hardlink(let target):
                throw ArtifactError("archive entry \"\(entry.path)\" is a hard link to \"\(target)\"; hard links are not extracted, re-create the archive with copies instead (e.g. tar --hard-dereference)")
            case .other(let flag):
                throw ArtifactError("archive entry \"\(entry.path)\" is a \(Self.describe(typeFlag: flag)); only regular files, directories and symlinks can be extracted")
            }

            if components.isEmpty {
                // "./" names the extraction root, which already exists.
                guard node == .directory else {
                    throw ArtifactError("archive entry \"\(entry.path)\" names the extraction directory itself but is not a directory; the archive is malformed")
                }
                continue
            }

            var prefix = ""
            for component in components.dropLast() {
                prefix += prefix.isEmpty ? component : "/" + component
                switch nodes[prefix] {
                case nil: nodes[prefix] = .directory
                case .directory?: break
                case .file?:
                    throw ArtifactError("archive entry \"\(entry.path)\" lies under \"\(prefix)\", which is a regular file in the same archive; the archive is malformed")
                case .symlink?:
                    throw ArtifactError("archive entry \"\(entry.path)\" would be written through the symlink \"\(prefix)\" from the same archive; refusing, since that could place it outside the target directory")
                }
            }

            let key = components.joined(separator: "/")
            if let existing = nodes[key] {
                guard existing == .directory && node == .directory else {
                    throw ArtifactError("archive entry \"\(entry.path)\" appears more than once in the archive; refusing to overwrite the earlier one")
                }
            }
            nodes[key] = node
            steps.append(Step(entry: index, name: entry.path, components: components, action: action))
        }

        fileBytes = totalBytes
        // Symlinks are checked last so that every symlink of the archive is known, whatever the order.
        let symlinks = Set(nodes.compactMap { $0.value == .symlink ? $0.key : nil })
        for step in steps {
            if case .symlink(let target) = step.action {
                try Self.checkSymlink(step, target: target, symlinks: symlinks)
            }
        }
    }

    /// Resolves the target lexically from the link's own directory; it must stay inside the root and must not
    /// pass through another symlink (whose own target would make the lexical answer wrong).
    private static func checkSymlink(_ step: Step, target: String, symlinks: Set<String>) throws(ArtifactError) {
        if target.isEmpty || target.utf8.contains(0) {
            throw ArtifactError("archive entry \"\(step.name)\" is a symlink with an empty or NUL-containing target; the archive is malformed")
        }
        if target.hasPrefix("/") {
            throw ArtifactError("archive entry \"\(step.name)\" is a symlink to the absolute path \"\(target)\"; only relative targets inside the archive are allowed")
        }
        var resolved = Array(step.components.dropLast())
        for part in target.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            let current = resolved.joined(separator: "/")
            if !resolved.isEmpty && symlinks.contains(current) {
                throw ArtifactError("archive entry \"\(step.name)\" is a symlink to \"\(target)\", which passes through the symlink \"\(current)\"; refusing, since that could lead outside the target directory")
            }
            if part == ".." {
                guard !resolved.isEmpty else {
                    throw ArtifactError("archive entry \"\(step.name)\" is a symlink to \"\(target)\", which points outside the target directory; refusing")
                }
                resolved.removeLast()
            } else {
                resolved.append(String(part))
            }
        }
    }

    /// A readable name for a tar type flag, for rejection messages.
    static func describe(typeFlag flag: UInt8) -> String {
        switch flag {
        case UInt8(ascii: "3"): return "character device"
        case UInt8(ascii: "4"): return "block device"
        case UInt8(ascii: "6"): return "FIFO"
        case UInt8(ascii: "S"): return "GNU sparse file"
        case UInt8(ascii: "V"): return "volume label"
        case UInt8(ascii: "D"): return "GNU directory dump"
        case UInt8(ascii: "M"): return "multi-volume continuation"
        case 0x21...0x7e: return "entry of unsupported type '\(String(UnicodeScalar(flag)))'"
        default: return "entry of unsupported type \(flag)"
        }
    }
}
