#if canImport(Glibc)
import Glibc
#endif
import EdgeArtifacts
import EdgeCore
import EdgePOSIX

/// Lays out each function's directory from verified artifacts: fetched into the content store
/// once, then linked, copied or unpacked into `<state>/functions/<name>/<version>-<key>`, built
/// in a staging folder and renamed into place so a directory that exists is always complete.
///
/// A file artifact is a hard link to the store's blob (no copy, nothing more to write to disk)
/// when the function cannot write to it: it runs as a user of its own, not root and not the
/// agent's, and the blob is read-only for everyone. Otherwise (a function that runs as the
/// agent's user could write to the store anyway) it is a copy, as it is across filesystems.
struct ArtifactStager: Sendable {
    let stateDir: String
    static let maxArtifactBytes = 2 << 30
    /// What the archives of one deployment may unpack to, together (each is checked before it
    /// is written, and so is the disk's free space).
    static let maxUnpackedBytes = 4 << 30
    static let maxUnpackedEntries = 20_000
    static let fetchTimeoutSeconds = 300

    var functionsDir: String { "\(stateDir)/functions" }
    var storeDir: String { "\(stateDir)/artifacts" }

    /// Where a spec's files live; the same artifacts always map to the same folder.
    func directory(for spec: FunctionSpec) -> String {
        var key = ""
        for artifact in spec.artifacts {
            key += "\(artifact.sha256)|\(artifact.unarchive.rawValue)|\(artifact.name)\n"
        }
        if case .command(let argv) = spec.entry { key += "command:\(argv[0])\n" }
        return "\(functionsDir)/\(spec.name)/\(spec.version)-\(SHA256.hex(of: Array(key.utf8)).prefix(12))"
    }

    /// Stages every spec; returns name → directory, or the first failure with the field it concerns.
    func stage(_ specs: [FunctionSpec]) -> Result<[String: String], StagingFailure> {
        let store: ContentStore
        do {
            // Others may reach their own folder (functions/<name>, 0750 with its group), not list them.
            try Files.makeDirectories(functionsDir, mode: 0o711)
            try Files.setPermissions(functionsDir, 0o711)
            store = try ContentStore(root: storeDir)
        } catch {
            return .failure(StagingFailure(path: "(state directory)", message: "cannot prepare \(stateDir): \(error)"))
        }
        var directories: [String: String] = [:]
        var budget = UnpackBudget(bytes: Self.maxUnpackedBytes, entries: Self.maxUnpackedEntries)
        for spec in specs {
            let target = directory(for: spec)
            if Files.isDirectory(target) {
                directories[spec.name] = target
                continue
            }
            switch build(spec, into: target, store: store, budget: &budget) {
            case .success: directories[spec.name] = target
            case .failure(let failure): return .failure(failure)
            }
        }
        return .success(directories)
    }

    /// What is left of a deployment's unpacking caps.
    struct UnpackBudget {
        var bytes: Int
        var entries: Int
    }

    private func build(_ spec: FunctionSpec, into target: String, store: ContentStore, budget: inout UnpackBudget) -> Result<Void, StagingFailure> {
        let staging = "\(target).staging"
        var executableName: String?
        if case .command(let argv) = spec.entry, !argv[0].hasPrefix("/") { executableName = argv[0] }
        let linkable = Self.cannotWrite(asUser: spec.user)
        do {
            try Files.removeTree(staging)
            // Its own folder is closed to others until the function's first start opens it to its group.
            try Files.makeDirectories(Files.parent(of: target), mode: 0o700)
            try Files.makeDirectories(staging, mode: 0o755)
        } catch {
            return .failure(StagingFailure(path: "functions.\(spec.name)", message: "cannot create \(staging): \(error)"))
        }
        for (index, artifact) in spec.artifacts.enumerated() {
            let path = "functions.\(spec.name).artifacts[\(index)]"
            do {
                let blob = try store.ensure(uri: artifact.uri, sha256: artifact.sha256,
                                            maxBytes: Self.maxArtifactBytes, timeoutSeconds: Self.fetchTimeoutSeconds)
                switch artifact.unarchive {
                case .none:
                    try place(blob.path, at: "\(staging)/\(artifact.name)", executable: artifact.name == executableName, link: linkable)
                case .tar, .tarGz:
                    let unpacked = try ArchiveExtractor.extract(archiveAt: blob.path, format: artifact.unarchive == .tar ? .tar : .tarGz,
                                                                into: staging, maxBytes: budget.bytes, maxEntries: budget.entries)
                    budget.bytes -= unpacked.bytes
                    budget.entries -= unpacked.entries
                }
            } catch {
                var message = String(describing: error)
                do { try Files.removeTree(staging) } catch let cleanup { message += " (and \(staging) could not be removed: \(cleanup))" }
                return .failure(StagingFailure(path: path, message: message))
            }
        }
        do {
            try Files.makeDirectories(Files.parent(of: target))
            try Files.rename(staging, to: target)
            Files.syncDirectory(of: target)
        } catch {
            return .failure(StagingFailure(path: "functions.\(spec.name)", message: "cannot move \(staging) into place: \(error)"))
        }
        return .success(())
    }

    /// A file artifact in a function's folder: a link to the blob, read-only (and executable
    /// when it is the command: a link shares its mode), else a copy as before (0o644, 0o755).
    private func place(_ blob: String, at path: String, executable: Bool, link: Bool) throws(SystemError) {
        if link {
            do {
                let mode = try Files.status(blob, followingLinks: false).permissions
                // 0o555 serves both uses of a blob; never anything writable.
                if mode != 0o555 && mode != (executable ? 0o555 : 0o444) {
                    try Files.setPermissions(blob, executable ? 0o555 : 0o444)
                }
                try Files.link(blob, to: path)
                return
            } catch where [.crossDevice, .notPermitted, .tooManyLinks].contains(error.errno) {
                // Another filesystem, or one without hard links: copy instead.
            }
        }
        try Files.copy(blob, to: path, mode: executable ? 0o755 : 0o644)
    }

    /// Whether a function running as `user` can never write a file owned by the agent's user
    /// with mode 0o444: it runs as another user, and not as root.
    /// No user when the agent is root means a uid of its own (an agent running as root names
    /// every other user, root included, at admission).
    static func cannotWrite(asUser user: String?) -> Bool {
        guard let user else { return geteuid() == 0 }
        guard let identity = Users.lookup(user) else { return false }
        return identity.uid != 0 && identity.uid != geteuid()
    }

    /// Removes function folders and stored artifacts that no deployment in `keep` uses.
    func collectGarbage(keeping keep: [EffectiveDeployment]) -> String? {
        var wantedDirs: Set<String> = []
        var wantedDigests: Set<String> = []
        for deployment in keep {
            for spec in deployment.functions.values {
                wantedDirs.insert(directory(for: spec))
                for artifact in spec.artifacts { wantedDigests.insert(artifact.sha256) }
            }
        }
        do {
            for name in try Files.list(functionsDir) {
                let folder = "\(functionsDir)/\(name)"
                for version in try Files.list(folder) where !wantedDirs.contains("\(folder)/\(version)") {
                    try Files.removeTree("\(folder)/\(version)")
                }
                if try Files.list(folder).isEmpty { try Files.removeTree(folder) }
            }
            _ = try ContentStore(root: storeDir).collectGarbage(keeping: wantedDigests)
            return nil
        } catch {
            return String(describing: error)
        }
    }
}

