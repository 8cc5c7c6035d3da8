import EdgeCore

/// A health report as the operator reads it: the agent, its cgroups, then each function with
/// its counters and its caps against what it uses.
enum HealthSummary {
    static func lines(thing: String, _ health: JSONValue) -> [String] {
        var lines: [String] = []
        let connection = health["connection"]?["connected"]?.boolValue == true ? "connected" : "disconnected"
        lines.append("\(thing): \(health["status"]?.stringValue ?? "?") (\(connection)), agent \(health["agentVersion"]?.stringValue ?? "?"), up \(health["uptimeSeconds"]?.intValue ?? 0) s")
        if let reason = health["reason"]?.stringValue { lines.append("  reason: \(reason)") }
        if let cgroups = health["cgroups"] {
            let version = cgroups["version"]?.stringValue ?? "?"
            let controllers = (cgroups["controllers"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")
            if version == "none" {
                lines.append("  cgroups: OFF, functions get rlimits only (\(cgroups["reason"]?.stringValue ?? "no reason given"))")
            } else {
                lines.append("  cgroups: \(version) (\(controllers.isEmpty ? "no limit controllers" : controllers))")
                if let reason = cgroups["reason"]?.stringValue { lines.append("    missing: \(reason)") }
            }
        }
        if let deployment = health["deployment"], let state = deployment["status"]?.stringValue {
            lines.append("  deployment: \(deployment["deploymentId"]?.stringValue ?? "") revision \(deployment["revision"]?.intValue ?? 0) \(state)")
        }
        for (name, function) in (health["functions"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            let latency = function["latencyMs"].map { " p50 \($0["p50"]?.doubleValue ?? 0) ms p99 \($0["p99"]?.doubleValue ?? 0) ms" } ?? ""
            lines.append("  \(name) \(function["version"]?.stringValue ?? "") \(function["state"]?.stringValue ?? ""): \(function["invocations"]?.intValue ?? 0) invocations, \(function["errors"]?.intValue ?? 0) errors, \(function["restarts"]?.intValue ?? 0) restarts\(latency)")
            if let caps = capsLine(function) { lines.append("    \(caps)") }
            if let error = function["lastError"]?.stringValue { lines.append("    last error: \(error)") }
        }
        return lines
    }

    /// "as uid 61003: memory 1.2/64 MB (peak 3.4), cpus 0.5, pids 2/16, files 5/64, OOM kills 1" (the
    /// user is a name, or "uid N" for a function under a uid of its own).
    static func capsLine(_ function: JSONValue) -> String? {
        let limits = function["limits"] ?? [:]
        let usage = function["usage"] ?? [:]
        var parts: [String] = []
        let memory = usage["memoryBytes"]?.intValue.map { megabytes($0) }
        if memory != nil || limits["memoryMB"] != nil {
            var part = "memory \(memory ?? "?")/\(limits["memoryMB"]?.intValue.map(String.init) ?? "unlimited") MB"
            if let peak = usage["memoryPeakBytes"]?.intValue { part += " (peak \(megabytes(peak)))" }
            parts.append(part)
        }
        if let cpus = limits["cpus"]?.doubleValue {
            var part = "cpus \(cpus)"
            if let throttled = usage["cpuThrottledPeriods"]?.intValue, throttled > 0 { part += " (\(throttled) periods throttled)" }
            parts.append(part)
        }
        if usage["pids"] != nil || limits["pids"] != nil {
            parts.append("pids \(usage["pids"]?.intValue.map(String.init) ?? "?")/\(limits["pids"]?.intValue.map(String.init) ?? "unlimited")")
        }
        if let files = usage["openFiles"]?.intValue {
            parts.append("files \(files)/\(limits["openFiles"]?.intValue.map(String.init) ?? "1024")")
        }
        if let kills = usage["oomKills"]?.intValue, kills > 0 { parts.append("OOM kills \(kills)") }
        if let hits = usage["pidsLimitHits"]?.intValue, hits > 0 { parts.append("pids-limit hits \(hits)") }
        guard !parts.isEmpty || function["user"] != nil else { return nil }
        let user = function["user"]?.stringValue.map { "as \($0)" } ?? "caps"
        return parts.isEmpty ? user : "\(user): " + parts.joined(separator: ", ")
    }

    static func megabytes(_ bytes: Int64) -> String {
        // In Double: the figures come from the network.
        let value = (Double(bytes) * 10 / Double(1 << 20)).rounded()
        let tenths = abs(value) < 9e18 ? Int64(value) : 0
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
