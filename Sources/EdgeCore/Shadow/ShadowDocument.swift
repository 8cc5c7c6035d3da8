/// One shadow as the agent keeps it: the two state sections, their metadata, its version and
/// the time of its last change. A deleted shadow stays as a tombstone (`exists` false) so its
/// version never goes backwards.
public struct ShadowDocument: Sendable, Equatable {
    public var desired: [String: JSONValue]?
    public var reported: [String: JSONValue]?
    public var desiredMetadata: [String: JSONValue]?
    public var reportedMetadata: [String: JSONValue]?
    public var version: Int64 = 0
    /// Seconds since the epoch, as AWS IoT stamps shadows.
    public var timestamp: Int64 = 0
    public var exists = false

    public init() {}

    /// desired minus reported, with the desired metadata of what differs.
    public var delta: (state: [String: JSONValue], metadata: [String: JSONValue]) {
        ShadowRules.delta(desired: desired, reported: reported, metadata: desiredMetadata)
    }

    /// `desired` and `reported` together, in bytes of compact JSON (what the 8 KB limit counts).
    public var stateSize: Int {
        (desired.map { JSONValue.object($0).compactSize } ?? 0) + (reported.map { JSONValue.object($0).compactSize } ?? 0)
    }

    /// The document `/get/accepted` carries: both sections, the delta, metadata, version, timestamp.
    public func fullDocument(now: Int64, clientToken: String?) -> JSONValue {
        var state = sections(desired, reported)
        let delta = self.delta
        if !delta.state.isEmpty { state["delta"] = .object(delta.state) }
        var document: [String: JSONValue] = [
            "state": .object(state), "metadata": .object(sections(desiredMetadata, reportedMetadata)),
            "version": .int(version), "timestamp": .int(now),
        ]
        if let clientToken { document["clientToken"] = .string(clientToken) }
        return .object(document)
    }

    /// The `previous` or `current` member of `/update/documents`: no delta, no timestamp.
    public var snapshot: JSONValue {
        ["state": .object(sections(desired, reported)), "metadata": .object(sections(desiredMetadata, reportedMetadata)),
         "version": .int(version)]
    }

    private func sections(_ desired: [String: JSONValue]?, _ reported: [String: JSONValue]?) -> [String: JSONValue] {
        var members: [String: JSONValue] = [:]
        if let desired { members["desired"] = .object(desired) }
        if let reported { members["reported"] = .object(reported) }
        return members
    }

    // MARK: Storage

    /// The form saved on disk.
    public var stored: JSONValue {
        var members: [String: JSONValue] = ["version": .int(version), "timestamp": .int(timestamp), "exists": .bool(exists)]
        if let desired { members["desired"] = .object(desired) }
        if let reported { members["reported"] = .object(reported) }
        if let desiredMetadata { members["desiredMetadata"] = .object(desiredMetadata) }
        if let reportedMetadata { members["reportedMetadata"] = .object(reportedMetadata) }
        return .object(members)
    }

    /// Reads the saved form back; nil when it is not one.
    public init?(stored: JSONValue) {
        guard let members = stored.objectValue, let version = members["version"]?.intValue, version >= 0 else { return nil }
        self.version = version
        timestamp = members["timestamp"]?.intValue ?? 0
        exists = members["exists"]?.boolValue ?? true
        desired = members["desired"]?.objectValue
        reported = members["reported"]?.objectValue
        desiredMetadata = members["desiredMetadata"]?.objectValue
        reportedMetadata = members["reportedMetadata"]?.objectValue
    }
}
