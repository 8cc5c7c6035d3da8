import Testing
import EdgeCore

@Suite struct OutboxLedgerTests {
    static let limits = OutboxLimits(maxMessages: 5, maxBytes: 1000, maxInFlight: 4)

    @Test func connectedAndNothingWaitingGoesAtOnceAndQoS1IsStoredUntilItsAck() {
        var ledger = OutboxLedger(limits: Self.limits)
        let admission = ledger.admit(topic: "a", bytes: 10, qos: 1, online: true)
        #expect(admission.route == .send)
        #expect(admission.store)
        ledger.handedOver(seq: admission.seq, bytes: 10, qos: 1, messageId: 7, stored: true)
        #expect(ledger.storedCount == 1 && ledger.inFlightCount == 1 && ledger.waitingCount == 0)
        #expect(ledger.acknowledged(7) == admission.seq)
        #expect(ledger.storedCount == 0 && ledger.storedBytes == 0 && ledger.inFlightCount == 0)
        #expect(ledger.acknowledged(7) == nil, "an acknowledgement counts once")
    }

    @Test func qos0SentAtOnceIsNeverStored() {
        var ledger = OutboxLedger(limits: Self.limits)
        let admission = ledger.admit(topic: "a", bytes: 10, qos: 0, online: true)
        #expect(admission == .init(seq: 1, route: .send, store: false, replaces: nil))
        ledger.handedOver(seq: admission.seq, bytes: 10, qos: 0, messageId: 3, stored: false)
        #expect(ledger.storedCount == 0 && ledger.inFlightCount == 0)
    }

    @Test func offlineEverythingWaitsStoredInOrderAcrossQoSLevels() {
        var ledger = OutboxLedger(limits: Self.limits)
        let first = ledger.admit(topic: "a", bytes: 10, qos: 1, online: false)
        let second = ledger.admit(topic: "a", bytes: 10, qos: 0, online: false)
        #expect(first.route == .wait && first.store && second.route == .wait && second.store)
        #expect(second.seq > first.seq)
        #expect(ledger.waitingCount == 2 && ledger.waiting(on: "a") == 2)
    }

    @Test func aLiveMessageQueuesBehindItsTopicsWaitingOnesButNotBehindOtherTopics() {
        var ledger = OutboxLedger(limits: Self.limits)
        _ = ledger.admit(topic: "a", bytes: 10, qos: 1, online: false)
        #expect(ledger.admit(topic: "a", bytes: 10, qos: 0, online: true).route == .wait, "order per topic, across QoS")
        #expect(ledger.admit(topic: "b", bytes: 10, qos: 1, online: true).route == .send, "another topic does not wait")
    }

    @Test func aFullInFlightWindowMakesQoS1WaitButNotQoS0() {
        var ledger = OutboxLedger(limits: Self.limits)
        for id in 1...4 {
            let admission = ledger.admit(topic: "t\(id)", bytes: 1, qos: 1, online: true)
            ledger.handedOver(seq: admission.seq, bytes: 1, qos: 1, messageId: Int32(id), stored: true)
        }
        #expect(ledger.isInFlightFull)
        #expect(ledger.admit(topic: "x", bytes: 1, qos: 1, online: true).route == .wait)
        #expect(ledger.admit(topic: "y", bytes: 1, qos: 0, online: true).route == .send)
    }

    @Test func theReplayLeavesAQuarterOfTheWindowToLiveMessages() {
        var ledger = OutboxLedger(limits: Self.limits)
        var waiting: [OutboxLedger.Message] = []
        for index in 0..<4 {
            let admission = ledger.admit(topic: "a", bytes: 1, qos: 1, online: false)
            waiting.append(.init(seq: admission.seq, topic: "a", bytes: 1, qos: 1))
            _ = index
        }
        var replayed = 0
        for (index, message) in waiting.enumerated() where ledger.replayHasRoom {
            ledger.replayed(message, messageId: Int32(index + 1))
            replayed += 1
        }
        #expect(replayed == 3, "3 of 4 slots for the replay")
        #expect(!ledger.isInFlightFull)
        #expect(ledger.admit(topic: "live", bytes: 1, qos: 1, online: true).route == .send)
        _ = ledger.acknowledged(1)
        #expect(ledger.replayHasRoom, "an acknowledgement frees a replay slot")
    }

