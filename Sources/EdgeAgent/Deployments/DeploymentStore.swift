import EdgeCore
import EdgeJSON
import EdgePOSIX

/// Keeps the applied deployment documents and the revisions seen on disk, written atomically,
/// so that after a restart the agent runs its last deployment with or without a broker.
struct DeploymentStore: Sendable {
    let path: String

    func save(_ snapshot: SavedDeployments) throws(SystemError) {
        var documents: [String: JSONValue] = [:]
        for (source, document) in snapshot.documents { documents[source.description] = document }
        var seen: [String: JSONValue] = [:]
        for (source, revision) in snapshot.seen { seen[source.description] = .int(revision) }
        var seenIds: [String: JSONValue] = [:]
        for (source, id) in snapshot.seenIds { seenIds[source.description] = .string(id) }
        let file: JSONValue = ["format": 1, "documents": .object(documents), "seen": .object(seen), "seenIds": .object(seenIds)]
        try Files.writeAtomically(path, JSONCodec.serialize(file))
    }

    /// The saved state, or an empty one when there is none; a damaged file is reported, not fatal.
    func load() -> Result<SavedDeployments, StoreProblem> {
        guard Files.exists(path) else { return .success(SavedDeployments()) }
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch { return .failure(StoreProblem(description: "cannot read \(path): \(error)")) }
        guard case .success(let file) = JSONCodec.parse(bytes), let top = file.objectValue else {
            return .failure(StoreProblem(description: "\(path) is not valid JSON; the agent starts with no deployment"))
        }
        var snapshot = SavedDeployments()
        for (label, document) in top["documents"]?.objectValue ?? [:] {
            if let source = DeploymentSource(label: label) { snapshot.documents[source] = document }
        }
        for (label, revision) in top["seen"]?.objectValue ?? [:] {
            if let source = DeploymentSource(label: label), let number = revision.intValue { snapshot.seen[source] = number }
        }
        for (label, id) in top["seenIds"]?.objectValue ?? [:] {
            if let source = DeploymentSource(label: label), let text = id.stringValue { snapshot.seenIds[source] = text }
        }
        return .success(snapshot)
    }
}

/// Why the saved deployment could not be read back.
struct StoreProblem: Error, CustomStringConvertible {
    var description: String
}
