import Testing
@testable import EdgeCore

/// The check that a session the broker confirmed delivers: one probe per connection, a deaf
/// session subscribed again with a longer wait, nothing left armed after a disconnect.
@Suite struct DeliveryProbeTests {
    @Test func oneProbePerConnectionOnceTheSubscriptionsAreAnswered() {
        var probe = DeliveryProbe()
        #expect(probe.subscriptionsAnswered(nowMs: 100) == [.publish(nonce: "0-1"), .arm(afterMs: DeliveryProbe.firstWaitMs)])
        #expect(probe.subscriptionsAnswered(nowMs: 150).isEmpty, "one check per connection")
        #expect(probe.received("0-1", nowMs: 340) == [.cancelTimer])
        #expect(probe.isDelivering && probe.lastRoundTripMs == 240 && probe.deafSessions == 0)
        #expect(probe.subscriptionsAnswered(nowMs: 400).isEmpty, "a later SUBACK (a new function's) checks nothing again")
        #expect(probe.timedOut(nowMs: 20_000).isEmpty, "a timer that fired late finds nothing to do")
    }

    @Test func aDeafSessionIsSubscribedAgainCheckedOnceAnsweredAndGivenUpOnAfterTwoRounds() {
        var probe = DeliveryProbe()
        _ = probe.subscriptionsAnswered(nowMs: 0)
        #expect(probe.timedOut(nowMs: 15_000) == [.resubscribe], "no probe before the new subscriptions are answered")
        #expect(probe.deafSessions == 1)
        #expect(probe.subscriptionsAnswered(nowMs: 15_400) == [.publish(nonce: "0-2"), .arm(afterMs: 30_000)])
        #expect(probe.timedOut(nowMs: 45_400) == [.resubscribe])
        #expect(probe.subscriptionsAnswered(nowMs: 45_800) == [.publish(nonce: "0-3"), .arm(afterMs: 60_000)])
        #expect(probe.timedOut(nowMs: 105_800).isEmpty && probe.gaveUp, "after two rounds it stops dropping the session's queue")
        #expect(probe.deafSessions == 1, "one deaf session, however many rounds")
        #expect(probe.subscriptionsAnswered(nowMs: 106_000).isEmpty)
        // A late probe of this connection proves delivery even so.
        #expect(probe.received("0-2", nowMs: 110_000) == [.cancelTimer])
        #expect(probe.isDelivering && !probe.gaveUp)
        _ = probe.disconnected()
        _ = probe.subscriptionsAnswered(nowMs: 120_000)
        #expect(probe.timedOut(nowMs: 135_000) == [.resubscribe], "a new connection gets its rounds again")
        #expect(probe.deafSessions == 2)
    }

    @Test func aProbeOfAnEarlierConnectionProvesNothing() {
        var probe = DeliveryProbe()
        _ = probe.subscriptionsAnswered(nowMs: 0)
        #expect(probe.disconnected() == [.cancelTimer])
        #expect(probe.subscriptionsAnswered(nowMs: 10) == [.publish(nonce: "1-2"), .arm(afterMs: DeliveryProbe.firstWaitMs)])
        #expect(probe.received("0-1", nowMs: 20).isEmpty, "sent on the connection before")
        #expect(!probe.isDelivering)
        #expect(probe.received("1-2", nowMs: 30) == [.cancelTimer])
        #expect(probe.disconnected().isEmpty, "nothing armed to cancel")
        #expect(!probe.isDelivering)
    }

    @Test func aProbeTheBrokerRefusesIsNotTakenForADeafSession() {
        var probe = DeliveryProbe()
        _ = probe.subscriptionsAnswered(nowMs: 0)
        #expect(probe.refused() == [.cancelTimer])
        #expect(probe.timedOut(nowMs: 15_000).isEmpty && probe.deafSessions == 0, "no resubscribing for an ACL")
        #expect(!probe.isDelivering)
        #expect(probe.refused().isEmpty)
        #expect(probe.disconnected().isEmpty)
        #expect(probe.subscriptionsAnswered(nowMs: 20_000).first == .publish(nonce: "1-2"), "the next connection checks again")
    }
}
