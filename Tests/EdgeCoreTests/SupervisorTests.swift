import Testing
@testable import EdgeCore

/// Drives a `Supervisor` as its shell would, with a clock of its own: no process, no timer, no broker.
struct SupervisorDriver {
    var supervisor: Supervisor
    var now: Int64 = 1_000_000_000
    var nextPid: Int32 = 100
    /// Every effect so far, in order.
    var log: [SupervisorEffect] = []

    init(_ spec: FunctionSpec) {
        supervisor = Supervisor(spec: spec, thing: "dev1", deploymentId: "dep-1", logPath: "/logs/\(spec.name).log")
    }

    /// Gives one event and returns its effects; a `.spawn` is answered with a pid at once, as the
    /// shell does, unless `spawns` is false.
    @discardableResult
    mutating func send(_ event: SupervisorEvent, spawns: Bool = true) -> [SupervisorEffect] {
        var effects = supervisor.handle(event, now: now)
        if spawns {
            // A spawn's answer may ask for the next spawn: answer until none is left.
            var answered = 0
            while let id = effects.dropFirst(answered).compactMap({ if case .spawn(let id) = $0 { id } else { nil } }).first {
                answered = effects.firstIndex(of: .spawn(id))! + 1
                effects += supervisor.handle(.spawned(id, pid: nextPid), now: now)
                nextPid += 1
            }
        }
        log += effects
        return effects
    }

    mutating func advance(ms: Int64) { now += ms * 1_000_000 }

    var liveIDs: [InstanceID] { supervisor.instances.map(\.id) }

    /// Starts the function and has every instance send `ready`.
    mutating func startReady() {
        send(.start)
        for id in liveIDs { send(.message(id, .ready(liveConfig: true))) }
    }

    func completions(in effects: [SupervisorEffect]) -> [(String, InvocationOutcome)] {
        effects.compactMap { if case .complete(let invocation, let outcome, _) = $0 { return (invocation.id, outcome) } else { return nil } }
    }

    func errorKinds(in effects: [SupervisorEffect]) -> [ErrorKind] {
        completions(in: effects).compactMap { if case .failure(let error) = $0.1 { return error.kind } else { return nil } }
    }
}

func invocation(_ id: String, payload: String = #"{"x":1}"#) -> Invocation {
    Invocation(id: id, topic: "sensors/a", payload: Array(payload.utf8), isJSON: true)
}

func supervised(_ name: String = "f", lifecycle: FunctionSpec.Lifecycle = .longLived, concurrency: Int = 1,
                queueSize: Int = 100, maxFailures: Int = 3, enabled: Bool = true) -> FunctionSpec {
    var spec = makeSpec(name)
    spec.lifecycle = lifecycle
    spec.concurrency = concurrency
    spec.queueSize = queueSize
    spec.restart = RestartPolicy(maxFailures: maxFailures, backoffMs: 500, maxBackoffMs: 30_000)
    spec.enabled = enabled
    return spec
}

@Suite struct SupervisorStartTests {
    @Test func aLongLivedFunctionStartsItsConcurrencyAndIsReadyOnceAllAre() {
        var driver = SupervisorDriver(supervised(concurrency: 2))
        let started = driver.send(.start)
        #expect(started.filter { if case .spawn = $0 { true } else { false } }.count == 2)
        #expect(started.contains(.send(InstanceID(1), .initialize(function: "f", version: "1.0.0", thing: "dev1", deploymentId: "dep-1", config: [:]))))
        #expect(started.contains(.arm(.startDeadline(InstanceID(1)), afterMs: 30_000)))
        #expect(started.contains(.event(.started(pid: 100))))
        #expect(driver.supervisor.state == .starting)
        let first = driver.send(.message(InstanceID(1), .ready(liveConfig: true)))
        #expect(!first.contains(.announceReady))
        #expect(first.contains(.arm(.stable(InstanceID(1)), afterMs: Supervisor.stableMs)))
        let second = driver.send(.message(InstanceID(2), .ready(liveConfig: true)))
        #expect(second.contains(.announceReady))
        #expect(driver.supervisor.state == .running)
        #expect(driver.supervisor.pids == [100, 101])
    }

