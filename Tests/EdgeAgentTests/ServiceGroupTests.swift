import Testing
@testable import EdgeAgent
import EdgePOSIX

/// A service that records what it was asked, and stops when told to (or never).
final class RecordingService: AgentService {
    let serviceName: String
    let stopDeadlineMs: Int
    let stopsBy: StopBehaviour
    var journal: Journal

    enum StopBehaviour { case atOnce, afterMs(Int), never, twice }

    final class Journal {
        var lines: [String] = []
    }

    init(_ name: String, journal: Journal, stopsBy: StopBehaviour = .atOnce, deadlineMs: Int = 1000) {
        serviceName = name
        self.journal = journal
        self.stopsBy = stopsBy
        stopDeadlineMs = deadlineMs
    }

    var loop: EventLoop?

    func start() { journal.lines.append("start \(serviceName)") }

    func stop(_ done: @escaping () -> Void) {
        journal.lines.append("stop \(serviceName)")
        switch stopsBy {
        case .atOnce: done()
        case .afterMs(let ms): loop?.after(ms) { done() }
        case .never: break
        case .twice:
            done()
            done()
        }
    }
}

/// Runs the loop until the group has finished, failing after `limitMs`.
func runUntilFinished(_ group: ServiceGroup, _ loop: EventLoop, limitMs: Int = 5000) -> Bool {
    var finished = false
    group.shutdown(reason: "test") {
        finished = true
        loop.stop()
    }
    if !finished {
        loop.after(limitMs) { loop.stop() }
        loop.run()
    }
    return finished
}

@Suite struct ServiceGroupTests {
    let logger = Logger(level: .error)

    @Test func startsInOrderAndStopsInReverseOneAtATime() {
        let loop = EventLoop()
        let journal = RecordingService.Journal()
        let late = RecordingService("functions", journal: journal, stopsBy: .afterMs(20))
        late.loop = loop
        let group = ServiceGroup([RecordingService("mqtt", journal: journal), RecordingService("shadows", journal: journal), late],
                                 loop: loop, logger: logger)
        group.start()
        #expect(journal.lines == ["start mqtt", "start shadows", "start functions"])
        #expect(runUntilFinished(group, loop), "the group did not finish")
        #expect(journal.lines.suffix(3) == ["stop functions", "stop shadows", "stop mqtt"])
        #expect(group.phase == .stopped)
    }

    @Test func aServiceThatNeverStopsIsLeftAtItsDeadline() {
        let loop = EventLoop()
        let journal = RecordingService.Journal()
        let group = ServiceGroup([RecordingService("mqtt", journal: journal),
                                  RecordingService("stuck", journal: journal, stopsBy: .never, deadlineMs: 30)],
                                 loop: loop, logger: logger)
        group.start()
        let began = Clock.monotonicMs()
        #expect(runUntilFinished(group, loop), "the group waited past the stuck service's deadline")
        #expect(Clock.monotonicMs() - began >= 30)
        #expect(journal.lines.suffix(2) == ["stop stuck", "stop mqtt"])
    }

    @Test func aSecondShutdownOrASecondDoneChangesNothing() {
        let loop = EventLoop()
        let journal = RecordingService.Journal()
        let group = ServiceGroup([RecordingService("a", journal: journal, stopsBy: .twice), RecordingService("b", journal: journal, stopsBy: .twice)],
                                 loop: loop, logger: logger)
        group.start()
        var calls = 0
        group.shutdown(reason: "first") { calls += 1 }
        group.shutdown(reason: "second") { calls += 100 }
        #expect(calls == 1)
        #expect(journal.lines == ["start a", "start b", "stop b", "stop a"])
    }
}
