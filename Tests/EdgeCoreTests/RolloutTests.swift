import Testing
@testable import EdgeCore

/// Drives a `Rollout` as its shell would: staging answered on request, runners tracked by id,
/// a stop answered at once unless told otherwise. No broker, no process, no disk.
struct RolloutDriver {
    var rollout: Rollout
    var log: [RolloutEffect] = []
    /// Runners made so far: id → (function, version).
    var made: [RunnerID: (name: String, version: String)] = [:]
    var started: [RunnerID] = []
    var stopped: [RunnerID] = []
    var published: [DeploymentStatus] = []
    var staging: [Int] = []
    /// Answer `.stop` with `.runnerStopped` at once (a runner with no process left does).
    var stopsAtOnce = true
    /// How `.save` is answered: nil saves, else the failure.
    var saveFailure: String?
    /// How `.confirmSubscriptions` is answered: nil leaves it to the test; else the refused filters.
    var refusedSubscriptions: [String]? = []
    var readied: Set<RunnerID> = []
    var stopsAnswered: Set<RunnerID> = []
    var staged: Set<Int> = []

    init(admit: ((FunctionSpec) -> Result<FunctionAdmission, DocumentRejection>)? = nil) {
        rollout = Rollout(thing: "dev1", groups: ["line1"], admit: admit)
    }

    @discardableResult
    mutating func send(_ event: RolloutEvent) -> [RolloutEffect] {
        var all: [RolloutEffect] = []
        var queue = [event]
        while !queue.isEmpty {
            let effects = rollout.handle(queue.removeFirst())
            all += effects
            for effect in effects {
                switch effect {
                case .create(let id, let spec, _, _, _): made[id] = (spec.name, spec.version)
                case .start(let id): started.append(id)
                case .stop(let id):
                    stopped.append(id)
                    if stopsAtOnce {
                        stopsAnswered.insert(id)
                        queue.append(.runnerStopped(id))
                    }
                case .publish(let status): published.append(status)
                case .stage(let attempt, _): staging.append(attempt)
                case .save(_, let attempt): queue.append(.saved(attempt: attempt, failure: saveFailure))
                case .confirmSubscriptions(let attempt):
                    if let refusedSubscriptions { queue.append(.subscribed(attempt: attempt, refused: refusedSubscriptions)) }
                default: break
                }
            }
        }
        log += all
        return all
    }

    /// Publishes a document from the thing, stages it, and makes every new runner ready.
    mutating func deploy(_ functions: [String: JSONValue], revision: Int64, healthySeconds: Int = 0,
                         onFailure: String = "rollback", source: DeploymentSource = .thing) {
        send(.received(.document(doc(functions, revision: revision, healthySeconds: healthySeconds, onFailure: onFailure)), from: source))
        stageAndStart()
    }

    mutating func stageAndStart() {
        guard let attempt = staging.last else { return }
        let before = Set(made.keys)
        send(.staged(attempt: attempt, .success(dirs())))
        for id in made.keys.sorted() where !before.contains(id) { send(.runnerReady(id)) }
    }

    /// Plays the shell until no attempt is in flight: staging answered, stops answered, every new
    /// runner ready, every health window over.
    mutating func settle() {
        for _ in 0..<50 where rollout.isDeploying {
            for attempt in staging where !staged.contains(attempt) {
                staged.insert(attempt)
                send(.staged(attempt: attempt, .success(dirs())))
            }
            for id in stopped where !stopsAnswered.contains(id) {
                stopsAnswered.insert(id)
                send(.runnerStopped(id))
            }
            for id in made.keys.sorted() where !readied.contains(id) && !stopped.contains(id) {
                readied.insert(id)
                send(.runnerReady(id))
            }
            for attempt in staging { send(.timer(.healthGate(attempt: attempt))) }
        }
    }

    func dirs() -> [String: String] {
        var dirs: [String: String] = [:]
        for name in ["a", "b", "c"] { dirs[name] = "/state/functions/\(name)" }
        return dirs
    }

    func live(_ name: String) -> RunnerID? { rollout.live[name]?.id }
    var lastState: DeploymentState? { published.last?.state }
}

func doc(_ functions: [String: JSONValue], revision: Int64, healthySeconds: Int = 0, onFailure: String = "rollback") -> JSONValue {
    document(functions: functions, set: ["revision": .int(revision),
                                         "policy": ["healthySeconds": .int(Int64(healthySeconds)), "onFailure": .string(onFailure)]])
}

