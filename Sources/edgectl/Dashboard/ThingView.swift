import EdgeCore

/// One thing as the page draws it: online or offline and why, agent, groups, deployment and its
/// status, and per function its state, counters, memory and CPU against their limits, and history.
enum ThingView {
    static func json(thing: String, health: JSONValue?, status: JSONValue?, series: [String: FunctionSeries]) -> JSONValue {
        var view: [String: JSONValue] = [
            "thing": .string(thing),
            "status": health?["status"] ?? "unknown",
            "reason": health?["reason"] ?? .null,
            "agentVersion": health?["agentVersion"] ?? .null,
            "uptimeSeconds": health?["uptimeSeconds"] ?? .null,
            "timestamp": health?["timestamp"] ?? .null,
            "groups": health?["groups"] ?? .array([]),
            "deployment": health?["deployment"] ?? .null,
        ]
        if let status {
            view["deploymentStatus"] = ["deploymentId": status["deploymentId"] ?? .null, "revision": status["revision"] ?? .null,
                                        "status": status["status"] ?? .null, "reason": status["reason"] ?? .null,
                                        "source": status["source"] ?? .null]
        }
        let functions = health?["functions"]?.objectValue ?? [:]
        view["functions"] = .array(functions.keys.sorted().map { name in
            function(name, functions[name]!, series: series[name] ?? FunctionSeries())
        })
        return .object(view)
    }

    static func function(_ name: String, _ report: JSONValue, series: FunctionSeries) -> JSONValue {
        let usage = report["usage"]
        let limits = report["limits"]
        var memoryLimit = usage?["memoryLimitBytes"]?.intValue
        if memoryLimit == nil, let megabytes = limits?["memoryMB"]?.intValue { memoryLimit = megabytes << 20 }
        let last = series.points.last
        return ["name": .string(name), "state": report["state"] ?? .null, "version": report["version"] ?? .null,
                "restarts": report["restarts"] ?? 0, "invocations": report["invocations"] ?? 0, "errors": report["errors"] ?? 0,
                "lastError": report["lastError"] ?? .null,
                "memoryBytes": usage?["memoryBytes"] ?? .null, "memoryLimitBytes": memoryLimit.map { .int($0) } ?? .null,
                "cpuPercent": last?.cpuPercent.map { .double(FunctionSeries.rounded($0)) } ?? .null,
                "cpus": limits?["cpus"] ?? .null,
                "invocationsPerSecond": last.map { .double(FunctionSeries.rounded($0.invocationsPerSecond)) } ?? .null,
                "latencyMs": report["latencyMs"] ?? .null, "series": series.json]
    }
}
