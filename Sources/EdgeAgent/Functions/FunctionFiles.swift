#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// A function that runs under a uid of its own, and the folder it may write.
struct OwnIdentity {
    var uid: UInt32
    /// `<stateDir>/data/<name>`: its own (mode 0700), kept across versions and restarts.
    var dataDir: String
}

/// Who may reach a function's files, set before each start (so a folder staged by an older
/// agent, or a uid changed since, is put right): its folder `functions/<name>` belongs to root
/// and the function's group, mode 0750, so other functions cannot read its code or models; a
/// function with a uid of its own also gets `data/<name>`, its own. Only an agent running as
/// root switches users, and only it does any of this.
enum FunctionFiles {
    static func prepare(_ spec: FunctionSpec, directory: String, host: FunctionHost) throws(LaunchError) -> OwnIdentity? {
        guard Users.isRoot else { return nil }
        var own: OwnIdentity?
        let group: UInt32
        if let user = spec.user {
            guard let identity = Users.lookup(user) else {
                throw LaunchError("user '\(user)' does not exist on this device: create it or change functions.\(spec.name).user")
            }
            group = identity.gid
        } else if let uids = host.functionUids {
            switch uids.assign(spec.name) {
            case .success(let uid):
                group = uid
                own = OwnIdentity(uid: uid, dataDir: "\(uids.dataDir)/\(spec.name)")
            case .failure(let refusal):
                throw LaunchError(refusal.message)
            }
        } else {
            return nil
        }
        let folder = Files.parent(of: directory)
        do {
            // Only the stager's layout (<stateDir>/functions/<name>/<version>): never a folder elsewhere.
            if folder.hasSuffix("/functions/\(spec.name)") {
                try setOwner(folder, uid: 0, gid: group, mode: 0o750)
            }
            if let own {
                let parent = Files.parent(of: own.dataDir)
                try Files.makeDirectories(parent, mode: 0o711)
                try Files.setPermissions(parent, 0o711)
                if !Files.isDirectory(own.dataDir) { try Files.makeDirectory(own.dataDir, mode: 0o700) }
                try setOwner(own.dataDir, uid: own.uid, gid: own.uid, mode: 0o700)
            }
        } catch {
            throw LaunchError("cannot give function \(spec.name) its files: \(error)")
        }
        return own
    }

    /// chmod and lchown of a folder the agent made (never following a link a function left).
    /// A folder the function already owns is left as it is: its mode is then the function's
    /// to choose. chmod first, while root still owns it, so the agent needs CAP_CHOWN (which
    /// the systemd unit grants) but not CAP_FOWNER.
    private static func setOwner(_ path: String, uid: UInt32, gid: UInt32, mode: mode_t) throws(SystemError) {
        let status = try Files.status(path, followingLinks: false)
        guard status.kind == .directory else {
            throw SystemError("lchown", path: path, errno: .notDirectory, detail: "is not a directory; remove it")
        }
        if uid != 0 && status.owner == uid { return }
        _ = try systemCall("chmod", path: path) { chmod(path, mode) }
        _ = try systemCall("lchown", path: path) { lchown(path, uid, gid) }
    }
}
