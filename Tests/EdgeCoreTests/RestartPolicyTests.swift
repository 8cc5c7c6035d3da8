import Testing
@testable import EdgeCore

@Suite struct RestartPolicyTests {
    let policy = RestartPolicy(maxFailures: 3, backoffMs: 500, maxBackoffMs: 30_000)

    @Test(arguments: [(1, 500), (2, 1000), (3, 2000), (4, 4000), (5, 8000), (6, 16_000), (7, 30_000), (8, 30_000), (100, 30_000)])
    func doublesUpToTheCap(_ failures: Int, _ delay: Int) {
        #expect(policy.delayMs(afterFailures: failures) == delay)
    }

    @Test(arguments: [0, -1, -1000])
    func zeroOrNegativeFailuresUseTheBaseDelay(_ failures: Int) {
        #expect(policy.delayMs(afterFailures: failures) == 500)
    }

    @Test func hugeFailureCountsDoNotOverflow() {
        let widest = RestartPolicy(maxFailures: 1000, backoffMs: 600_000, maxBackoffMs: 3_600_000)
        #expect(widest.delayMs(afterFailures: Int.max) == 3_600_000)
        #expect(widest.delayMs(afterFailures: 1000) == 3_600_000)
        let uncapped = RestartPolicy(maxFailures: 1000, backoffMs: 1, maxBackoffMs: Int.max)
        #expect(uncapped.delayMs(afterFailures: 21) == 1 << 20)
        #expect(uncapped.delayMs(afterFailures: 50) == 1 << 20)
    }

    @Test func zeroBackoffRestartsAtOnce() {
        let policy = RestartPolicy(maxFailures: 3, backoffMs: 0, maxBackoffMs: 30_000)
        for failures in [1, 2, 10] { #expect(policy.delayMs(afterFailures: failures) == 0) }
    }

    @Test func capBelowBaseWins() {
        let policy = RestartPolicy(maxFailures: 3, backoffMs: 1000, maxBackoffMs: 300)
        #expect(policy.delayMs(afterFailures: 1) == 300)
    }

    @Test func capEqualToADoublingIsReachedExactly() {
        let policy = RestartPolicy(maxFailures: 3, backoffMs: 100, maxBackoffMs: 400)
        #expect((1...4).map { policy.delayMs(afterFailures: $0) } == [100, 200, 400, 400])
    }
}
