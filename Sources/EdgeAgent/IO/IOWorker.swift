#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX
import Synchronization

/// Runs the agent's blocking work off the reactor and reports each result back on it: saves
/// with their fsyncs, cgroup kills and clean-up, artifact downloads. Work runs in order within a
/// lane, each lane on a thread of its own started on first use, so a download of minutes never
/// holds up a shadow's save, and the reactor keeps serving invocations while a disk is slow.
final class IOWorker {
    enum Lane: Int, CaseIterable {
        /// Saves (fsync) and file removals: short, and in order.
        case storage
        /// Cgroup tree kills and removals, which may wait for the kernel.
        case cgroups
        /// Artifact downloads and unpacking: may take minutes.
        case network
    }

    private let loop: EventLoop
    private let finished: Inbox<IOWorkerDone>
    private let lanes: [LaneThread]
    private var continuations: [Int: (any Sendable) -> Void] = [:]
    private var nextID = 0
    private let logger: Logger
    /// Added to every save, to test the agent on a slow disk (`EDGE_AGENT_TEST_SLOW_DISK_MS`).
    let slowDiskMs: Int

    init(loop: EventLoop, logger: Logger, slowDiskMs: Int = 0) throws(SystemError) {
        self.loop = loop
        self.logger = logger
        self.slowDiskMs = slowDiskMs
        finished = try Inbox<IOWorkerDone>()
        var made: [LaneThread] = []
        for lane in Lane.allCases { made.append(try LaneThread(name: "edge-\(lane)", results: finished)) }
        lanes = made
        loop.watch(finished.wakeUp.descriptor.rawValue) { [unowned self] _ in
            for done in self.finished.drain() { self.continuations.removeValue(forKey: done.id)?(done.value) }
        }
    }

    /// Runs `work` on `lane`, then `then` with its result on the reactor.
    func run<T: Sendable>(_ lane: Lane, _ work: @escaping @Sendable () -> T, then: @escaping (T) -> Void) {
        nextID += 1
        let id = nextID
        continuations[id] = { value in then(value as! T) }
        if !lanes[lane.rawValue].submit(id: id, { work() }) {
            // No thread could be started: do it here rather than not at all.
            logger.warning("cannot start an I/O thread; the work runs on the reactor", ("lane", "\(lane)"))
            continuations.removeValue(forKey: id)?(work())
        }
    }

    /// Runs a save on the storage lane (slowed down when the slow-disk test setting asks).
    func save<T: Sendable>(_ work: @escaping @Sendable () -> T, then: @escaping (T) -> Void) {
        let delayMs = slowDiskMs
        run(.storage, {
            if delayMs > 0 {
                var pause = timespec(tv_sec: delayMs / 1000, tv_nsec: (delayMs % 1000) * 1_000_000)
                var left = timespec()
                while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
            }
            return work()
        }, then: then)
    }

    /// Calls `then` once every job queued so far on `lanes` has run and reported (a lane runs its
    /// jobs in order, so a no-op queued last comes back last).
    func drain(_ lanes: [Lane], then: @escaping () -> Void) {
        let busy = lanes.filter { self.lanes[$0.rawValue].isStarted }
        guard let lane = busy.first else {
            then()
            return
        }
        run(lane, {}, then: { [weak self] (_: Void) in
            guard let self else { return }
            self.drain(Array(busy.dropFirst()), then: then)
        })
    }
}

/// A job's result on its way back to the reactor.
private struct IOWorkerDone: Sendable {
    var id: Int
    var value: any Sendable
}

/// One lane: a queue of jobs and the thread that runs them in order, blocked on an eventfd while
/// there are none.
private final class LaneThread: Sendable {
    private struct Job: Sendable {
        var id: Int
        var body: @Sendable () -> any Sendable
    }

    private let name: String
    private let jobs = Mutex<(queue: RingQueue<Job>, started: Bool)>((RingQueue(), false))
    private let wake: EventCounter
    private let results: Inbox<IOWorkerDone>

    init(name: String, results: Inbox<IOWorkerDone>) throws(SystemError) {
        self.name = name
        self.results = results
        wake = try EventCounter()
    }

    /// Queues a job; false when the lane's thread could not be started.
    func submit(id: Int, _ body: @escaping @Sendable () -> any Sendable) -> Bool {
        let mustStart = jobs.withLock { state -> Bool in
            state.queue.append(Job(id: id, body: body))
            defer { state.started = true }
            return !state.started
        }
        if mustStart && !startThread() {
            jobs.withLock { state in
                state.started = false
                state.queue.removeAll { $0.id == id }
            }
            return false
        }
        wake.signal()
        return true
    }

    private func startThread() -> Bool {
        let retained = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            let lane = Unmanaged<LaneThread>.fromOpaque(argument!).takeRetainedValue()
            lane.runJobs()
            return nil
        }, retained.toOpaque())
        guard rc == 0 else {
            retained.release()
            return false
        }
        pthread_detach(thread)
        return true
    }

    /// Sleeps in poll(2) until woken (the eventfd is non-blocking), then runs every job queued.
    /// A job queued before the wake-up's write is seen by the loop that the write wakes.
    private func runJobs() {
        while true {
            do {
                try wake.wait()
            } catch {
                // ENOMEM, for a moment: wait again; a wake-up that came meanwhile is still counted.
                continue
            }
            wake.reset()
            while let job = jobs.withLock({ $0.queue.popFirst() }) {
                results.post(IOWorkerDone(id: job.id, value: job.body()))
            }
        }
    }

    /// Whether the lane's thread was ever started (a lane never used has nothing to drain).
    var isStarted: Bool { jobs.withLock { $0.started } }
}
