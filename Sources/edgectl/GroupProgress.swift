import EdgeCore

/// A group deployment followed across its devices: each member's status for this deployment
/// (from `edge/things/+/deployment/status`, `source` `group/G`), a progress bar and a summary.
/// Members are the things whose retained health names the group; one that is offline when the
/// deployment is published gets it when it connects, and is not waited for.
struct GroupProgress {
    static let terminal: Set<String> = ["SUCCEEDED", "FAILED", "ROLLED_BACK", "REJECTED", "SUPERSEDED"]

    let group: String
    let deploymentId: String
    let revision: Int64
    /// Each member online at the start, and each thing that reported on this deployment since.
    private(set) var members: [String: Entry]
    /// Members that were offline: listed in the summary, not waited for (until one reports).
    private(set) var offline: [String]

    struct Entry: Equatable {
        var state = "WAITING"
        var reason: String?
    }

    init(group: String, deploymentId: String, revision: Int64, health: [String: JSONValue]) {
        self.group = group
        self.deploymentId = deploymentId
        self.revision = revision
        let inGroup = FleetTable.things(health, group: group)
        members = Dictionary(uniqueKeysWithValues: inGroup.filter { $0.health["status"]?.stringValue == "online" }.map { ($0.thing, Entry()) })
        offline = inGroup.filter { $0.health["status"]?.stringValue != "online" }.map(\.thing)
    }

    /// Takes a status document; the thing when it reached a final state with this message.
    mutating func take(thing: String, _ status: JSONValue) -> String? {
        guard let state = Self.memberState(status, group: group, deploymentId: deploymentId, revision: revision) else { return nil }
        let before = members[thing]
        guard before.map({ !Self.terminal.contains($0.state) }) ?? true else { return nil }
        members[thing] = Entry(state: state, reason: status["reason"]?.stringValue)
        offline.removeAll { $0 == thing }
        return Self.terminal.contains(state) ? thing : nil
    }

    /// A member's state for this group document (`deploy --group` and the dashboard's group card):
    /// its status when the status is about it, as the document that started it (`source`
    /// `group/G`) or as one of the documents it merged (`sources`); nil for any other status.
    static func memberState(_ status: JSONValue, group: String, deploymentId: String?, revision: Int64?) -> String? {
        guard let state = status["status"]?.stringValue else { return nil }
        let source = DeploymentSource.group(group).description
        func about(_ value: JSONValue?) -> Bool {
            value?["deploymentId"]?.stringValue == deploymentId && value?["revision"]?.intValue == revision
        }
        if status["source"]?.stringValue == source && about(status) { return state }
        let merged = (status["sources"]?.arrayValue ?? []).contains { $0["source"]?.stringValue == source && about($0) }
        return merged ? state : nil
    }

    var finished: Bool { members.values.allSatisfy { Self.terminal.contains($0.state) } }
    var succeeded: Int { members.values.filter { $0.state == "SUCCEEDED" }.count }
    /// The members that ended in anything but SUCCEEDED, by name.
    var failures: [(thing: String, entry: Entry)] {
        members.filter { Self.terminal.contains($0.value.state) && $0.value.state != "SUCCEEDED" }.sorted { $0.key < $1.key }
            .map { ($0.key, $0.value) }
    }
    var waiting: [String] { members.filter { !Self.terminal.contains($0.value.state) }.keys.sorted() }

    /// `[#########.........] 9/20 done: 8 SUCCEEDED, 1 FAILED, 3 IN_PROGRESS, 8 WAITING`
    func bar(width: Int = 30) -> String {
        let total = max(1, members.count)
        let done = members.values.filter { Self.terminal.contains($0.state) }.count
        let filled = done * width / total
        var counts: [String: Int] = [:]
        for entry in members.values { counts[entry.state, default: 0] += 1 }
        let order = ["SUCCEEDED", "FAILED", "ROLLED_BACK", "REJECTED", "SUPERSEDED", "IN_PROGRESS", "WAITING"]
        let parts = order.compactMap { state in counts[state].map { "\($0) \(state)" } }
        return "[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(members.count) done: "
            + parts.joined(separator: ", ")
    }

    /// The line said when a member finishes.
    func line(for thing: String) -> String {
        guard let entry = members[thing] else { return thing }
        return "\(thing): \(entry.state)" + (entry.reason.map { " — \($0)" } ?? "")
    }

    var json: JSONValue {
        var results: [JSONValue] = members.sorted { $0.key < $1.key }.map { thing, entry in
            var members: [String: JSONValue] = ["thing": .string(thing), "status": .string(entry.state)]
            if let reason = entry.reason { members["reason"] = .string(reason) }
            return .object(members)
        }
        results += offline.map { ["thing": .string($0), "status": "OFFLINE"] }
        return ["group": .string(group), "deploymentId": .string(deploymentId), "revision": .int(revision),
                "results": .array(results), "succeeded": .int(Int64(succeeded)), "failed": .int(Int64(failures.count)),
                "waiting": .array(waiting.map { .string($0) }), "offline": .array(offline.map { .string($0) })]
    }
}
