import Testing
@testable import EdgeCore

@Suite struct ReconnectBackoffTests {
    @Test func ceilingsDoubleFromTheMinimumUpToTheCap() {
        let backoff = ReconnectBackoff()
        #expect((1...6).map { backoff.ceilingMs(afterFailures: $0) } == [100, 200, 400, 800, 1000, 1000])
        #expect(backoff.ceilingMs(afterFailures: 1_000_000) == 1000)
        #expect(backoff.ceilingMs(afterFailures: 0) == 100)
        let slow = ReconnectBackoff(minMs: 250, maxMs: 30_000)
        #expect(slow.ceilingMs(afterFailures: 8) == 30_000)
    }

    @Test func eachWaitIsDrawnFromTheUpperHalfOfItsCeiling() {
        let backoff = ReconnectBackoff()
        #expect(backoff.delayMs(afterFailures: 10, unit: 0) == 500)
        #expect(backoff.delayMs(afterFailures: 10, unit: 1) == 1000)
        #expect(backoff.delayMs(afterFailures: 10, unit: 0.5) == 750)
        #expect(backoff.delayMs(afterFailures: 1, unit: 0) == 50)
        #expect(backoff.delayMs(afterFailures: 10, unit: 7) == 1000)
        #expect(backoff.delayMs(afterFailures: 10, unit: -1) == 500)
    }

    @Test func afterAnyOutageTheNextAttemptComesWithinTheCap() {
        // However long the broker was away, the agent tries again within maxMs of any moment.
        let backoff = ReconnectBackoff()
        for failures in 1...200 {
            #expect(backoff.delayMs(afterFailures: failures, unit: 1) <= backoff.maxMs)
        }
    }

    @Test func aFleetSpreadsOverHalfTheCeiling() {
        // Devices that lost the broker together draw different waits: no two of 100 evenly spread
        // draws land on the same millisecond bucket of 5.
        let backoff = ReconnectBackoff()
        let waits = Set((0..<100).map { backoff.delayMs(afterFailures: 10, unit: Double($0) / 99) / 5 })
        #expect(waits.count == 100)
    }

    @Test func nonsenseLimitsAreRepaired() {
        let backoff = ReconnectBackoff(minMs: 0, maxMs: -5)
        #expect(backoff.minMs == 1 && backoff.maxMs == 1)
    }
}