    @Test func aReplayedQoS0MessageIsDoneAndAReplayedQoS1OneAwaitsItsAck() {
        var ledger = OutboxLedger(limits: Self.limits)
        let a = ledger.admit(topic: "a", bytes: 5, qos: 0, online: false)
        let b = ledger.admit(topic: "a", bytes: 7, qos: 1, online: false)
        ledger.replayed(.init(seq: a.seq, topic: "a", bytes: 5, qos: 0), messageId: 1)
        #expect(ledger.storedCount == 1 && ledger.storedBytes == 7 && ledger.waitingCount == 1)
        ledger.replayed(.init(seq: b.seq, topic: "a", bytes: 7, qos: 1), messageId: 2)
        #expect(ledger.waitingCount == 0 && ledger.inFlightCount == 1 && ledger.isInFlight(b.seq))
        #expect(ledger.cursor == b.seq)
        #expect(ledger.acknowledged(2) == b.seq)
        #expect(ledger.storedCount == 0)
    }

    @Test func overTheBoundsTheShellDropsTheOldestAndTheyAreCounted() {
        var ledger = OutboxLedger(limits: Self.limits)
        var admitted: [OutboxLedger.Message] = []
        for _ in 0..<6 {
            let admission = ledger.admit(topic: "a", bytes: 10, qos: 1, online: false)
            admitted.append(.init(seq: admission.seq, topic: "a", bytes: 10, qos: 1))
        }
        #expect(ledger.isOverLimits, "6 messages against a bound of 5")
        ledger.dropped(admitted[0])
        #expect(!ledger.isOverLimits)
        #expect(ledger.dropped == 1 && ledger.waitingCount == 5)

        var bytes = OutboxLedger(limits: Self.limits)
        _ = bytes.admit(topic: "a", bytes: 600, qos: 1, online: false)
        _ = bytes.admit(topic: "a", bytes: 600, qos: 1, online: false)
        #expect(bytes.isOverLimits, "1200 bytes against a bound of 1000")
    }

    @Test func aNewerWaitingHealthReportReplacesTheOlderOne() {
        var ledger = OutboxLedger(limits: Self.limits)
        let first = ledger.admit(topic: "health", bytes: 100, qos: 1, coalesce: true, online: false)
        let second = ledger.admit(topic: "health", bytes: 120, qos: 1, coalesce: true, online: false)
        #expect(second.replaces == first.seq)
        #expect(ledger.waitingCount == 1 && ledger.storedBytes == 120 && ledger.replaced == 1)
        let other = ledger.admit(topic: "results", bytes: 10, qos: 1, coalesce: false, online: false)
        #expect(other.replaces == nil)
        ledger.replayed(.init(seq: second.seq, topic: "health", bytes: 120, qos: 1, coalesce: true), messageId: 4)
        let third = ledger.admit(topic: "health", bytes: 90, qos: 1, coalesce: true, online: false)
        #expect(third.replaces == nil, "one in flight is not replaced")
    }

    @Test func aSendThatFindsTheClientOfflineWaitsAndTheReplayLooksBackForIt() {
        var ledger = OutboxLedger(limits: Self.limits)
        ledger.passed(40)
        let admission = ledger.admit(topic: "a", bytes: 3, qos: 0, online: true)
        #expect(admission.route == .send)
        ledger.sendFailed(.init(seq: admission.seq, topic: "a", bytes: 3, qos: 0), stored: true)
        #expect(ledger.waitingCount == 1 && ledger.cursor < admission.seq)
        ledger.sendFailed(.init(seq: 99, topic: "a", bytes: 3, qos: 0), stored: false)
        #expect(ledger.dropped == 1, "not stored while offline is lost, and counted")
    }

    @Test func aDisconnectReplaysFromTheStartAndARestartRestoresCountsAndSequence() {
        var ledger = OutboxLedger(limits: Self.limits)
        ledger.passed(12)
        ledger.disconnected()
        #expect(ledger.cursor == 0)

        var restarted = OutboxLedger(limits: Self.limits)
        restarted.restore([.init(topic: "a", count: 2, bytes: 20), .init(topic: "h", count: 1, bytes: 5, newestCoalescing: (9, 5))], maxSeq: 41)
        #expect(restarted.waitingCount == 3 && restarted.storedBytes == 25 && restarted.waiting(on: "a") == 2)
        #expect(restarted.admit(topic: "z", bytes: 1, qos: 1, online: false).seq == 42, "new messages go behind what was stored")
        #expect(restarted.admit(topic: "h", bytes: 6, qos: 1, coalesce: true, online: false).replaces == 9)
    }
}