func fn(_ version: String = "1.0.0", _ set: [String: JSONValue] = [:]) -> JSONValue {
    var fields = set
    fields["version"] = .string(version)
    return function(fields)
}

@Suite struct RolloutDeploymentTests {
    @Test func aNewDeploymentIsStagedStartedWatchedAndSucceeds() {
        var driver = RolloutDriver()
        let received = driver.send(.received(.document(doc(["a": fn()], revision: 1, healthySeconds: 5)), from: .thing))
        #expect(driver.lastState == .inProgress)
        #expect(received.contains { if case .stage(1, let specs) = $0 { specs.map(\.name) == ["a"] } else { false } })
        driver.send(.staged(attempt: 1, .success(driver.dirs())))
        let a = driver.live("a")!
        #expect(driver.started == [a])
        #expect(driver.rollout.routes["a"]?.target == .runner(a))
        let ready = driver.send(.runnerReady(a))
        #expect(ready.contains { if case .arm(.healthGate(1), 5000) = $0 { true } else { false } })
        #expect(driver.published.last?.reason == "all functions are ready; watching them for 5 s (policy.healthySeconds)")
        let done = driver.send(.timer(.healthGate(attempt: 1)))
        #expect(driver.lastState == .succeeded)
        #expect(done.contains { if case .save(let saved, 1) = $0 { saved.documents[.thing] != nil } else { false } })
        #expect(done.contains { if case .collectGarbage = $0 { true } else { false } })
        #expect(driver.rollout.current.functions["a"]?.version == "1.0.0")
        #expect(!driver.rollout.isDeploying)
    }

    @Test func withoutAHealthWindowItSucceedsOnceReady() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn(), "b": fn()], revision: 1)
        #expect(driver.lastState == .succeeded)
        #expect(driver.rollout.live.keys.sorted() == ["a", "b"])
    }

    @Test func aDocumentThatIsNotJSONIsRejectedAndNothingChanges() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let a = driver.live("a")
        driver.send(.received(.invalid("unexpected end of input"), from: .thing))
        #expect(driver.lastState == .rejected)
        #expect(driver.published.last?.issues == [ValidationIssue(path: "(document)", value: nil, message: "unexpected end of input")])
        #expect(driver.live("a") == a)
        #expect(driver.stopped.isEmpty)
    }

    @Test func anInvalidDocumentIsRejectedNamingTheField() {
        var driver = RolloutDriver()
        driver.send(.received(.document(doc(["a": fn("1.0.0", ["timeoutMs": -1])], revision: 1)), from: .thing))
        #expect(driver.lastState == .rejected)
        #expect(driver.published.last?.issues.map(\.path) == ["functions.a.timeoutMs"])
        #expect(driver.staging.isEmpty)
    }

    @Test func aRevisionAlreadySeenIsIgnored() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 2)
        let count = driver.published.count
        let effects = driver.send(.received(.document(doc(["a": fn("9.0.0")], revision: 2)), from: .thing))
        #expect(driver.published.count == count)
        #expect(effects == [.log(.revisionSeen(.thing, 2))])
    }

    @Test func aStagingFailureFailsWithoutTouchingWhatRunsAndIsNotRetriedOnRedelivery() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let a = driver.live("a")
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        driver.send(.staged(attempt: driver.staging.last!, .failure(StagingFailure(path: "functions.a.artifacts[0].sha256", message: "digest mismatch"))))
        #expect(driver.lastState == .failed)
        #expect(driver.published.last?.reason == "functions.a.artifacts[0].sha256: digest mismatch; the running functions were not touched")
        #expect(driver.live("a") == a)
        #expect(driver.stopped.isEmpty)
        let redelivered = driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        #expect(redelivered == [.log(.revisionSeen(.thing, 2))])
    }

    @Test func aStagingResultForAnotherAttemptIsIgnored() {
        var driver = RolloutDriver()
        driver.send(.received(.document(doc(["a": fn()], revision: 1)), from: .thing))
        #expect(driver.send(.staged(attempt: 7, .success(driver.dirs()))).isEmpty)
    }

    @Test func anUpdateHoldsEventsStopsTheOldVersionThenStartsTheNewAndReleasesThem() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let old = driver.live("a")!
        driver.stopsAtOnce = false
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        let handover = driver.send(.staged(attempt: driver.staging.last!, .success(driver.dirs())))
        #expect(handover.contains(.hold("a", from: old, capacity: 100)))
        #expect(handover.contains(.stop(old)))
        #expect(driver.rollout.routes["a"]?.target == .held)
        #expect(!handover.contains { if case .create = $0 { true } else { false } })
        let resumed = driver.send(.runnerStopped(old))
        let new = driver.live("a")!
        #expect(new != old)
        #expect(driver.made[new]?.version == "2.0.0")
        let start = resumed.firstIndex(of: .start(new))!
        let release = resumed.firstIndex(of: .release("a", to: new))!
        #expect(start < release)
        driver.send(.runnerReady(new))
        #expect(driver.lastState == .succeeded)
    }

    @Test func anUnchangedFunctionIsLeftRunning() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn(), "b": fn()], revision: 1)
        let a = driver.live("a")
        driver.deploy(["a": fn(), "b": fn("2.0.0")], revision: 2)
        #expect(driver.live("a") == a)
        #expect(driver.made[driver.live("b")!]?.version == "2.0.0")
    }

    @Test func aClearedSourceStopsItsFunctions() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let a = driver.live("a")!
        driver.send(.received(.cleared, from: .thing))
        driver.stageAndStart()
        #expect(driver.stopped == [a])
        #expect(driver.rollout.live.isEmpty)
        #expect(driver.lastState == .succeeded)
    }

    @Test func aFunctionTheDeviceCannotRunIsRejected() {
        var driver = RolloutDriver { spec in
            spec.name == "b" ? .failure(DocumentRejection([ValidationIssue(path: "functions.b.user", value: "nobody2", message: "no such user")])) : .success(FunctionAdmission(limits: spec.limits, user: nil, uid: 0, gid: 0))
        }
        driver.send(.received(.document(doc(["a": fn(), "b": fn()], revision: 1)), from: .thing))
        #expect(driver.lastState == .rejected)
        #expect(driver.published.last?.issues.map(\.path) == ["functions.b.user"])
    }
}

