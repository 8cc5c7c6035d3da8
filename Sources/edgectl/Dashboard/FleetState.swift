import EdgeCore
import EdgeJSON

/// What the dashboard knows, folded from the broker's messages alone: each thing's health and
/// deployment status, the groups' deployments, the last events and each function's last results.
/// It keeps what changed since the last `takeUpdate`, so the page gets only that. Plain state: no
/// I/O, no clock (the time of arrival is given).
struct FleetState: Sendable {
    static let filters = ["edge/things/+/health", "edge/things/+/deployment/status", "edge/things/+/events",
                          "edge/things/+/functions/+/results", "edge/groups/+/deployment"]
    static let eventsKept = 200
    static let resultsKept = 20
    /// Functions whose results are kept: enough for any fleet a page can show, a bound on memory.
    static let resultStreamsKept = 1000
    /// A result or event detail longer than this is cut for the page.
    static let detailChars = 600

    private(set) var health: [String: JSONValue] = [:]
    private(set) var statuses: [String: JSONValue] = [:]
    private(set) var groups: [String: JSONValue] = [:]
    private var series: [String: [String: FunctionSeries]] = [:]
    private(set) var events: [JSONValue] = []
    private var results: [String: [JSONValue]] = [:]

    private var changedThings: Set<String> = []
    private var groupsChanged = false
    private var newEvents: [JSONValue] = []
    private var newResults: [JSONValue] = []

    /// Folds in one message; false when it is not one the dashboard reads (or not JSON).
    @discardableResult
    mutating func take(topic: String, payload: [UInt8], receivedMs: Int64) -> Bool {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard levels.count >= 4, levels[0] == "edge", !levels[2].isEmpty else { return false }
        let name = levels[2]
        var document: JSONValue?
        if !payload.isEmpty {
            guard case .success(let value) = JSONCodec.parse(payload), value.objectValue != nil else { return false }
            document = value
        }
        switch (levels[1], Array(levels[3...])) {
        case ("things", ["health"]):
            health[name] = document
            if document == nil { series[name] = nil } else { recordSeries(thing: name, document!) }
            changedThings.insert(name)
            groupsChanged = true
        case ("things", ["deployment", "status"]):
            statuses[name] = document
            changedThings.insert(name)
            groupsChanged = true
        case ("things", ["events"]):
            guard let document else { return false }
            let event = Self.event(thing: name, document, receivedMs: receivedMs)
            events.append(event)
            if events.count > Self.eventsKept { events.removeFirst(events.count - Self.eventsKept) }
            newEvents.append(event)
            if newEvents.count > Self.eventsKept { newEvents.removeFirst(newEvents.count - Self.eventsKept) }
        case ("things", let rest) where rest.count == 3 && rest[0] == "functions" && rest[2] == "results" && !rest[1].isEmpty:
            guard let document else { return false }
            let key = "\(name)/\(rest[1])"
            guard results[key] != nil || results.count < Self.resultStreamsKept else { return false }
            let result = Self.result(thing: name, function: rest[1], document, receivedMs: receivedMs)
            results[key, default: []].append(result)
            if results[key]!.count > Self.resultsKept { results[key]!.removeFirst() }
            newResults.append(result)
            if newResults.count > Self.resultsKept * 10 { newResults.removeFirst() }
        case ("groups", ["deployment"]):
            groups[name] = document
            groupsChanged = true
        default:
            return false
        }
        return true
    }

    private mutating func recordSeries(thing: String, _ document: JSONValue) {
        guard let timestamp = document["timestamp"]?.intValue, let functions = document["functions"]?.objectValue else { return }
        var kept = series[thing] ?? [:]
        for key in kept.keys where functions[key] == nil { kept[key] = nil }
        for (function, report) in functions { kept[function, default: FunctionSeries()].record(timestampMs: timestamp, function: report) }
        series[thing] = kept
    }

    /// Everything, for a page that has just connected.
    var snapshot: JSONValue {
        ["things": .object(Dictionary(uniqueKeysWithValues: thingNames.map { ($0, thing($0)) })),
         "groups": groupsJSON, "events": .array(events), "results": .array(results.values.flatMap { $0 })]
    }

    /// What changed since the last call (things as a whole, `removed` things, every group, new
    /// events and results), and forgets it; nil when nothing did.
    mutating func takeUpdate() -> JSONValue? {
        guard !changedThings.isEmpty || groupsChanged || !newEvents.isEmpty || !newResults.isEmpty else { return nil }
        var changed: [String: JSONValue] = [:]
        var removed: [JSONValue] = []
        for name in changedThings.sorted() {
            if health[name] == nil && statuses[name] == nil { removed.append(.string(name)) } else { changed[name] = thing(name) }
        }
        var update: JSONValue = ["things": .object(changed), "removed": .array(removed), "events": .array(newEvents), "results": .array(newResults)]
        if groupsChanged, case .object(var members) = update {
            members["groups"] = groupsJSON
            update = .object(members)
        }
        changedThings = []
        groupsChanged = false
        newEvents = []
        newResults = []
        return update
    }

    private var thingNames: [String] { Set(health.keys).union(statuses.keys).sorted() }

    private var groupsJSON: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: groups.map { name, document in
            (name, GroupDeploymentView.json(group: name, document: document, health: health, statuses: statuses))
        }))
    }

    /// A thing as the page shows it (ThingView).
    func thing(_ name: String) -> JSONValue {
        ThingView.json(thing: name, health: health[name], status: statuses[name], series: series[name] ?? [:])
    }

    static func event(thing: String, _ document: JSONValue, receivedMs: Int64) -> JSONValue {
        var detail = document.objectValue ?? [:]
        for key in ["type", "thing", "timestamp", "function"] { detail[key] = nil }
        return ["thing": .string(thing), "type": document["type"] ?? .null, "function": document["function"] ?? .null,
                "timestamp": .int(document["timestamp"]?.intValue ?? receivedMs),
                "detail": .string(detail.isEmpty ? "" : clipped(JSONCodec.text(.object(detail))))]
    }

    static func result(thing: String, function: String, _ document: JSONValue, receivedMs: Int64) -> JSONValue {
        var shown = ""
        if let result = document["result"] { shown = JSONCodec.text(result) }
        if let error = document["error"] { shown = "\(error["type"]?.stringValue ?? "error"): \(error["message"]?.stringValue ?? "")" }
        return ["thing": .string(thing), "function": .string(function), "status": document["status"] ?? .null,
                "invocationId": document["invocationId"] ?? .null, "durationMs": document["durationMs"] ?? .null,
                "timestamp": .int(document["timestamp"]?.intValue ?? receivedMs), "text": .string(clipped(shown))]
    }

    static func clipped(_ text: String) -> String {
        text.count <= detailChars ? text : String(text.prefix(detailChars)) + "…"
    }
}
