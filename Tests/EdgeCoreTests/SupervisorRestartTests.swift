import Testing
@testable import EdgeCore

/// An operator's restart (`edgectl restart`, `SupervisorEvent.restartRequested`).
@Suite struct SupervisorRestartTests {
    @Test func eachProcessFinishesItsEventThenAFreshOneStartsWithoutCountingAFailure() {
        var driver = SupervisorDriver(supervised(concurrency: 2))
        driver.startReady()
        driver.send(.enqueue(invocation("e1")))
        let asked = driver.send(.restartRequested)
        // The idle one is asked to shut down; the busy one keeps its event.
        #expect(asked.contains(.send(InstanceID(2), .shutdown)))
        #expect(asked.contains(.send(InstanceID(1), .shutdown)))
        #expect(driver.completions(in: asked).isEmpty, "the event in flight is not failed")
        let answered = driver.send(.message(InstanceID(1), .result(id: .string("e1"), value: RawJSON(["ok": true]))))
        #expect(driver.completions(in: answered).map(\.0) == ["e1"])
        let firstExit = driver.send(.exited(InstanceID(1), status: "exited with status 0", limitReason: nil))
        #expect(firstExit.contains(.spawn(InstanceID(3))))
        driver.send(.exited(InstanceID(2), status: "exited with status 0", limitReason: nil))
        #expect(driver.supervisor.instances.map(\.id) == [InstanceID(3), InstanceID(4)])
        #expect(driver.supervisor.restarts == 0 && driver.supervisor.lastError == nil)
        #expect(!driver.log.contains { if case .failed = $0 { true } else { false } })
    }

    @Test func eventsThatComeMeanwhileWaitForTheFreshProcess() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.restartRequested)
        let queued = driver.send(.enqueue(invocation("e2")))
        #expect(!queued.contains { if case .invoke = $0 { true } else { false } }, "not given to the instance that is ending")
        driver.send(.exited(InstanceID(1), status: "exited with status 0", limitReason: nil))
        let ready = driver.send(.message(InstanceID(2), .ready(liveConfig: true)))
        #expect(ready.contains { if case .invoke(InstanceID(2), let given, _) = $0 { given.id == "e2" } else { false } })
    }

    @Test func aFunctionWaitingOutItsBackoffStartsNow() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.exited(InstanceID(1), status: "exited with status 1", limitReason: nil))
        #expect(driver.supervisor.state == .restarting)
        let now = driver.send(.restartRequested)
        #expect(now.contains(.cancel(.restart)))
        #expect(now.contains(.spawn(InstanceID(2))))
        #expect(driver.supervisor.state == .starting)
    }

    @Test func aDisabledOrBrokenFunctionIsLeftToTheShell() {
        var disabled = SupervisorDriver(supervised(enabled: false))
        disabled.send(.start)
        #expect(disabled.send(.restartRequested).isEmpty)
        var broken = SupervisorDriver(supervised(maxFailures: 1))
        broken.startReady()
        broken.send(.exited(InstanceID(1), status: "exited with status 1", limitReason: nil))
        #expect(broken.supervisor.state == .broken)
        #expect(broken.send(.restartRequested).isEmpty)
    }

    @Test func anOnDemandFunctionRestartedWhileItFirstStartsStartsAgain() {
        var driver = SupervisorDriver(supervised(lifecycle: .onDemand))
        driver.send(.start)
        #expect(driver.supervisor.state == .starting)
        driver.send(.restartRequested)
        let exited = driver.send(.exited(InstanceID(1), status: "was killed by SIGTERM", limitReason: nil))
        #expect(exited.contains(.spawn(InstanceID(2))), "not left STARTING with no process")
        let ready = driver.send(.message(InstanceID(2), .ready(liveConfig: true)))
        #expect(ready.contains(.announceReady) && driver.supervisor.state == .running)
    }

    @Test func anOnDemandFunctionThatHasLoadedWaitsForItsNextEventAfterARestart() {
        var driver = SupervisorDriver(supervised(lifecycle: .onDemand))
        driver.startReady()
        driver.send(.restartRequested)
        let exited = driver.send(.exited(InstanceID(1), status: "exited with status 0", limitReason: nil))
        #expect(!exited.contains { if case .spawn = $0 { true } else { false } })
        #expect(driver.supervisor.state == .idle)
        let event = driver.send(.enqueue(invocation("e1")))
        #expect(event.contains(.spawn(InstanceID(2))))
    }
}