    @Test func aDisabledFunctionIsReadyAndRunsNothing() {
        var driver = SupervisorDriver(supervised(enabled: false))
        let effects = driver.send(.start)
        #expect(effects == [.announceReady, .changed])
        #expect(driver.supervisor.state == .disabled)
        let answered = driver.send(.enqueue(invocation("e1")))
        #expect(driver.errorKinds(in: answered) == [.disabled])
    }

    @Test func anInstanceThatIsNotReadyInTimeIsKilledAndCountsAsAFailure() {
        var driver = SupervisorDriver(supervised())
        driver.send(.start)
        let killed = driver.send(.timer(.startDeadline(InstanceID(1))))
        #expect(killed.contains(.signal(InstanceID(1), .kill)))
        let exited = driver.send(.exited(InstanceID(1), status: "was killed by SIGKILL", limitReason: nil))
        #expect(exited.contains(.failed(reason: "did not send ready within startTimeoutMs (30000 ms)", broken: false)))
        #expect(driver.supervisor.state == .restarting)
    }

    @Test func spawnsGoOneAtATimeAndOneThatFailsStopsTheRestAndCountsOnce() {
        var driver = SupervisorDriver(supervised(concurrency: 3, maxFailures: 3))
        let first = driver.send(.start, spawns: false)
        #expect(first.filter { if case .spawn = $0 { true } else { false } } == [.spawn(InstanceID(1))])
        let second = driver.send(.spawned(InstanceID(1), pid: 100), spawns: false)
        #expect(second.contains(.spawn(InstanceID(2))))
        let failed = driver.send(.spawnFailed(InstanceID(2), reason: "cannot create a cgroup"), spawns: false)
        #expect(!failed.contains { if case .spawn = $0 { true } else { false } })
        #expect(failed.contains(.failed(reason: "cannot create a cgroup", broken: false)))
        #expect(driver.supervisor.state == .restarting)
        // The restart fills up to three again, one at a time.
        let restarted = driver.send(.timer(.restart))
        #expect(restarted.filter { if case .spawn = $0 { true } else { false } }.count == 2)
        #expect(driver.supervisor.pids.count == 3)
    }

    @Test func aSpawnThatFailsIsAFailureWithItsReason() {
        var driver = SupervisorDriver(supervised())
        let effects = driver.send(.start, spawns: false)
        #expect(effects.contains(.spawn(InstanceID(1))))
        let failed = driver.send(.spawnFailed(InstanceID(1), reason: "cannot create a cgroup"))
        #expect(failed.contains(.failed(reason: "cannot create a cgroup", broken: false)))
        #expect(failed.contains(.arm(.restart, afterMs: 500)))
        #expect(driver.supervisor.instances.isEmpty)
    }

    @Test func aFailedExecIsReportedWithTheExecErrorNotTheExitStatus() {
        var driver = SupervisorDriver(supervised())
        driver.send(.start)
        driver.send(.execFailed(InstanceID(1), reason: "cannot execute /opt/f/run: No such file or directory"))
        let exited = driver.send(.exited(InstanceID(1), status: "exited with status 127", limitReason: nil))
        #expect(exited.contains(.failed(reason: "cannot execute /opt/f/run: No such file or directory", broken: false)))
    }
}