@Suite struct RolloutFailureTests {
    @Test func aCrashDuringTheHandOverRollsBackToThePreviousVersion() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        driver.send(.staged(attempt: driver.staging.last!, .success(driver.dirs())))
        let failing = driver.live("a")!
        let rolled = driver.send(.runnerFailed(failing, reason: "exited with status 1 before sending ready", broken: false))
        #expect(rolled.contains(.hold("a", from: failing, capacity: 100)))
        #expect(rolled.contains(.stop(failing)))
        let restored = driver.live("a")!
        #expect(driver.made[restored]?.version == "1.0.0")
        #expect(rolled.contains(.release("a", to: restored)))
        #expect(driver.lastState == .rolledBack)
        #expect(driver.published.last?.reason == "function a (2.0.0) failed: exited with status 1 before sending ready; the previous deployment was restored")
        #expect(driver.rollout.current.functions["a"]?.version == "1.0.0")
        // What was applied is saved unchanged, and the failed revision is not tried again.
        #expect(rolled.contains { if case .persist(let saved) = $0 { saved.seen[.thing] == 2 && saved.documents[.thing]?["revision"] == 1 } else { false } })
    }

    @Test func aFailureWhileWatchingHealthRollsBack() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        driver.deploy(["a": fn("2.0.0")], revision: 2, healthySeconds: 5)
        #expect(driver.lastState == .inProgress)
        let failing = driver.live("a")!
        let rolled = driver.send(.runnerFailed(failing, reason: "was killed by SIGSEGV", broken: false))
        #expect(rolled.contains(.cancel(.healthGate(attempt: 2))))
        #expect(driver.lastState == .rolledBack)
        // The health window of the failed attempt ends without effect.
        #expect(driver.send(.timer(.healthGate(attempt: 2))).isEmpty)
    }

    @Test func aFailureAfterSuccessIsNotTheDeploymentsBusiness() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let effects = driver.send(.runnerFailed(driver.live("a")!, reason: "exited with status 1", broken: false))
        #expect(effects.isEmpty)
        #expect(driver.lastState == .succeeded)
    }

    @Test func withOnFailureNoneABrokenFunctionFailsTheDeploymentAndStays() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1, onFailure: "none")
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2, healthySeconds: 5, onFailure: "none")), from: .thing))
        driver.send(.staged(attempt: driver.staging.last!, .success(driver.dirs())))
        let a = driver.live("a")!
        #expect(driver.send(.runnerFailed(a, reason: "crashed", broken: false)).isEmpty)
        driver.send(.runnerFailed(a, reason: "crashed", broken: true))
        #expect(driver.lastState == .failed)
        #expect(driver.live("a") == a)
        #expect(driver.rollout.current.functions["a"]?.version == "2.0.0")
    }

    @Test func redeployingABrokenFunctionReArmsItEvenWhenUnchanged() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let broken = driver.live("a")!
        driver.send(.runnerFailed(broken, reason: "crashed", broken: true))
        driver.deploy(["a": fn()], revision: 2)
        #expect(driver.stopped.contains(broken))
        #expect(driver.live("a") != broken)
        #expect(driver.lastState == .succeeded)
    }
}

