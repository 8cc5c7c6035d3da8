import Testing
@testable import EdgeCore

@Suite struct HeldMessagesTests {
    private func message(_ n: Int, bytes: Int = 10) -> OutboundMessage {
        OutboundMessage(topic: "t/\(n)", payload: [UInt8](repeating: UInt8(n % 256), count: bytes), qos: 0)
    }

    @Test func holdsInOrderAndGivesBackOldestFirst() {
        var held = HeldMessages(maxMessages: 10, maxBytes: 1000)
        for n in 0..<3 { held.hold(message(n)) }
        #expect(held.count == 3 && held.bytes == 30 && held.dropped == 0)
        #expect(held.first?.topic == "t/0")
        #expect(held.removeFirst()?.topic == "t/0")
        #expect(held.removeFirst()?.topic == "t/1")
        #expect(held.count == 1 && held.bytes == 10)
        #expect(held.removeFirst()?.topic == "t/2")
        #expect(held.removeFirst() == nil && held.isEmpty && held.bytes == 0)
    }

    @Test func dropsTheOldestPastTheCount() {
        var held = HeldMessages(maxMessages: 3, maxBytes: 1000)
        for n in 0..<5 { held.hold(message(n)) }
        #expect(held.count == 3 && held.dropped == 2 && held.bytes == 30)
        #expect(held.first?.topic == "t/2")
    }

    @Test func dropsTheOldestPastTheBytes() {
        var held = HeldMessages(maxMessages: 100, maxBytes: 25)
        held.hold(message(0))
        held.hold(message(1))
        held.hold(message(2, bytes: 12))
        // 32 bytes: the oldest (10) goes, 22 stay.
        #expect(held.count == 2 && held.bytes == 22 && held.dropped == 1)
        #expect(held.first?.topic == "t/1")
    }

    @Test func aMessageLargerThanTheBoundIsDroppedItselfLast() {
        var held = HeldMessages(maxMessages: 100, maxBytes: 25)
        held.hold(message(0))
        held.hold(message(1, bytes: 40))
        #expect(held.isEmpty && held.bytes == 0 && held.dropped == 2)
    }

    @Test func manyPassThroughWithoutLosingCount() {
        var held = HeldMessages(maxMessages: 10_000, maxBytes: 16 << 20)
        for n in 0..<25_000 { held.hold(message(n, bytes: 1)) }
        #expect(held.count == 10_000 && held.dropped == 15_000 && held.bytes == 10_000)
        #expect(held.first?.topic == "t/15000")
        var sent = 0
        while held.removeFirst() != nil { sent += 1 }
        #expect(sent == 10_000 && held.bytes == 0)
    }
}