@Suite struct SupervisorDispatchTests {
    @Test func anEventGoesToAnIdleInstanceAndItsResultIsPublished() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        let sent = driver.send(.enqueue(invocation("e1")))
        #expect(sent.contains(.invoke(InstanceID(1), invocation("e1"), timeoutMs: 3000)))
        #expect(sent.contains(.arm(.invocationDeadline(InstanceID(1)), afterMs: 3000)))
        driver.advance(ms: 7)
        let answered = driver.send(.message(InstanceID(1), .result(id: "e1", value: RawJSON(["digit": 7]))))
        #expect(answered.contains(.cancel(.invocationDeadline(InstanceID(1)))))
        #expect(answered.contains(.complete(invocation("e1"), .result(RawJSON(["digit": 7])), durationMs: 7)))
        #expect(driver.supervisor.invocations == 1)
        #expect(driver.supervisor.errors == 0)
        #expect(driver.supervisor.latency.count == 1)
    }

    @Test func healthIsDueWhenTheStateOrTheProcessesChangeNotForEveryAnswer() {
        var driver = SupervisorDriver(supervised())
        #expect(driver.send(.start).contains(.changed))
        #expect(driver.send(.message(InstanceID(1), .ready(liveConfig: true))).contains(.changed))
        #expect(!driver.send(.enqueue(invocation("e1"))).contains(.changed))
        #expect(!driver.send(.message(InstanceID(1), .result(id: "e1", value: .null))).contains(.changed))
        #expect(driver.send(.exited(InstanceID(1), status: "exited with status 1", limitReason: nil)).contains(.changed))
    }

    @Test func eventsWaitInOrderWhileTheInstanceIsBusy() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.enqueue(invocation("e1")))
        let queued = driver.send(.enqueue(invocation("e2")))
        #expect(!queued.contains { if case .invoke = $0 { true } else { false } })
        #expect(driver.supervisor.queueDepth == 1)
        let next = driver.send(.message(InstanceID(1), .result(id: "e1", value: .null)))
        #expect(next.contains(.invoke(InstanceID(1), invocation("e2"), timeoutMs: 3000)))
    }

    @Test func aHandlerErrorIsPublishedUnderItsOwnName() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.enqueue(invocation("e1")))
        let answered = driver.send(.message(InstanceID(1), .error(id: "e1", type: "ValueError", message: "bad pixels")))
        #expect(driver.errorKinds(in: answered) == [.handler("ValueError")])
        #expect(driver.supervisor.lastError == "ValueError: bad pixels")
        #expect(driver.supervisor.errors == 1)
    }

    @Test func aFullQueueAnswersQueueFullAndSaysSoOnTheFirstAndEveryHundredth() {
        var driver = SupervisorDriver(supervised(queueSize: 2))
        driver.startReady()
        for index in 0..<3 { driver.send(.enqueue(invocation("e\(index)"))) }
        var overflowEvents = 0
        var kinds: [ErrorKind] = []
        for index in 0..<100 {
            let effects = driver.send(.enqueue(invocation("x\(index)")))
            kinds += driver.errorKinds(in: effects)
            overflowEvents += effects.filter { if case .event(.queueOverflow) = $0 { true } else { false } }.count
        }
        #expect(kinds == Array(repeating: .queueFull, count: 100))
        #expect(overflowEvents == 2)
        #expect(driver.supervisor.dropped == 100)
    }

    @Test func anEventTooLargeForOneLineNeverReachesTheFunction() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        let big = Invocation(id: "big", topic: "t", payload: Array(repeating: 0x41, count: 3 << 20), isJSON: false)
        #expect(driver.errorKinds(in: driver.send(.enqueue(big))) == [.payloadTooLarge])
    }

    @Test func aResultForAnotherIdIsAProtocolErrorThatKillsTheInstance() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.enqueue(invocation("e1")))
        let effects = driver.send(.message(InstanceID(1), .result(id: "e9", value: .null)))
        #expect(effects.contains(.signal(InstanceID(1), .kill)))
        #expect(driver.errorKinds(in: effects) == [.crashed])
        let exited = driver.send(.exited(InstanceID(1), status: "was killed by SIGKILL", limitReason: nil))
        #expect(exited.contains(.failed(reason: #"protocol error: a result for id "e9" that is not the invocation in flight"#, broken: false)))
    }

    @Test func anUnknownMessageTypeIsAProtocolError() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        #expect(driver.send(.message(InstanceID(1), .unknown(type: "hello"))).contains(.signal(InstanceID(1), .kill)))
    }

    @Test func aLineThatIsNotJSONIsReportedAndTheInstanceReplaced() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        let effects = driver.send(.protocolError(InstanceID(1), "fd 3 carried a line that is not JSON"))
        #expect(effects.contains(.event(.protocolError("fd 3 carried a line that is not JSON"))))
        #expect(effects.contains(.signal(InstanceID(1), .kill)))
    }
}