@Suite struct RolloutSupersedeTests {
    /// A newer revision of the same source that arrives while an attempt is in any phase
    /// supersedes it at once: cancelled while staging, rolled back after (version 1 comes back),
    /// answered SUPERSEDED naming revision 3; then revision 3 applies.
    @Test(arguments: ["staging", "stopping", "starting", "observing"])
    func aNewerRevisionSupersedesTheAttemptInFlight(_ phase: String) {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        driver.stopsAtOnce = false
        let old = driver.live("a")!
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2, healthySeconds: 5)), from: .thing))
        let second = driver.staging.last!
        if phase != "staging" { driver.send(.staged(attempt: second, .success(driver.dirs()))) }
        if phase == "starting" || phase == "observing" { driver.send(.runnerStopped(old)) }
        if phase == "observing" { driver.send(.runnerReady(driver.live("a")!)) }
        let third = driver.send(.received(.document(doc(["a": fn("3.0.0")], revision: 3)), from: .thing))
        if phase == "staging" {
            #expect(third.contains(.stage(attempt: second + 1, [])) == false)
            #expect(driver.staging.last == second + 1, "revision 3 is staged at once: nothing of revision 2 ran")
            #expect(!driver.stopped.contains(old), "the running version was never touched")
        }
        // Once what revision 2 started has stopped (a rollback waits for it), it is answered.
        driver.stopsAtOnce = true
        driver.settle()
        let answer = driver.published.last { $0.revision == 2 }
        #expect(answer?.state == .superseded, "\(phase): \(String(describing: answer))")
        #expect(answer?.supersededBy?.revision == 3, "\(phase)")
        #expect(answer?.reason?.contains("revision 3") == true, "\(phase): \(answer?.reason ?? "")")
        #expect(!driver.published.contains { $0.revision == 2 && $0.state == .rolledBack }, "\(phase)")
        #expect(driver.made[driver.live("a")!]?.version == "3.0.0", "\(phase)")
        #expect(driver.published.last { $0.revision == 3 }?.state == .succeeded, "\(phase)")
        #expect(!driver.rollout.isDeploying)
    }

    /// The issue's case: a revision whose function never becomes ready no longer blocks the next.
    @Test func aRevisionThatNeverGetsReadyIsSupersededWithoutWaitingForItsStartTimeout() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        driver.send(.staged(attempt: driver.staging.last!, .success(driver.dirs())))
        // Version 2's runner started and never says ready; revision 3 arrives.
        driver.send(.received(.document(doc(["a": fn("3.0.0")], revision: 3)), from: .thing))
        #expect(driver.published.last { $0.revision == 2 }?.state == .superseded)
        driver.settle()
        #expect(driver.made[driver.live("a")!]?.version == "3.0.0")
    }

    @Test func anOlderOrEqualRevisionOrAnotherSourceDoesNotSupersedeTheAttempt() {
        var driver = RolloutDriver()
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        driver.send(.received(.document(doc(["b": fn()], revision: 9)), from: .group("line1")))
        #expect(!driver.published.contains { $0.state == .superseded })
        driver.settle()
        #expect(driver.published.last { $0.revision == 2 }?.state == .succeeded)
    }

    @Test func aDeploymentThatCannotBeSavedIsRolledBackNotSucceeded() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let v1 = driver.live("a")!
        driver.saveFailure = "No space left on device"
        driver.deploy(["a": fn("2.0.0")], revision: 2)
        let last = driver.published.last!
        #expect(last.revision == 2 && last.state == .rolledBack, "\(last)")
        #expect(last.reason?.contains("could not be saved") == true && last.reason?.contains("No space left on device") == true)
        #expect(!driver.published.contains { $0.revision == 2 && $0.state == .succeeded })
        #expect(driver.made[driver.live("a")!]?.version == "1.0.0" && driver.live("a") != v1)
    }

    @Test func onlyTheNewestWaitingDocumentOfASourceAppliesAndTheSkippedOneIsAnswered() {
        var driver = RolloutDriver()
        driver.send(.received(.document(doc(["a": fn()], revision: 1)), from: .group("line1")))
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        driver.send(.received(.document(doc(["a": fn("3.0.0")], revision: 3)), from: .thing))
        // Revision 2 never runs, but it gets a final status naming what replaced it.
        let skipped = driver.published.first { $0.revision == 2 }
        #expect(skipped?.state == .superseded)
        #expect(skipped?.supersededBy?.deploymentId == "dep-1" && skipped?.supersededBy?.revision == 3)
        #expect(skipped?.reason?.contains("revision 3") == true)
        let document = skipped?.document(thing: "dev1", timestamp: 0)
        #expect(document?["status"] == "SUPERSEDED")
        #expect(document?["supersededBy"] == ["deploymentId": "dep-1", "revision": 3])
        driver.stageAndStart()
        driver.stageAndStart()
        #expect(driver.staging == [1, 2])
        #expect(driver.made[driver.live("a")!]?.version == "3.0.0")
        #expect(driver.published.filter { $0.revision == 3 }.last?.state == .succeeded)
        #expect(driver.published.filter { $0.revision == 1 }.last?.state == .succeeded)
    }

    @Test func aBurstOfRevisionsGetsAFinalStatusEach() {
        var driver = RolloutDriver()
        for revision in 1...10 {
            driver.send(.received(.document(doc(["a": fn("\(revision).0.0")], revision: Int64(revision))), from: .thing))
        }
        driver.stageAndStart()
        driver.stageAndStart()
        let final: Set<DeploymentState> = [.succeeded, .superseded]
        for revision in 1...10 {
            let last = driver.published.filter { $0.revision == Int64(revision) }.last
            #expect(last.map { final.contains($0.state) } == true, "revision \(revision): \(String(describing: last?.state))")
        }
        // Each revision supersedes the one staging before it: only the last runs.
        #expect(driver.published.filter { $0.state == .superseded }.count == 9)
        #expect(driver.made[driver.live("a")!]?.version == "10.0.0")
    }

    @Test func aReDeliveryOfAnOlderRevisionDoesNotDisplaceTheNewerOneWaiting() {
        var driver = RolloutDriver()
        driver.send(.received(.document(doc(["a": fn()], revision: 1)), from: .thing))
        driver.send(.received(.document(doc(["a": fn("3.0.0")], revision: 3)), from: .thing))
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        // Revision 3 superseded revision 1 (staging); revision 2, older than the one in flight, waits and is then ignored.
        #expect(driver.published.filter { $0.state == .superseded }.map(\.revision) == [1])
        driver.stageAndStart()
        driver.stageAndStart()
        #expect(driver.made[driver.live("a")!]?.version == "3.0.0")
    }

    @Test func anInvalidDocumentWhileAnotherWaitsSupersedesItAndIsRejectedInTurn() {
        var driver = RolloutDriver()
        driver.send(.received(.document(doc(["a": fn()], revision: 1)), from: .group("line1")))
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        driver.send(.received(.invalid("not JSON"), from: .thing))
        let skipped = driver.published.first { $0.revision == 2 }
        #expect(skipped?.state == .superseded && skipped?.supersededBy == nil)
        #expect(skipped?.reason?.contains("a newer document of the same source arrived") == true)
        driver.stageAndStart()
        #expect(driver.lastState == .rejected)
    }

    @Test func aClearWhileADocumentWaitsSupersedesIt() {
        var driver = RolloutDriver()
        driver.send(.received(.document(doc(["a": fn()], revision: 1)), from: .group("line1")))
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        driver.send(.received(.cleared, from: .thing))
        let skipped = driver.published.first { $0.revision == 2 }
        #expect(skipped?.state == .superseded && skipped?.supersededBy == nil)
        #expect(skipped?.reason?.contains("cleared") == true)
    }

    @Test func aGroupAndTheThingMergeWithTheThingWinning() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn("1.0.0"), "b": fn("1.0.0")], revision: 1, source: .group("line1"))
        driver.deploy(["a": fn("5.0.0")], revision: 1, source: .thing)
        #expect(driver.rollout.current.functions["a"]?.version == "5.0.0")
        #expect(driver.rollout.current.functions["b"]?.version == "1.0.0")
        #expect(driver.rollout.live["a"]?.origin == .thing)
    }
}

