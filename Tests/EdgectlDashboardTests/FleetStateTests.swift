import EdgeCore
import EdgeJSON
import Testing
@testable import edgectl

@Suite struct FleetStateTests {
    static func health(_ thing: String, status: String = "online", timestamp: Int64, invocations: Int64 = 0, cpuUsec: Int64 = 0,
                       groups: [String] = []) -> [UInt8] {
        let document: JSONValue = [
            "thing": .string(thing), "status": .string(status), "agentVersion": "0.1.0", "timestamp": .int(timestamp),
            "groups": .array(groups.map { .string($0) }),
            "functions": ["echo": ["state": "RUNNING", "restarts": 0, "invocations": .int(invocations),
                                   "latencyMs": ["p50": 0.5, "p99": 2.0],
                                   "limits": ["memoryMB": 64, "cpus": 0.5],
                                   "usage": ["memoryBytes": 1_048_576, "cpuUsageUsec": .int(cpuUsec)]]],
        ]
        return JSONWriter.serialize(document)
    }

    static func text(_ value: JSONValue) -> [UInt8] { JSONWriter.serialize(value) }

    @Test func rateAndCpuComeFromTheChangeBetweenTwoReportsByTheirTimestamps() throws {
        var fleet = FleetState()
        fleet.take(topic: "edge/things/cam/health", payload: Self.health("cam", timestamp: 10_000, invocations: 100, cpuUsec: 1_000_000), receivedMs: 0)
        fleet.take(topic: "edge/things/cam/health", payload: Self.health("cam", timestamp: 12_000, invocations: 140, cpuUsec: 1_500_000), receivedMs: 0)
        let function = try #require(fleet.thing("cam")["functions"]?.arrayValue?.first)
        #expect(function["invocationsPerSecond"] == .double(20))
        #expect(function["cpuPercent"] == .double(25))
        #expect(function["memoryLimitBytes"] == .int(64 << 20))
        #expect(function["series"]?.arrayValue?.count == 1)
    }

    @Test func aRetainedCopySentAgainAndARestartedAgentAddNoPoint() throws {
        var fleet = FleetState()
        fleet.take(topic: "edge/things/cam/health", payload: Self.health("cam", timestamp: 10_000, invocations: 100), receivedMs: 0)
        fleet.take(topic: "edge/things/cam/health", payload: Self.health("cam", timestamp: 10_000, invocations: 100), receivedMs: 0)
        fleet.take(topic: "edge/things/cam/health", payload: Self.health("cam", timestamp: 11_000, invocations: 3), receivedMs: 0)
        #expect(fleet.thing("cam")["functions"]?.arrayValue?.first?["series"] == .array([]))
        fleet.take(topic: "edge/things/cam/health", payload: Self.health("cam", timestamp: 12_000, invocations: 13), receivedMs: 0)
        #expect(fleet.thing("cam")["functions"]?.arrayValue?.first?["invocationsPerSecond"] == .double(10))
    }