@Suite struct SupervisorTimeoutAndCrashTests {
    @Test func aTimeoutAnswersTimeoutKillsTheInstanceAndStartsAnother() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.enqueue(invocation("e1")))
        driver.advance(ms: 3000)
        let timedOut = driver.send(.timer(.invocationDeadline(InstanceID(1))))
        #expect(driver.errorKinds(in: timedOut) == [.timeout])
        #expect(timedOut.contains(.event(.timeout(invocationId: "e1", timeoutMs: 3000))))
        #expect(timedOut.contains(.signal(InstanceID(1), .kill)))
        #expect(driver.supervisor.timeouts == 1)
        let exited = driver.send(.exited(InstanceID(1), status: "was killed by SIGKILL", limitReason: nil))
        #expect(exited.contains(.spawn(InstanceID(2))))
        #expect(!exited.contains { if case .failed = $0 { true } else { false } })
    }

    @Test func aLateDeadlineAfterTheAnswerChangesNothing() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.enqueue(invocation("e1")))
        driver.send(.message(InstanceID(1), .result(id: "e1", value: .null)))
        #expect(driver.send(.timer(.invocationDeadline(InstanceID(1)))).isEmpty)
    }

    @Test func aCrashDuringAnEventAnswersCrashedAndRestartsAfterTheBackoff() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.enqueue(invocation("e1")))
        let crashed = driver.send(.exited(InstanceID(1), status: "was killed by SIGSEGV", limitReason: nil))
        #expect(driver.errorKinds(in: crashed) == [.crashed])
        #expect(crashed.contains(.event(.crashed(reason: "was killed by SIGSEGV (see /logs/f.log)", failures: 1, maxFailures: 3))))
        #expect(crashed.contains(.arm(.restart, afterMs: 500)))
        #expect(driver.supervisor.state == .restarting)
        let restarted = driver.send(.timer(.restart))
        #expect(restarted.contains(.spawn(InstanceID(2))))
        #expect(driver.supervisor.restarts == 1)
        #expect(driver.supervisor.state == .starting)
    }

    @Test func theBackoffDoublesWithEachFailureInARow() {
        var driver = SupervisorDriver(supervised(maxFailures: 5))
        driver.send(.start)
        var delays: [Int] = []
        for _ in 0..<4 {
            let id = driver.liveIDs[0]
            for case .arm(.restart, let ms) in driver.send(.exited(id, status: "exited with status 1", limitReason: nil)) { delays.append(ms) }
            driver.send(.timer(.restart))
        }
        #expect(delays == [500, 1000, 2000, 4000])
    }

    @Test func aLimitReasonNamesTheLimitInsteadOfTheSignal() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        let effects = driver.send(.exited(InstanceID(1), status: "was killed by SIGKILL",
                                          limitReason: "was killed by the kernel's OOM killer at its memory limit (limits.memoryMB: 64 MB)"))
        #expect(effects.contains(.failed(reason: "was killed by the kernel's OOM killer at its memory limit (limits.memoryMB: 64 MB) (see /logs/f.log)", broken: false)))
    }

    @Test func aCrashBeforeReadySaysSo() {
        var driver = SupervisorDriver(supervised())
        driver.send(.start)
        let effects = driver.send(.exited(InstanceID(1), status: "exited with status 2", limitReason: nil))
        #expect(effects.contains(.failed(reason: "exited with status 2 before sending ready (see /logs/f.log)", broken: false)))
    }

    @Test func maxFailuresInARowIsBrokenAndAnswersEverythingBroken() {
        var driver = SupervisorDriver(supervised(maxFailures: 2))
        driver.startReady()
        driver.send(.exited(InstanceID(1), status: "exited with status 1", limitReason: nil))
        driver.send(.timer(.restart))
        driver.send(.enqueue(invocation("waiting")))
        let broken = driver.send(.exited(InstanceID(2), status: "exited with status 1", limitReason: nil))
        #expect(driver.supervisor.state == .broken)
        #expect(broken.contains(.failed(reason: "exited with status 1 before sending ready (see /logs/f.log)", broken: true)))
        #expect(broken.contains(.event(.broken(reason: "exited with status 1 before sending ready (see /logs/f.log)", failures: 2))))
        #expect(driver.errorKinds(in: broken) == [.broken])
        #expect(!broken.contains { if case .arm(.restart, _) = $0 { true } else { false } })
        #expect(driver.errorKinds(in: driver.send(.enqueue(invocation("later")))) == [.broken])
        // A late restart timer does not bring it back: only a re-arm (a new supervisor) does.
        #expect(driver.send(.timer(.restart)).isEmpty)
    }

    @Test func anInstanceStableForTenSecondsResetsTheFailureCount() {
        var driver = SupervisorDriver(supervised(maxFailures: 2))
        driver.startReady()
        driver.send(.exited(InstanceID(1), status: "exited with status 1", limitReason: nil))
        driver.send(.timer(.restart))
        driver.send(.message(InstanceID(2), .ready(liveConfig: true)))
        driver.send(.timer(.stable(InstanceID(2))))
        driver.send(.exited(InstanceID(2), status: "exited with status 1", limitReason: nil))
        #expect(driver.supervisor.state == .restarting)
    }

    @Test func aCPUBudgetWatchedByTheAgentIsCheckedWhileTheEventRuns() {
        var spec = supervised(lifecycle: .onDemand)
        spec.limits.cpuSeconds = 1
        var driver = SupervisorDriver(spec)
        driver.supervisor = Supervisor(spec: spec, thing: "dev1", deploymentId: "dep-1", logPath: "/l", watchesCPU: true)
        driver.startReady()
        let sent = driver.send(.enqueue(invocation("e1")))
        #expect(sent.contains(.arm(.cpuCheck(InstanceID(1)), afterMs: Supervisor.cpuCheckMs)))
        #expect(driver.send(.timer(.cpuCheck(InstanceID(1)))) == [.checkCPU(InstanceID(1)), .arm(.cpuCheck(InstanceID(1)), afterMs: Supervisor.cpuCheckMs)])
        let over = driver.send(.cpuBudgetExceeded(InstanceID(1), reason: "used more CPU time than one invocation may"))
        #expect(driver.errorKinds(in: over) == [.crashed])
        #expect(over.contains(.signal(InstanceID(1), .kill)))
    }
}

