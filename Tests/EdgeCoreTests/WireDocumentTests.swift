import Foundation
import Testing
@testable import EdgeCore
@testable import EdgeJSON

/// The documents the agent publishes, pinned to the examples in docs/: a change to either
/// without the other fails here.
@Suite struct WireDocumentTests {
    /// The text of a file under docs/.
    static func doc(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("docs/\(name)"), encoding: .utf8)
    }

    /// The first ```json block after `heading` in `text`, parsed.
    static func example(after heading: String, in text: String) throws -> JSONValue {
        let section = try #require(text.range(of: heading)).upperBound
        let open = try #require(text.range(of: "```json\n", range: section..<text.endIndex)).upperBound
        let close = try #require(text.range(of: "```", range: open..<text.endIndex)).lowerBound
        return try JSONCodec.parse(String(text[open..<close])).get()
    }

    @Test func theResultDocumentIsTheOneInTopicsMd() throws {
        let expected = try Self.example(after: "## Results", in: Self.doc("topics.md"))
        let result = InvocationResult(thing: "dev1", function: "digits", version: "1.0.0", invocationId: "dev1-3-7",
                                      sourceTopic: "sensors/cam1/digits", outcome: .result(RawJSON(["digit": 7, "probability": 0.98])),
                                      durationMs: 0.23, timestamp: 1_795_547_849_004)
        #expect(try JSONCodec.parse(result.bytes).get() == expected)
    }

    @Test func theResultInTheRuntimeProtocolIsTheSameDocumentWithoutATimestamp() throws {
        let expected = try Self.example(after: "## What the agent publishes for each invocation", in: Self.doc("runtime-protocol.md"))
        let result = InvocationResult(thing: "dev1", function: "digits", version: "1.0.0", invocationId: "dev1-3-7",
                                      sourceTopic: "sensors/cam1/digits", outcome: .result(RawJSON(["digit": 7, "probability": 0.98])),
                                      durationMs: 1.84)
        #expect(try JSONCodec.parse(result.bytes).get() == expected)
    }

    @Test func aFailedInvocationCarriesItsErrorKindAndMessage() throws {
        let result = InvocationResult(thing: "dev1", function: "f", version: nil, invocationId: "dev1-1", sourceTopic: "t",
                                      outcome: .failure(.init(.queueFull, "full")))
        #expect(try JSONCodec.parse(result.bytes).get() == ["thing": "dev1", "function": "f", "invocationId": "dev1-1", "sourceTopic": "t", "status": "error",
                                "error": ["type": "QueueFull", "message": "full"]])
    }

    @Test func theHealthDocumentIsTheOneInTopicsMd() throws {
        let expected = try Self.example(after: "## Health", in: Self.doc("topics.md"))
        var status = DeploymentStatus(state: .succeeded, source: .thing)
        status.deploymentId = "digits-v1"
        status.revision = 1
        let digits = HealthDocument.Function(
            state: .running, version: "1.0.0", lifecycle: .longLived, pids: [4242], restarts: 0, invocations: 360, errors: 0,
            timeouts: 0, queueDepth: 0, queueCapacity: 100, dropped: 0, latencyMs: (p50: 0.25, p99: 0.94), lastError: "…",
            user: "uid 61000", limits: ["memoryMB": 128, "cpus": 0.5, "pids": 32],
            usage: ["memoryBytes": 41_943_040, "memoryPeakBytes": 52_428_800, "memoryLimitBytes": 134_217_728, "cpuUsageUsec": 912_000,
                    "cpuThrottledUsec": 0, "cpuThrottledPeriods": 0, "pids": 3, "pidsLimit": 32, "oomKills": 0, "pidsLimitHits": 0,
                    "openFiles": 9])
        let health = HealthDocument(
            thing: "dev1", agentVersion: "0.1.0", uptimeSeconds: 812, timestamp: 1_795_547_849_004,
            connection: .init(connected: true, broker: "broker:8883", tls: true, protocolVersion: 5, reconnects: 1, delivering: true),
            deployment: status, functions: ["digits": digits],
            cgroups: ["version": "v2", "controllers": ["cpu", "memory", "pids"], "paths": ["/sys/fs/cgroup/system.slice/edge-agent.service"]],
            outbox: .init(queued: 0, dropped: 0, refused: 0), groups: ["line1"],
            disk: .init(availableBytes: 5_368_709_120, totalBytes: 15_032_385_536))
        #expect(health.json == expected)
    }

    @Test func theLastWillIsTheOfflineDocumentInTopicsMd() throws {
        let text = try Self.doc("topics.md")
        #expect(text.contains(#"`{"status": "offline", "reason": "connection lost"}`"#))
        #expect(HealthDocument.offline(thing: "dev1", reason: "connection lost", timestamp: nil)
            == ["thing": "dev1", "status": "offline", "reason": "connection lost"])
    }

    /// docs/topics.md lists each event type with its fields, as "`type` (`field`, …)".
    static func documentedEventFields() throws -> [String: Set<String>] {
        let text = try doc("topics.md")
        let events = String(text[try #require(text.range(of: "## Events")).upperBound...])
        var fields: [String: Set<String>] = [:]
        let pattern = try NSRegularExpression(pattern: #"`([a-z_<>]+\.[a-z_<>]+)`(?: \(([^)]*)\))?"#)
        for match in pattern.matches(in: events, range: NSRange(events.startIndex..., in: events)) {
            let type = String(events[Range(match.range(at: 1), in: events)!])
            var names: Set<String> = []
            if let listed = Range(match.range(at: 2), in: events) {
                for name in events[listed].split(separator: ",") {
                    names.insert(name.trimmingCharacters(in: CharacterSet(charactersIn: " `\n")))
                }
            }
            fields[type] = names
        }
        return fields
    }

    static let functionEvents: [FunctionEvent] = [
        .started(pid: 1), .ready(pid: 1, startupMs: 1), .timeout(invocationId: "i", timeoutMs: 1), .protocolError("m"),
        .crashed(reason: "r", failures: 1, maxFailures: 3), .broken(reason: "r", failures: 3),
        .queueOverflow(dropped: 1, queueSize: 100), .oomKilled(memoryMB: 64, oomKills: 1, pid: 1),
        .pidsLimit(pids: 8, hits: 1, current: 8, pid: 1), .cpuThrottled(cpus: 0.5, throttledPercent: 30, windowSeconds: 2, pid: 1),
    ]

    @Test func everyFunctionEventHasTheFieldsTopicsMdLists() throws {
        let documented = try Self.documentedEventFields()
        for event in Self.functionEvents {
            let fields = try #require(documented[event.type], "\(event.type) is not in docs/topics.md")
            #expect(Set(event.detail.keys) == fields, "\(event.type)")
        }
    }

    @Test func everyOtherEventHasTheFieldsTopicsMdLists() throws {
        let documented = try Self.documentedEventFields()
        let events: [AgentEvent] = [
            .deployment(.rejected, deploymentId: "d", reason: "r"), .deployment(.succeeded, deploymentId: "d", reason: ""),
            .unknownFunction("f", invocationId: "i", sourceTopic: "t"), .persistFailed("disk full"),
        ]
        for event in events {
            let type = event.type.hasPrefix("deployment.") ? "deployment.<state>" : event.type
            let fields = try #require(documented[type], "\(type) is not in docs/topics.md")
            let document = event.document(thing: "dev1", timestamp: 1).objectValue ?? [:]
            #expect(Set(document.keys).subtracting(["type", "thing", "timestamp"]) == fields, "\(event.type)")
        }
    }

    @Test func aFunctionEventCarriesTheFunctionAndVersion() {
        let document = AgentEvent.function("digits", version: "1.0.0", .started(pid: 42)).document(thing: "dev1", timestamp: 7)
        #expect(document == ["type": "function.started", "thing": "dev1", "timestamp": 7, "function": "digits", "version": "1.0.0", "pid": 42])
    }
}