@Suite struct RolloutRestoreAndShadowTests {
    @Test func theSavedDeploymentIsRestoredAtStart() {
        var driver = RolloutDriver()
        let saved = SavedDeployments(documents: [.thing: doc(["a": fn()], revision: 4, healthySeconds: 30)], seen: [.thing: 4])
        driver.send(.restore(.success(saved)))
        #expect(driver.published.last?.reason == "restoring the deployment applied before the agent restarted")
        driver.stageAndStart()
        // A restore does not wait for the health window.
        #expect(driver.lastState == .succeeded)
        #expect(driver.published.last?.reason == "restored after an agent restart")
        #expect(driver.send(.received(.document(doc(["a": fn()], revision: 4)), from: .thing)) == [.log(.revisionSeen(.thing, 4))])
    }

    @Test func aDamagedStoreStartsWithNothing() {
        var driver = RolloutDriver()
        #expect(driver.send(.restore(.failure(StoreFailure("not JSON")))) == [.log(.restoreFailed("not JSON"))])
    }

    @Test func aConfigurationChangeFromTheShadowGoesLiveWithoutARestart() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let a = driver.live("a")!
        let overrides = ShadowOverrides(desired: ["functions": ["a": ["config": ["threshold": 0.9]]]])
        let effects = driver.send(.shadowChanged(overrides, rearm: []))
        #expect(effects.contains { if case .updateConfig(a, let spec) = $0 { spec.config["threshold"] == 0.9 } else { false } })
        #expect(!driver.rollout.isDeploying)
        #expect(driver.live("a") == a)
    }

    @Test func aFunctionThatDeclinedLiveConfigurationIsRestartedInstead() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let a = driver.live("a")!
        driver.send(.runnerDeclinedLiveConfig(a))
        driver.send(.shadowChanged(ShadowOverrides(desired: ["functions": ["a": ["config": ["threshold": 0.9]]]]), rearm: []))
        #expect(driver.rollout.isDeploying)
        driver.stageAndStart()
        #expect(driver.stopped == [a])
        #expect(driver.lastState == .succeeded)
        #expect(driver.published.last?.reason == "the classic shadow's desired state was applied")
    }

    @Test func disablingAFunctionRestartsItDisabledAndUnsubscribed() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn("1.0.0", ["subscriptions": [["topic": "sensors/#"]]])], revision: 1)
        driver.send(.shadowChanged(ShadowOverrides(desired: ["functions": ["a": ["enabled": false]]]), rearm: []))
        driver.stageAndStart()
        #expect(driver.rollout.live["a"]?.spec.enabled == false)
        #expect(driver.rollout.routes["a"]?.subscribes == false)
    }

    @Test func enabledTrueReArmsABrokenFunction() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let broken = driver.live("a")!
        driver.send(.runnerFailed(broken, reason: "crashed", broken: true))
        driver.send(.shadowChanged(ShadowOverrides(desired: ["functions": ["a": ["enabled": true]]]), rearm: ["a"]))
        driver.stageAndStart()
        #expect(driver.stopped == [broken])
        #expect(driver.live("a") != broken)
    }

    @Test func aShadowChangeDuringADeploymentWaitsForIt() {
        var driver = RolloutDriver()
        driver.send(.received(.document(doc(["a": fn()], revision: 1)), from: .thing))
        let effects = driver.send(.shadowChanged(ShadowOverrides(desired: ["functions": ["a": ["config": ["k": 1]]]]), rearm: []))
        #expect(effects.isEmpty)
        driver.stageAndStart()
        #expect(driver.rollout.current.functions["a"]?.config["k"] == 1)
    }

    @Test func stoppingTheAgentStopsEverythingAndAbandonsTheAttempt() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn(), "b": fn()], revision: 1)
        driver.send(.received(.document(doc(["a": fn("2.0.0"), "b": fn()], revision: 2)), from: .thing))
        let effects = driver.send(.stopAll)
        #expect(effects.contains(.log(.abandoned(.thing))))
        #expect(effects.contains(.routes([:])))
        #expect(Set(driver.stopped) == Set(driver.made.keys))
        #expect(driver.rollout.live.isEmpty)
        #expect(driver.send(.received(.document(doc(["a": fn("3.0.0")], revision: 3)), from: .thing)).isEmpty)
    }
}

