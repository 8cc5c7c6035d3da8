import EdgeCore

/// The fleet as a table, one line per thing, from the retained health reports: whether it is
/// online (and since when), its agent, its deployment, and each function's state, restarts,
/// memory against its limit and CPU cap.
enum FleetTable {
    static let header = ["THING", "STATUS", "AGENT", "DEPLOYMENT", "FUNCTIONS"]

    /// The things of `reports` (thing → health), in name order; `group` keeps its members only.
    static func things(_ reports: [String: JSONValue], group: String?) -> [(thing: String, health: JSONValue)] {
        reports.sorted { $0.key < $1.key }
            .filter { group == nil || ($0.value["groups"]?.arrayValue ?? []).contains(.string(group!)) }
            .map { ($0.key, $0.value) }
    }

    static func rows(_ things: [(thing: String, health: JSONValue)], nowMs: Int64) -> [[String]] {
        things.map { thing, health in
            [thing, status(health, nowMs: nowMs), health["agentVersion"]?.stringValue ?? "-", deployment(health), functions(health)]
        }
    }

    /// "online 3m", "offline 12s (agent stopped)", "offline (connection lost)" (a last will has no time).
    static func status(_ health: JSONValue, nowMs: Int64) -> String {
        let state = health["status"]?.stringValue ?? "?"
        var text = state
        if state == "online", let uptime = health["uptimeSeconds"]?.intValue {
            text += " " + age(seconds: uptime)
        } else if let timestamp = health["timestamp"]?.intValue {
            text += " " + age(seconds: max(0, (nowMs - timestamp) / 1000))
        }
        if state != "online", let reason = health["reason"]?.stringValue { text += " (\(reason))" }
        return text
    }

    static func deployment(_ health: JSONValue) -> String {
        guard let deployment = health["deployment"], let state = deployment["status"]?.stringValue else { return "-" }
        let id = deployment["deploymentId"]?.stringValue ?? "?"
        let revision = deployment["revision"]?.intValue.map { " r\($0)" } ?? ""
        return "\(id)\(revision) \(state)"
    }

    /// "digits RUNNING r0 mem 41.9/128MB cpu 0.5; camera BROKEN r5".
    static func functions(_ health: JSONValue) -> String {
        let functions = (health["functions"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
        if functions.isEmpty { return "-" }
        return functions.map { name, function in
            var parts = [name, function["state"]?.stringValue ?? "?", "r\(function["restarts"]?.intValue ?? 0)"]
            if let bytes = function["usage"]?["memoryBytes"]?.intValue {
                let limit = function["limits"]?["memoryMB"]?.intValue.map { "/\($0)MB" } ?? "MB"
                parts.append("mem \(HealthSummary.megabytes(bytes))\(limit)")
            }
            if let cpus = function["limits"]?["cpus"]?.doubleValue { parts.append("cpu \(cpus)") }
            return parts.joined(separator: " ")
        }.joined(separator: "; ")
    }

    static func age(seconds: Int64) -> String {
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<7200: return "\(seconds / 60)m"
        case ..<172_800: return "\(seconds / 3600)h"
        default: return "\(seconds / 86400)d"
        }
    }

    /// Columns padded to their widest cell, the last one left as it is.
    static func render(_ rows: [[String]]) -> [String] {
        let all = [header] + rows
        var widths = Array(repeating: 0, count: header.count)
        for row in all { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
    }

    /// The JSON of `--json`: each thing's health report as the agent published it.
    static func json(_ things: [(thing: String, health: JSONValue)]) -> JSONValue {
        .array(things.map { .object(["thing": .string($0.thing), "health": $0.health]) })
    }
}
