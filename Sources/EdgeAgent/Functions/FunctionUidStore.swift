#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgeJSON
import EdgePOSIX

/// The shell around `FunctionUidTable`: the table lives in `<stateDir>/function-uids.json`,
/// written atomically before a uid is used, so a function keeps its uid across restarts and
/// redeployments. A function's uid is given back once nothing of it is left on the device (its
/// folder under `functions/` is gone); its data folder goes first. Used on the agent's loop only.
final class FunctionUidStore {
    let range: FunctionUidRange
    let path: String
    /// `<stateDir>/functions`: a function with a folder here is still on the device.
    let functionsDir: String
    /// `<stateDir>/data`: each function's writable folder, `data/<name>`, its own.
    let dataDir: String
    private(set) var table: FunctionUidTable
    private let logger: Logger

    /// Reads the table; one that cannot be read stops the agent rather than give a function
    /// another's uid (or another uid than its files have).
    init(stateDir: String, range: FunctionUidRange, logger: Logger) throws(StartupError) {
        self.range = range
        path = "\(stateDir)/function-uids.json"
        functionsDir = "\(stateDir)/functions"
        dataDir = "\(stateDir)/data"
        self.logger = logger
        guard Files.exists(path) else {
            table = FunctionUidTable()
            return
        }
        let bytes: [UInt8]
        do {
            bytes = try Files.read(path, maxBytes: 4 << 20)
        } catch {
            throw StartupError("functions.uids: cannot read \(path): \(error)")
        }
        let parsed = JSONCodec.parse(bytes).mapError { FunctionUidProblem(message: "is not JSON: \($0)") }.flatMap(FunctionUidTable.parse)
        switch parsed {
        case .success(let loaded): table = loaded
        case .failure(let problem):
            throw StartupError("functions.uids: \(path) \(problem.message); restore it from a backup, or move it aside (functions then get new uids, and files under \(dataDir) keep their old owners)")
        }
    }

    /// The uid `name` runs as, given now (and saved) if it has none.
    func assign(_ name: String) -> Result<UInt32, FunctionUidProblem> {
        var updated = table
        guard let uid = updated.assign(name, in: range, isAccount: Self.isAccount) else {
            return .failure(FunctionUidTable.fullMessage(range))
        }
        guard updated != table else { return .success(uid) }
        if let refusal = save(updated) { return .failure(refusal) }
        logger.info("function uid assigned", ("function", name), ("uid", String(uid)))
        return .success(uid)
    }

    /// The uid `name` holds, if any.
    func uid(of name: String) -> UInt32? { table.held[name] }

    /// Gives back the uids of functions whose folder is gone, after removing their data folders
    /// (a data folder that cannot be removed keeps its uid held).
    func releaseGone() {
        var gone: [String] = []
        for name in table.held.keys.sorted() where !Files.exists("\(functionsDir)/\(name)") {
            do {
                try Files.removeTree("\(dataDir)/\(name)")
                gone.append(name)
            } catch {
                logger.warning("a removed function's data folder could not be removed; its uid stays held",
                               ("function", name), ("error", error.description))
            }
        }
        guard !gone.isEmpty else { return }
        var updated = table
        let given = updated.release(gone)
        if let refusal = save(updated) {
            logger.warning("function uids not given back", ("error", refusal.message))
            return
        }
        for (name, uid) in given.sorted(by: { $0.key < $1.key }) {
            logger.info("function uid given back", ("function", name), ("uid", String(uid)))
        }
    }

    private func save(_ updated: FunctionUidTable) -> FunctionUidProblem? {
        do {
            try Files.writeAtomically(path, JSONCodec.serialize(updated.json), mode: 0o600)
        } catch {
            return FunctionUidProblem(message: "cannot save the table of function uids (\(path)): \(error); free disk space or fix the state directory's permissions")
        }
        table = updated
        return nil
    }

    /// Whether a user or a group with id `id` exists: such an id is never a function's.
    static func isAccount(_ id: UInt32) -> Bool {
        if Users.name(of: id) != nil { return true }
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        return getgrgid_r(id, &entry, &buffer, buffer.count, &result) == 0 && result != nil
    }
}
