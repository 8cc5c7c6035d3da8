#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgeJSON
import EdgePOSIX

/// Keeps each shadow in a file of its own under `<stateDir>/shadows`, written atomically
/// (temporary file, fsync, rename) before any reply goes out, so an accepted update survives
/// a power loss and versions never go backwards. Deleted shadows stay as tombstones.
struct ShadowStore: Sendable {
    let directory: String

    init(stateDir: String) { directory = "\(stateDir)/shadows" }

    /// `classic.json`, or `name-<shadow>.json` (shadow names are letters, digits, ':', '_', '-').
    func path(_ name: String?) -> String {
        name.map { "\(directory)/name-\($0).json" } ?? "\(directory)/classic.json"
    }

    func save(_ name: String?, _ shadow: ShadowDocument) throws(SystemError) {
        try Files.makeDirectories(directory, mode: 0o700)
        try Files.writeAtomically(path(name), JSONCodec.serialize(shadow.stored))
    }

    /// Forgets a tombstone; a file that cannot be removed only costs its bytes, and is said.
    func remove(_ name: String) -> SystemError? {
        do {
            try Files.removeFile(path(name))
            return nil
        } catch {
            return error
        }
    }

    /// Every saved shadow; a file that cannot be read is reported and skipped, never fatal.
    func load() -> (shadows: [String?: ShadowDocument], problems: [String]) {
        guard Files.isDirectory(directory) else { return ([:], []) }
        let names: [String]
        do { names = try Files.list(directory) } catch { return ([:], ["cannot list \(directory): \(error)"]) }
        var shadows: [String?: ShadowDocument] = [:]
        var problems: [String] = []
        for file in names where file.hasSuffix(".json") {
            let stem = String(file.dropLast(".json".count))
            let name: String?
            if stem == "classic" {
                name = nil
            } else if stem.hasPrefix("name-"), ShadowTopics.nameProblem(String(stem.dropFirst("name-".count))) == nil {
                name = String(stem.dropFirst("name-".count))
            } else {
                continue
            }
            let full = "\(directory)/\(file)"
            do {
                let bytes = try Files.read(full, maxBytes: 1 << 20)
                guard case .success(let value) = JSONCodec.parse(bytes), let shadow = ShadowDocument(stored: value) else {
                    problems.append("\(full) is not a saved shadow; it was skipped")
                    continue
                }
                shadows[name] = shadow
            } catch {
                problems.append("cannot read \(full): \(error)")
            }
        }
        return (shadows, problems)
    }
}