@Suite struct SupervisorStopTests {
    @Test func aStopIsGracefulThenTermThenKill() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        let stopping = driver.send(.stop)
        #expect(stopping.contains(.send(InstanceID(1), .shutdown)))
        #expect(stopping.contains(.arm(.stopGrace(InstanceID(1)), afterMs: 3000)))
        #expect(driver.send(.timer(.stopGrace(InstanceID(1)))) == [.signal(InstanceID(1), .terminate), .arm(.killGrace(InstanceID(1)), afterMs: Supervisor.killGraceMs)])
        #expect(driver.send(.timer(.killGrace(InstanceID(1)))) == [.signal(InstanceID(1), .kill)])
        let exited = driver.send(.exited(InstanceID(1), status: "was killed by SIGKILL", limitReason: nil))
        #expect(exited.contains(.stopped))
        #expect(!exited.contains { if case .failed = $0 { true } else { false } })
        #expect(driver.supervisor.state == .stopped)
    }

    @Test func aStopLetsTheEventInFlightFinishAndAnswersTheQueuedOnesStopped() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.enqueue(invocation("e1")))
        driver.send(.enqueue(invocation("e2")))
        let stopping = driver.send(.stop)
        #expect(driver.completions(in: stopping).map(\.0) == ["e2"])
        #expect(driver.errorKinds(in: stopping) == [.stopped])
        let answered = driver.send(.message(InstanceID(1), .result(id: "e1", value: RawJSON("done"))))
        #expect(driver.completions(in: answered).map(\.0) == ["e1"])
        #expect(driver.send(.exited(InstanceID(1), status: "exited with status 0", limitReason: nil)).contains(.stopped))
    }

    @Test func stoppingAStoppedFunctionSaysStoppedAtOnce() {
        var driver = SupervisorDriver(supervised())
        #expect(driver.send(.stop) == [.stopped])
    }

    @Test func aStopDuringTheBackoffCancelsTheRestart() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.exited(InstanceID(1), status: "exited with status 1", limitReason: nil))
        let stopped = driver.send(.stop)
        #expect(stopped.contains(.cancel(.restart)))
        #expect(stopped.contains(.stopped))
        #expect(driver.send(.timer(.restart)).isEmpty)
    }

    @Test func theQueueCanBeHandedToASuccessor() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        for id in ["e1", "e2", "e3"] { driver.send(.enqueue(invocation(id))) }
        #expect(driver.supervisor.takeQueue().map(\.id) == ["e2", "e3"])
        #expect(driver.supervisor.queueDepth == 0)
    }
}

