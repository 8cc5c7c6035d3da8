#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgePOSIX

/// The reactor on epoll: what poll(2) did, it must still do.
@Suite struct EventLoopTests {
    private func send(_ byte: UInt8, to descriptor: borrowing FileDescriptor) throws {
        var value = byte
        _ = try withUnsafeBytes(of: &value) { (bytes) throws(SystemError) in try descriptor.write(bytes) }
    }

    /// Turns until `done` or a second has passed; false when it never held.
    private func turn(_ loop: EventLoop, until done: () -> Bool) -> Bool {
        loop.run(untilMs: Clock.monotonicMs() + 1000, done: done)
    }

    @Test func aReadyDescriptorsHandlerRunsUntilItIsUnwatched() throws {
        let loop = EventLoop()
        let pipe = try Channels.makePipe()
        var calls = 0
        let token = loop.watch(pipe.readEnd.rawValue) { revents in
            #expect(revents & Int16(POLLIN) != 0)
            calls += 1
        }
        try send(1, to: pipe.writeEnd)
        // Level-triggered, as poll(2): unread data keeps the descriptor ready turn after turn.
        #expect(turn(loop) { calls >= 3 }, "a readable pipe was reported \(calls) times")
        loop.unwatch(token)
        let before = calls
        loop.run(untilMs: Clock.monotonicMs() + 30) { false }
        #expect(calls == before, "an unwatched descriptor was still reported")
    }

    @Test func aWatchThatAsksForNothingHearsNothingNotEvenAHangUp() throws {
        let loop = EventLoop()
        let pipe = try Channels.makePipe()
        let readEnd = pipe.readEnd
        let writeEnd = pipe.writeEnd
        var calls = 0
        let token = loop.watch(readEnd.rawValue, events: 0) { _ in calls += 1 }
        // The write end closed: the read end hangs up, which epoll reports even unasked.
        _ = consume writeEnd
        loop.run(untilMs: Clock.monotonicMs() + 30) { false }
        #expect(calls == 0)
        loop.setEvents(token, Int16(POLLIN))
        #expect(turn(loop) { calls > 0 }, "the hang-up was not reported once POLLIN was asked for")
        loop.unwatch(token)
        _ = consume readEnd
    }

    @Test func aDescriptorEpollRefusesIsAlwaysReadyAsPollSaysIt() throws {
        let loop = EventLoop()
        let null = try FileDescriptor.open("/dev/null", O_RDONLY)
        var revents: Int16 = 0
        let token = loop.watch(null.rawValue) { revents = $0 }
        #expect(turn(loop) { revents != 0 })
        #expect(revents == Int16(POLLIN))
        loop.unwatch(token)
    }

    @Test func aNumberReusedAfterAnUnwatchAndCloseIsWatchedAfresh() throws {
        let loop = EventLoop()
        let first = try Channels.makePipe()
        let firstRead = first.readEnd
        let number = firstRead.rawValue
        let old = loop.watch(number) { _ in Issue.record("the closed pipe's handler ran") }
        loop.unwatch(old)
        _ = consume firstRead
        let second = try Channels.makePipe()
        #expect(second.readEnd.rawValue == number, "the kernel hands out the lowest free number")
        var heard = false
        let token = loop.watch(second.readEnd.rawValue) { _ in heard = true }
        try send(7, to: second.writeEnd)
        #expect(turn(loop) { heard })
        loop.unwatch(token)
    }

    @Test func unwatchingADescriptorClosedAndReusedForAFileEpollRefusesIsNoError() throws {
        // libmosquitto closes its socket before the client unwatches it; meanwhile another thread
        // may open a file (which epoll refuses) under the same number. The unwatch then meets
        // EPERM from the kernel, which means the number is not in the set: nothing to forget.
        let loop = EventLoop()
        let pipe = try Channels.makePipe()
        let readEnd = pipe.readEnd
        let number = readEnd.rawValue
        let token = loop.watch(number) { _ in }
        // dup2 closes the pipe's end and puts /dev/null under its number in one step (readEnd
        // then owns, and at the end closes, the /dev/null copy).
        let null = try FileDescriptor.open("/dev/null", O_RDONLY)
        #expect(dup2(null.rawValue, number) == number)
        loop.unwatch(token)
        _ = consume readEnd
    }

    @Test func timersFireInDeadlineOrderBetweenDescriptorEvents() {
        let loop = EventLoop()
        var fired: [Int] = []
        loop.after(20) { fired.append(20) }
        loop.after(5) { fired.append(5) }
        let cancelled = loop.after(10) { fired.append(10) }
        loop.cancel(cancelled)
        #expect(turn(loop) { fired.count == 2 })
        #expect(fired == [5, 20])
    }
}