@Suite struct RolloutReplayTests {
    @Test func anOlderRevisionIsRefusedAsAReplayNamingWhatWasSeen() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 3)
        var old = doc(["a": fn("0.9.0")], revision: 2)
        old = old.setting("deploymentId", "old")
        driver.send(.received(.document(old), from: .thing))
        #expect(driver.lastState == .rejected)
        #expect(driver.published.last?.revision == 2)
        #expect(driver.published.last?.issues.map(\.path) == ["revision"])
        #expect(driver.published.last?.issues.first?.message.contains("older than revision 3") == true)
        #expect(driver.staging.count == 1)
    }

    @Test func theSameRevisionUnderAnotherIdIsRefusedAndARedeliveryIgnored() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 3)
        let count = driver.published.count
        #expect(driver.send(.received(.document(doc(["a": fn()], revision: 3)), from: .thing)) == [.log(.revisionSeen(.thing, 3))])
        #expect(driver.published.count == count)
        driver.send(.received(.document(doc(["a": fn()], revision: 3).setting("deploymentId", "other")), from: .thing))
        #expect(driver.lastState == .rejected)
        #expect(driver.published.last?.issues.map(\.path) == ["deploymentId"])
    }

    @Test func aRestoredAgentStillRefusesAnOlderRevision() {
        var driver = RolloutDriver()
        let saved = SavedDeployments(documents: [.thing: doc(["a": fn()], revision: 4)], seen: [.thing: 4])
        driver.send(.restore(.success(saved)))
        driver.stageAndStart()
        driver.send(.received(.document(doc(["a": fn()], revision: 1)), from: .thing))
        #expect(driver.lastState == .rejected)
        #expect(driver.published.last?.issues.first?.message.contains("older than revision 4") == true)
    }

    @Test func theSameRevisionUnderAnotherIdIsRefusedEvenWhenItFailed() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2).setting("deploymentId", "two")), from: .thing))
        driver.send(.staged(attempt: driver.staging.last!, .failure(StagingFailure(path: "functions.a.artifacts[0].sha256", message: "digest mismatch"))))
        #expect(driver.lastState == .failed)
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2).setting("deploymentId", "other")), from: .thing))
        #expect(driver.lastState == .rejected)
        #expect(driver.published.last?.issues.first?.message.contains("already seen as 'two'") == true)
    }

    @Test func anUntrustedDocumentDoesNotReplaceOneWaitingItsTurn() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .group("g")))
        let staging = driver.staging.count
        // Revision 3 of the thing waits for the group's attempt; an untrusted one arrives after it.
        driver.send(.received(.document(doc(["a": fn("3.0.0")], revision: 3)), from: .thing))
        let issue = ValidationIssue(path: "(document)", value: nil, message: "is not signed")
        driver.send(.received(.untrusted(nil, [issue]), from: .thing))
        #expect(driver.lastState == .rejected)
        #expect(!driver.published.contains { $0.state == .superseded })
        driver.stageAndStart()
        // The waiting revision 3 is applied next.
        #expect(driver.staging.count > staging)
        #expect(driver.published.contains { $0.revision == 3 && $0.state == .inProgress })
    }

    @Test func anUntrustedDocumentIsRejectedWithItsIdentityAndNothingChanges() {
        var driver = RolloutDriver()
        driver.deploy(["a": fn()], revision: 1)
        let a = driver.live("a")
        let issue = ValidationIssue(path: "signatures", value: nil, message: "no signature is by a key this agent trusts")
        driver.send(.received(.untrusted(doc(["a": fn("2.0.0")], revision: 2), [issue]), from: .thing))
        #expect(driver.lastState == .rejected)
        #expect(driver.published.last?.revision == 2)
        #expect(driver.published.last?.reason == "the deployment is not signed by a key this agent trusts; nothing was changed")
        #expect(driver.published.last?.issues == [issue])
        #expect(driver.live("a") == a)
        // Not seen: the same revision, properly signed, is applied afterwards.
        driver.send(.received(.document(doc(["a": fn("2.0.0")], revision: 2)), from: .thing))
        #expect(driver.staging.count == 2)
    }
}

private extension JSONValue {
    /// This object with `key` set to `value`.
    func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        members[key] = value
        return .object(members)
    }
}
