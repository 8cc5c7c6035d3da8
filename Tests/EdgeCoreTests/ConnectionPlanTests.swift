import Testing
@testable import EdgeCore

private let a = BrokerEndpoint(host: "node1", port: 1883)
private let b = BrokerEndpoint(host: "node2", port: 1884)
private let c = BrokerEndpoint(host: "node3", port: 1885)
private let backoff = ReconnectBackoff(minMs: 100, maxMs: 1000)

@Suite struct ConnectionPlanTests {
    @Test func autoStartsWithMQTT5AndFallsBackAtOnceOnTheSameEndpoint() {
        for failure in [ConnectionFailure.refused(code: 1), .refused(code: 0x84), .closedBeforeAnswer("eof"), .noAnswer(waitedMs: 10_000)] {
            var plan = ConnectionPlan(endpoints: [a, b], setting: .auto, backoff: backoff)
            #expect(plan.protocolLevel == 5)
            let step = plan.failed(failure, unit: 1)
            #expect(step == .init(delayMs: 0, fallingBack: true), "\(failure)")
            #expect(plan.endpoint == a && plan.protocolLevel == 4)
            #expect(plan.failures == 0, "a fall-back is not a failure")
        }
    }

    @Test func whatConnectedIsRememberedPerEndpoint() {
        var plan = ConnectionPlan(endpoints: [a, b], setting: .auto, backoff: backoff)
        _ = plan.failed(.closedBeforeAnswer("eof"), unit: 0)
        plan.connected(nowMs: 0)
        #expect(plan.protocolLevel == 4)
        _ = plan.lost(unit: 0, nowMs: 1)
        #expect(plan.endpoint == a && plan.protocolLevel == 4, "a reconnect to the same endpoint goes straight to 3.1.1")
        // Another failure moves to b, not tried yet: what a spoke first (a cluster runs one broker).
        _ = plan.failed(.unreachable("refused"), unit: 0)
        #expect(plan.endpoint == b && plan.protocolLevel == 4)
        // b turns out to speak MQTT 5 after all? Only a refusal of 3.1.1 would say; it connected.
        plan.connected(nowMs: 0)
        _ = plan.failed(.unreachable("refused"), unit: 0)
        #expect(plan.endpoint == a && plan.protocolLevel == 4)
    }

    @Test func aFallBackThatFailsTheSameWayIsForgotten() {
        var plan = ConnectionPlan(endpoints: [a], setting: .auto, backoff: backoff)
        _ = plan.failed(.closedBeforeAnswer("eof"), unit: 0)
        #expect(plan.protocolLevel == 4)
        let step = plan.failed(.closedBeforeAnswer("eof"), unit: 0)
        #expect(!step.fallingBack && step.delayMs > 0)
        #expect(plan.protocolLevel == 5, "MQTT 5 gets another chance on the next round")
    }

    @Test func aFixedVersionNeverFallsBack() {
        var v5 = ConnectionPlan(endpoints: [a], setting: .v5, backoff: backoff)
        #expect(!v5.failed(.refused(code: 0x84), unit: 0).fallingBack)
        #expect(v5.protocolLevel == 5)
        var v311 = ConnectionPlan(endpoints: [a], setting: .v311, backoff: backoff)
        #expect(v311.protocolLevel == 4)
        #expect(!v311.failed(.noAnswer(waitedMs: 1), unit: 0).fallingBack)
    }

    @Test func otherFailuresMoveToTheNextEndpointWithTheBackoff() {
        var plan = ConnectionPlan(endpoints: [a, b, c], setting: .auto, backoff: backoff)
        var delays: [Int] = []
        var visited: [BrokerEndpoint] = []
        for failure in [ConnectionFailure.unreachable("x"), .tls("bad"), .refused(code: 0x87), .nameLookup("x")] {
            delays.append(plan.failed(failure, unit: 1).delayMs)
            visited.append(plan.endpoint)
        }
        #expect(visited == [b, c, a, b])
        #expect(delays == [100, 200, 400, 800], "\(delays)")
        #expect(plan.failed(.unreachable("x"), unit: 1).delayMs == 1000)
        plan.connected(nowMs: 0)
        #expect(plan.lost(unit: 0, nowMs: ConnectionPlan.stableMs) == 50, "the backoff starts over after a stable connection")
    }

    @Test func aConnectionDroppedAtOnceDoesNotStartTheBackoffOver() {
        var plan = ConnectionPlan(endpoints: [a], setting: .v311, backoff: backoff)
        var delays: [Int] = []
        for turn in 0..<5 {
            plan.connected(nowMs: Int64(turn) * 1000)
            delays.append(plan.lost(unit: 1, nowMs: Int64(turn) * 1000 + 50))
        }
        #expect(delays == [100, 200, 400, 800, 1000], "a broker that drops the agent at once is not hammered: \(delays)")
    }

    @Test func aLostConnectionIsRetriedOnTheSameEndpointFirst() {
        var plan = ConnectionPlan(endpoints: [a, b], setting: .v311, backoff: backoff)
        plan.connected(nowMs: 0)
        #expect(plan.lost(unit: 1, nowMs: 60_000) == 100)
        #expect(plan.endpoint == a)
        _ = plan.failed(.unreachable("connection refused"), unit: 1)
        #expect(plan.endpoint == b)
    }
}

@Suite struct ConnectionFailureTests {
    @Test func eachKindSaysWhatHappenedAndOnlyTLSFailuresTalkAboutCertificates() {
        let lines: [(ConnectionFailure, String)] = [
            (.nameLookup("Name or service not known"), "look up"),
            (.unreachable("Connection refused"), "Connection refused"),
            (.tls("certificate verification failed: certificate has expired"), "certificate has expired"),
            (.refused(code: 5), "not authorised"),
            (.refused(code: 0x86), "bad user name or password (code 0x86)"),
            (.refused(code: 0x87), "not authorized (code 0x87)"),
            (.refused(code: 0x89), "server busy (code 0x89)"),
            (.refused(code: 2), "client identifier rejected"),
            (.closedBeforeAnswer("connection lost"), "closed the connection"),
            (.noAnswer(waitedMs: 5000), "within 5000 ms"),
        ]
        for (failure, words) in lines {
            #expect(failure.explanation.contains(words), "\(failure): \(failure.explanation)")
            let isTLS: Bool
            if case .tls = failure { isTLS = true } else { isTLS = false }
            #expect(failure.explanation.contains("certificate") == isTLS, "\(failure): \(failure.explanation)")
            #expect(!failure.explanation.contains("\n"))
        }
        #expect(ConnectionFailure.refused(code: 4).isNotAuthorized && ConnectionFailure.refused(code: 0x87).isNotAuthorized)
        #expect(!ConnectionFailure.refused(code: 3).isNotAuthorized && !ConnectionFailure.unreachable("x").isNotAuthorized)
        #expect(ConnackCode.words(0xFE) == "unknown reason (code 0xFE)")
    }

    @Test func anAttemptNamesItsEndpointAndProtocol() {
        let attempt = ConnectionAttemptFailure(endpoint: BrokerEndpoint(host: "::1", port: 1883), protocolLevel: 5,
                                               failure: .closedBeforeAnswer("eof"), fallingBack: true)
        #expect(attempt.description.hasPrefix("cannot connect to [::1]:1883 (MQTT 5): "))
        #expect(attempt.description.hasSuffix("trying MQTT 3.1.1 next"))
    }
}