@Suite struct SupervisorOnDemandAndConfigTests {
    @Test func anOnDemandFunctionStopsWhenIdleAndStartsOnTheNextEvent() {
        var driver = SupervisorDriver(supervised(lifecycle: .onDemand, concurrency: 2))
        let started = driver.send(.start)
        #expect(started.filter { if case .spawn = $0 { true } else { false } }.count == 1)
        let ready = driver.send(.message(InstanceID(1), .ready(liveConfig: true)))
        #expect(ready.contains(.arm(.idle(InstanceID(1)), afterMs: 60_000)))
        #expect(driver.send(.timer(.idle(InstanceID(1)))).contains(.send(InstanceID(1), .shutdown)))
        driver.send(.exited(InstanceID(1), status: "exited with status 0", limitReason: nil))
        #expect(driver.supervisor.state == .idle)
        let woken = driver.send(.enqueue(invocation("e1")))
        #expect(woken.contains(.spawn(InstanceID(2))))
        #expect(driver.supervisor.state == .starting)
        let served = driver.send(.message(InstanceID(2), .ready(liveConfig: true)))
        #expect(served.contains(.invoke(InstanceID(2), invocation("e1"), timeoutMs: 3000)))
    }

    @Test func anOnDemandFunctionScalesUpToItsConcurrency() {
        var driver = SupervisorDriver(supervised(lifecycle: .onDemand, concurrency: 2))
        driver.startReady()
        driver.send(.enqueue(invocation("e1")))
        let second = driver.send(.enqueue(invocation("e2")))
        #expect(second.contains(.spawn(InstanceID(2))))
        let third = driver.send(.enqueue(invocation("e3")))
        #expect(!third.contains { if case .spawn = $0 { true } else { false } })
    }

    @Test func aLiveConfigurationGoesToEveryRunningInstance() {
        var driver = SupervisorDriver(supervised(concurrency: 2))
        driver.startReady()
        var updated = driver.supervisor.spec
        updated.config = ["threshold": 0.9]
        let effects = driver.send(.updateConfig(updated))
        #expect(effects.contains(.send(InstanceID(1), .config(["threshold": 0.9]))))
        #expect(effects.contains(.send(InstanceID(2), .config(["threshold": 0.9]))))
        #expect(driver.supervisor.spec.config == ["threshold": 0.9])
    }

    @Test func anInstanceThatCannotTakeLiveConfigurationIsRemembered() {
        var driver = SupervisorDriver(supervised())
        driver.send(.start)
        #expect(driver.supervisor.takesLiveConfig)
        let ready = driver.send(.message(InstanceID(1), .ready(liveConfig: false)))
        #expect(!driver.supervisor.takesLiveConfig)
        #expect(ready.contains(.announceReady))
    }

    @Test func aStaleTimerForAGoneInstanceDoesNothing() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        driver.send(.stop)
        driver.send(.exited(InstanceID(1), status: "exited with status 0", limitReason: nil))
        for timer: SupervisorTimer in [.startDeadline(InstanceID(1)), .idle(InstanceID(1)), .stopGrace(InstanceID(1)),
                                       .killGrace(InstanceID(1)), .stable(InstanceID(1)), .channelClosedGrace(InstanceID(1))] {
            #expect(driver.send(.timer(timer)).isEmpty, "\(timer)")
        }
    }

    @Test func aClosedChannelGivesTheProcessASecondToExit() {
        var driver = SupervisorDriver(supervised())
        driver.startReady()
        #expect(driver.send(.channelClosed(InstanceID(1))) == [.arm(.channelClosedGrace(InstanceID(1)), afterMs: Supervisor.closedChannelGraceMs)])
        #expect(driver.send(.timer(.channelClosedGrace(InstanceID(1)))).contains(.signal(InstanceID(1), .kill)))
    }
}
