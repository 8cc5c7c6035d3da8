@testable import EdgeCore

/// A valid SHA-256 in the form the parser accepts (64 lowercase hex digits).
let goodSHA = String(repeating: "0123456789abcdef", count: 4)

/// A minimal valid python function, with `set` applied over it and `remove` taken out.
func function(_ set: [String: JSONValue] = [:], remove: [String] = []) -> JSONValue {
    var members: [String: JSONValue] = ["version": "1.0.0", "runtime": "python3", "handler": "main.handler"]
    for (key, value) in set { members[key] = value }
    for key in remove { members[key] = nil }
    return .object(members)
}

/// A minimal valid command function.
func commandFunction(_ argv: JSONValue, _ set: [String: JSONValue] = [:]) -> JSONValue {
    var members: [String: JSONValue] = ["version": "1.0.0", "command": argv]
    for (key, value) in set { members[key] = value }
    return .object(members)
}

/// A valid document holding `functions`, with `set` applied at the top level and `remove` taken out.
func document(functions: [String: JSONValue] = ["a": function()], set: [String: JSONValue] = [:],
              remove: [String] = []) -> JSONValue {
    var members: [String: JSONValue] = ["deploymentId": "dep-1", "revision": 1, "functions": .object(functions)]
    for (key, value) in set { members[key] = value }
    for key in remove { members[key] = nil }
    return .object(members)
}

/// The issues of a rejected document, or [] when it is accepted.
func issues(_ document: JSONValue, thing: String = "dev1") -> [ValidationIssue] {
    switch DeploymentParser.parse(document, thing: thing) {
    case .success: return []
    case .failure(let rejection): return rejection.issues
    }
}

/// The issues for a document holding one function `a` built from `fields`.
func issues(ofFunction fields: JSONValue, thing: String = "dev1") -> [ValidationIssue] {
    issues(document(functions: ["a": fields]), thing: thing)
}

func deployment(_ document: JSONValue, thing: String = "dev1") -> Deployment? {
    try? DeploymentParser.parse(document, thing: thing).get()
}

/// The spec of function `a` when a document holding only it is accepted.
func spec(_ fields: JSONValue, thing: String = "dev1") -> FunctionSpec? {
    deployment(document(functions: ["a": fields]), thing: thing)?.functions["a"]
}

func paths(_ issues: [ValidationIssue]) -> [String] { issues.map(\.path) }

/// A function spec built in code, for merge and change tests.
func makeSpec(_ name: String, version: String = "1.0.0") -> FunctionSpec {
    FunctionSpec(
        name: name, version: version, entry: .python(handler: "main.handler"), artifacts: [], lifecycle: .longLived,
        concurrency: 1, timeoutMs: 3000, startTimeoutMs: 30_000, stopTimeoutMs: 3000, idleTimeoutMs: 60_000,
        queueSize: 100, limits: ResourceLimits(), environment: [:], config: [:], subscriptions: [],
        output: .init(topic: "edge/things/dev1/functions/\(name)/results", qos: 1), publish: [], user: nil,
        restart: RestartPolicy(maxFailures: 3, backoffMs: 500, maxBackoffMs: 30_000))
}
