import Testing
@testable import EdgeAgent
import EdgePOSIX

@Suite struct EventPumpTests {
    @Test func anEventCausedWhileHandlingWaitsForTheCurrentOneToFinish() {
        let pump = EventPump<Int>()
        var journal: [String] = []
        func handle(_ event: Int) {
            journal.append("begin \(event)")
            if event < 3 { pump.feed(event + 1, handle) }
            journal.append("end \(event)")
        }
        pump.feed(1, handle)
        #expect(journal == ["begin 1", "end 1", "begin 2", "end 2", "begin 3", "end 3"])
    }
}

@Suite struct NamedTimersTests {
    @Test func armingANameAgainReplacesItAndACancelledOneNeverFires() {
        let loop = EventLoop()
        var fired: [String] = []
        let timers = NamedTimers<String>(loop: loop) { name in fired.append(name) }
        timers.arm("restart", afterMs: 50)
        timers.arm("restart", afterMs: 1)
        timers.arm("gone", afterMs: 1)
        timers.cancel("gone")
        timers.arm("later", afterMs: 20)
        // Long enough for the replaced 50 ms timer to have fired, had it not been replaced.
        loop.after(120) { loop.stop() }
        loop.run()
        #expect(fired == ["restart", "later"])
    }
}