    @Test func anUpdateCarriesOnlyWhatChangedAndThenNothing() throws {
        var fleet = FleetState()
        fleet.take(topic: "edge/things/a/health", payload: Self.health("a", timestamp: 1), receivedMs: 0)
        fleet.take(topic: "edge/things/b/health", payload: Self.health("b", timestamp: 1), receivedMs: 0)
        _ = fleet.takeUpdate()
        let nothing = fleet.takeUpdate()
        #expect(nothing == nil)
        fleet.take(topic: "edge/things/b/health", payload: Self.text(["thing": "b", "status": "offline", "reason": "connection lost"]), receivedMs: 0)
        fleet.take(topic: "edge/things/a/events", payload: Self.text(["type": "function.crashed", "thing": "a", "function": "echo", "timestamp": 5, "failures": 1]), receivedMs: 0)
        let taken = fleet.takeUpdate()
        let update = try #require(taken)
        #expect(update["things"]?.objectValue?.keys.sorted() == ["b"])
        #expect(update["things"]?["b"]?["status"] == "offline")
        #expect(update["things"]?["b"]?["reason"] == "connection lost")
        #expect(update["events"] == .array([["thing": "a", "type": "function.crashed", "function": "echo", "timestamp": 5,
                                             "detail": "{\"failures\":1}"]]))
        fleet.take(topic: "edge/things/a/health", payload: [], receivedMs: 0)
        let removal = fleet.takeUpdate()
        #expect(removal?["removed"] == .array(["a"]))
        #expect(fleet.snapshot["things"]?.objectValue?.keys.sorted() == ["b"])
    }

    @Test func eventsAndResultsAreBounded() {
        var fleet = FleetState()
        for n in 0..<(FleetState.eventsKept + 50) {
            fleet.take(topic: "edge/things/a/events", payload: Self.text(["type": "function.started", "timestamp": .int(Int64(n))]), receivedMs: 0)
            fleet.take(topic: "edge/things/a/functions/echo/results",
                       payload: Self.text(["status": "ok", "result": .string(String(repeating: "x", count: 2000)), "timestamp": .int(Int64(n))]), receivedMs: 0)
        }
        #expect(fleet.events.count == FleetState.eventsKept)
        #expect(fleet.events.last?["timestamp"] == .int(Int64(FleetState.eventsKept + 49)))
        let results = fleet.snapshot["results"]?.arrayValue ?? []
        #expect(results.count == FleetState.resultsKept)
        #expect((results.first?["text"]?.stringValue?.count ?? 0) <= FleetState.detailChars + 1)
    }

    @Test func whatIsNotTheDashboardsOrNotJSONIsIgnored() {
        var fleet = FleetState()
        let taken = [fleet.take(topic: "edge/things/a/health", payload: Array("{not json".utf8), receivedMs: 0),
                     fleet.take(topic: "edge/things/a/shadow", payload: Array("{}".utf8), receivedMs: 0),
                     fleet.take(topic: "sensors/a/x", payload: Array("{}".utf8), receivedMs: 0)]
        #expect(taken == [false, false, false])
        let update = fleet.takeUpdate()
        #expect(update == nil)
    }

    @Test func aGroupCountsItsMembersByTheStatusOfItsDocument() throws {
        var fleet = FleetState()
        for thing in ["a", "b", "c", "d"] {
            fleet.take(topic: "edge/things/\(thing)/health", payload: Self.health(thing, timestamp: 1, groups: thing == "d" ? [] : ["line"]), receivedMs: 0)
        }
        fleet.take(topic: "edge/groups/line/deployment", payload: Self.text(["deploymentId": "v2", "revision": 2]), receivedMs: 0)
        fleet.take(topic: "edge/things/a/deployment/status",
                   payload: Self.text(["status": "SUCCEEDED", "source": "group/line", "deploymentId": "v2", "revision": 2]), receivedMs: 0)
        // Its own document came later, merged with the group's.
        fleet.take(topic: "edge/things/b/deployment/status",
                   payload: Self.text(["status": "IN_PROGRESS", "source": "thing", "deploymentId": "own", "revision": 1,
                                       "sources": [["source": "group/line", "deploymentId": "v2", "revision": 2]]]), receivedMs: 0)
        // About the group's previous revision: not this one yet.
        fleet.take(topic: "edge/things/c/deployment/status",
                   payload: Self.text(["status": "SUCCEEDED", "source": "group/line", "deploymentId": "v1", "revision": 1]), receivedMs: 0)
        let group = try #require(fleet.snapshot["groups"]?["line"])
        #expect(group["total"] == 3)
        #expect(group["done"] == 1)
        #expect(group["counts"]?["SUCCEEDED"] == 1)
        #expect(group["counts"]?["IN_PROGRESS"] == 1)
        #expect(group["counts"]?["PENDING"] == 1)
    }
}
