import Testing
import EdgeCore

@Suite struct PublishBudgetTests {
    @Test func aSecondsWorthGoesAtOnceThenTheRateHolds() {
        var budget = PublishBudget(messagesPerSecond: 10, bytesPerSecond: 1 << 20)
        let burst = (0..<15).map { _ in budget.take(bytes: 10, nowMs: 1000) }
        #expect(burst.filter { $0 == .allowed }.count == 10, "one second's worth at once")
        #expect(budget.refused == 5)
        // Half a second later: five more tokens.
        let later = (0..<10).map { _ in budget.take(bytes: 10, nowMs: 1500) }
        #expect(later.filter { $0 == .allowed }.count == 5)
        #expect(budget.allowed == 15 && budget.refused == 10)
    }

    @Test func bytesAreBudgetedToo() {
        var budget = PublishBudget(messagesPerSecond: 1000, bytesPerSecond: 1000)
        #expect(budget.take(bytes: 600, nowMs: 0) == .allowed)
        #expect(budget.take(bytes: 600, nowMs: 0) != .allowed, "1,200 bytes in a second against 1,000")
        #expect(budget.take(bytes: 600, nowMs: 1000) == .allowed, "refilled a second later")
    }

    @Test func theFunctionIsToldAtMostOnceASecondWithTheCountSinceItWasLastTold() {
        var budget = PublishBudget(messagesPerSecond: 1, bytesPerSecond: 1000)
        #expect(budget.take(bytes: 1, nowMs: 0) == .allowed)
        #expect(budget.take(bytes: 1, nowMs: 0) == .refused(notice: 1))
        #expect(budget.take(bytes: 1, nowMs: 100) == .refused(notice: nil))
        #expect(budget.take(bytes: 1, nowMs: 500) == .refused(notice: nil))
        // A token came back at 1000 ms; the next refusal tells the two held back plus itself.
        #expect(budget.take(bytes: 1, nowMs: 1000) == .allowed)
        #expect(budget.take(bytes: 1, nowMs: 1001) == .refused(notice: 3))
        #expect(budget.refusal(count: 3, field: "functions.f").contains("functions.f.limits.publishPerSecond"))
    }

    @Test func aMessageLargerThanASecondsBytesNeverGoes() {
        var budget = PublishBudget(messagesPerSecond: 10, bytesPerSecond: 100)
        #expect(budget.take(bytes: 101, nowMs: 0) == .tooLarge(notice: 1))
        #expect(budget.take(bytes: 101, nowMs: 5000) == .tooLarge(notice: 1))
        #expect(budget.refused == 2 && budget.allowed == 0)
    }

    @Test func defaultsApplyWhenTheLimitsSayNothing() {
        let budget = PublishBudget(ResourceLimits())
        #expect(budget.messagesPerSecond == PublishBudget.defaultMessagesPerSecond)
        #expect(budget.bytesPerSecond == PublishBudget.defaultKBPerSecond * 1024)
        #expect(PublishBudget(ResourceLimits(publishPerSecond: 7, publishKBPerSecond: 2)).bytesPerSecond == 2048)
    }

    @Test func newRatesKeepTheCounts() {
        var budget = PublishBudget(messagesPerSecond: 10, bytesPerSecond: 1000)
        _ = budget.take(bytes: 1, nowMs: 0)
        budget.retune(ResourceLimits(publishPerSecond: 2, publishKBPerSecond: 1))
        #expect(budget.messagesPerSecond == 2 && budget.allowed == 1)
        #expect(budget.take(bytes: 1, nowMs: 0) == .allowed)
        #expect(budget.take(bytes: 1, nowMs: 0) == .allowed)
        #expect(budget.take(bytes: 1, nowMs: 0) == .refused(notice: 1), "the lower rate holds at once: 2 a second")
    }
}
