#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgePOSIX

@Suite struct WakeUpTests {
    @Test func anEventCounterCountsUntilReset() throws {
        let counter = try EventCounter()
        #expect(counter.reset() == 0, "nothing added yet: no wait, no error")
        counter.signal()
        counter.signal()
        #expect(try Poll.wait(for: Int16(POLLIN), on: counter.descriptor.rawValue, timeoutMs: 0) & Int16(POLLIN) != 0)
        try counter.wait()
        #expect(counter.reset() == 2)
        #expect(try Poll.wait(for: Int16(POLLIN), on: counter.descriptor.rawValue, timeoutMs: 0) == 0)
    }

    @Test func aPollThatTimesOutReportsNothingReady() throws {
        let pipe = try Channels.makePipe()
        let began = Clock.monotonicMs()
        #expect(try Poll.wait(for: Int16(POLLIN), on: pipe.readEnd.rawValue, timeoutMs: 20) == 0)
        #expect(Clock.monotonicMs() - began >= 19)
        #expect(try writeByte(pipe.writeEnd) == 1)
        #expect(try Poll.wait(for: Int16(POLLIN), on: pipe.readEnd.rawValue, timeoutMs: 1000) == Int16(POLLIN))
    }

    @Test func anInboxWakesItsReaderOncePerBatch() throws {
        let inbox = try Inbox<Int>()
        inbox.post(1)
        inbox.post(2)
        #expect(inbox.drain() == [1, 2])
        #expect(inbox.drain() == [])
        #expect(try Poll.wait(for: Int16(POLLIN), on: inbox.wakeUp.descriptor.rawValue, timeoutMs: 0) == 0)
        inbox.post(3)
        #expect(try Poll.wait(for: Int16(POLLIN), on: inbox.wakeUp.descriptor.rawValue, timeoutMs: 0) == Int16(POLLIN))
    }
}

@Suite struct OwnershipTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    @Test func aDescriptorListClosesWhatItHoldsWhenItGoes() throws {
        let first = try Channels.makePipe()
        let second = try Channels.makePipe()
        let firstWrite = first.writeEnd
        let secondWrite = second.writeEnd
        do {
            var list = FileDescriptorList()
            list.append(first.readEnd)
            list.append(second.readEnd)
            #expect(list.count == 2)
        }
        #expect(systemError { _ = try writeByte(firstWrite) }?.errno == Errno(rawValue: EPIPE))
        #expect(systemError { _ = try writeByte(secondWrite) }?.errno == Errno(rawValue: EPIPE))
    }

    @Test func aSendToAClosedPeerIsEPIPENotSIGPIPE() throws {
        // Blocked in this thread, a SIGPIPE the send raised would stay pending here (Linux queues
        // a blocked signal even when it is ignored), without touching other tests' threads.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var mask = sigset_t()
        #expect(pthread_sigmask(SIG_BLOCK, &pipeSignal, &mask) == 0)
        defer { pthread_sigmask(SIG_SETMASK, &mask, nil) }
        let pair = try Channels.makeSocketPair()
        let agent = pair.agent
        try pair.child.close()
        var byte = UInt8(ascii: "x")
        let error = systemError { _ = try withUnsafeBytes(of: &byte) { (bytes) throws(SystemError) in try agent.send(bytes) } }
        #expect(error?.call == "send")
        #expect(error?.errno == Errno(rawValue: EPIPE))
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0, "send raised SIGPIPE")
    }

    @Test func anUnownedDescriptorIsLentNotClosed() throws {
        let pipe = blockingPipe()
        let number = pipe.writeEnd.release()
        let written = try FileDescriptor.withUnowned(number) { (lent) throws(SystemError) in try writeByte(lent) }
        #expect(written == 1)
        // Still open: its owner closes it.
        try FileDescriptor(taking: number).close()
    }

    @Test func anAccessCheckSaysWhyNot() {
        let directory = TemporaryDirectory()
        #expect(Files.isAccessible(directory.path, X_OK))
        #expect(!Files.isAccessible(directory.sub("none"), R_OK))
        let error = systemError { try Files.checkAccess(directory.sub("none"), R_OK) }
        #expect(error?.description == "access \(directory.sub("none")): No such file or directory (ENOENT)")
    }
}
