import Testing
@testable import EdgeCore

/// A deployment is SUCCEEDED only once the broker has answered the subscriptions its functions
/// need: on a broker that takes its time (NATS creates a JetStream consumer per subscription),
/// events published right after SUCCEEDED would otherwise be missed.
@Suite struct RolloutSubscriptionGateTests {
    /// A driver that leaves `.confirmSubscriptions` to the test.
    private static func driver() -> RolloutDriver {
        var driver = RolloutDriver()
        driver.refusedSubscriptions = nil
        return driver
    }

    @Test func theAttemptWaitsForTheBrokersAnswerBeforeItIsSavedAndSucceeds() {
        var driver = Self.driver()
        driver.deploy(["a": fn()], revision: 1)
        #expect(driver.lastState == .inProgress)
        #expect(driver.log.contains { if case .confirmSubscriptions(1) = $0 { true } else { false } })
        #expect(driver.log.contains { if case .arm(.subscriptionGate(1), Rollout.subscriptionGateMs) = $0 { true } else { false } })
        #expect(!driver.log.contains { if case .save = $0 { true } else { false } }, "nothing saved before the broker answers")
        #expect(driver.rollout.routes["a"] != nil, "the routes (and so the subscriptions) are there while it waits")

        let answered = driver.send(.subscribed(attempt: 1, refused: []))
        #expect(answered.contains { if case .cancel(.subscriptionGate(1)) = $0 { true } else { false } })
        #expect(driver.lastState == .succeeded && driver.published.last?.reason == nil)
    }

    @Test func aRefusedSubscriptionIsSaidInTheSucceededReason() {
        var driver = Self.driver()
        driver.deploy(["a": fn()], revision: 1)
        driver.send(.subscribed(attempt: 1, refused: ["sensors/+/x"]))
        #expect(driver.lastState == .succeeded)
        let reason = driver.published.last?.reason ?? ""
        #expect(reason.contains("refused the subscription to sensors/+/x") && reason.contains("ACL"), "\(reason)")
    }

    @Test func aBrokerThatDoesNotAnswerInTimeDelaysTheDeploymentNoLonger() {
        var driver = Self.driver()
        driver.deploy(["a": fn()], revision: 1)
        driver.send(.timer(.subscriptionGate(attempt: 1)))
        #expect(driver.lastState == .succeeded)
        #expect(driver.published.last?.reason?.contains("had not confirmed every subscription after 10 s") == true)
        let late = driver.send(.subscribed(attempt: 1, refused: []))
        #expect(late.isEmpty, "a late answer changes nothing")
    }

    @Test func aFunctionThatFailsWhileTheBrokerAnswersIsRolledBack() {
        var driver = Self.driver()
        driver.deploy(["a": fn("1")], revision: 1)
        driver.send(.subscribed(attempt: 1, refused: []))
        driver.deploy(["a": fn("2")], revision: 2)
        let failing = driver.live("a")!
        driver.send(.runnerFailed(failing, reason: "exited with code 1", broken: false))
        #expect(driver.lastState == .rolledBack)
        #expect(driver.log.contains { if case .cancel(.subscriptionGate(2)) = $0 { true } else { false } })
        #expect(driver.rollout.current.functions["a"]?.version == "1")
    }

    @Test func aRestoreAfterARestartDoesNotWait() {
        var driver = Self.driver()
        driver.send(.restore(.success(SavedDeployments(documents: [.thing: doc(["a": fn()], revision: 1)]))))
        driver.stageAndStart()
        #expect(driver.lastState == .succeeded)
        #expect(!driver.log.contains { if case .confirmSubscriptions = $0 { true } else { false } })
    }
}
