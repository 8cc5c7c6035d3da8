import EdgeCore

/// How far a group's deployment got: its members are the things whose health lists the group,
/// each counted by the deployment status it retained for this document (`PENDING` when its status
/// is about another document, or it has none yet).
enum GroupDeploymentView {
    static let states = ["SUCCEEDED", "IN_PROGRESS", "FAILED", "ROLLED_BACK", "REJECTED", "SUPERSEDED", "PENDING"]

    /// `{"group", "deploymentId", "revision", "members": [{"thing", "state", "online"}], "counts": {...}, "done", "total"}`.
    static func json(group: String, document: JSONValue, health: [String: JSONValue], statuses: [String: JSONValue]) -> JSONValue {
        let deploymentId = document["deploymentId"]?.stringValue
        let revision = document["revision"]?.intValue
        let members = health.keys.sorted().filter { thing in
            (health[thing]?["groups"]?.arrayValue ?? []).contains { $0.stringValue == group }
        }
        var counts: [String: Int64] = [:]
        for state in states { counts[state] = 0 }
        var rows: [JSONValue] = []
        for thing in members {
            let state = statuses[thing].flatMap { GroupProgress.memberState($0, group: group, deploymentId: deploymentId, revision: revision) } ?? "PENDING"
            counts[state, default: 0] += 1
            rows.append(["thing": .string(thing), "state": .string(state),
                         "online": .bool(health[thing]?["status"]?.stringValue == "online")])
        }
        let done = counts.filter { GroupProgress.terminal.contains($0.key) }.values.reduce(0, +)
        return ["group": .string(group), "deploymentId": deploymentId.map { .string($0) } ?? .null,
                "revision": revision.map { .int($0) } ?? .null, "members": .array(rows),
                "counts": .object(counts.mapValues { .int($0) }), "done": .int(done), "total": .int(Int64(members.count))]
    }
}
