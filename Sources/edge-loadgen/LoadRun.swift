#if canImport(Glibc)
import Glibc
#endif
import EdgeMQTT
import EdgePOSIX
import Histogram
import Synchronization

/// What to send, how fast and for how long.
struct LoadPlan: Sendable {
    /// Request N goes to `requestTopics[N % count]`.
    var requestTopics: [String]
    var replyFilter: String
    var qos: Int
    var rate: Double
    var window: Int
    var warmupSeconds: Double
    var seconds: Double
    var drainSeconds: Double
    var payloadBytes: Int
    /// At saturation, a number of requests to send instead of a duration (0: the duration).
    var requests: Int

    var saturation: Bool { rate == 0 }

    func topic(for seq: Int) -> String { requestTopics[seq % requestTopics.count] }
}

/// One run: requests out, replies timed into a histogram (microseconds), on the connection's
/// loop.
///
/// At a fixed rate, request N is due at start + N / rate and its latency counts from that
/// moment, not from when it actually left: a sender held up by a slow system does not hide the
/// wait (coordinated omission). The timing is a thread's of its own (`RateSender`), which hands
/// each request to the loop's thread to publish. At saturation, `window` requests are kept in
/// flight, each reply sending the next from its handler, and latency counts from the send.
final class LoadRun {
    let plan: LoadPlan
    let connection: Connection
    private var histogram = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    private var outcome = LoadOutcome()
    private var failure: String?

    init(plan: LoadPlan, connection: Connection) {
        self.plan = plan
        self.connection = connection
    }

    private var loop: EventLoop { connection.loop }

    func run() throws -> LoadOutcome {
        if plan.saturation { try runClosedLoop() } else { try runFixedRate() }
        connection.onMessage = nil
        if let failure { throw LoadError(failure) }
        outcome.latencyUs = histogram
        return outcome
    }

    private func publish(_ seq: Int) {
        do {
            try connection.client.publish(topic: plan.topic(for: seq), payload: Request.payload(seq: seq, bytes: plan.payloadBytes),
                                          qos: plan.qos, retain: false)
        } catch {
            failure = failure ?? "request \(seq) could not be published: \(error)"
            loop.stop()
        }
    }

    private func runFixedRate() throws {
        let intervalNs = 1e9 / plan.rate
        let warmupCount = Int(plan.warmupSeconds * plan.rate)
        let total = warmupCount + Int(plan.seconds * plan.rate)
        var answered = [Bool](repeating: false, count: total)
        let requests: Inbox<Int>
        do { requests = try Inbox<Int>() } catch { throw LoadError("cannot make the sender's inbox: \(error)") }
        let sender = RateSender(total: total, intervalNs: intervalNs, requests: requests)
        var measuredReplies = 0
        var lastReplyNs: Int64 = 0
        var sendingDone = false
        let watch = loop.watch(requests.wakeUp.descriptor.rawValue) { [unowned self] _ in
            for seq in requests.drain() {
                if seq == RateSender.finished { sendingDone = true } else { self.publish(seq) }
            }
        }
        defer { loop.unwatch(watch) }
        let start = sender.start()
        lastReplyNs = start
        connection.onMessage = { [unowned self] message in
            guard let seq = Request.sequence(in: message.payload), seq < total, !answered[seq] else { return }
            let now = Clock.monotonicNs()
            answered[seq] = true
            guard seq >= warmupCount else { return }
            if Request.isError(message.payload) {
                self.outcome.errors += 1
                return
            }
            let due = start + Int64(Double(seq) * intervalNs)
            self.histogram.record(UInt64(max(1, (now - due) / 1000)))
            measuredReplies += 1
            lastReplyNs = now
        }
        // Every request goes (the sender's posts keep the loop turning), then the answers still
        // due may take until the drain after the last send is over.
        loop.run(untilMs: Int64.max) { [unowned self] in self.failure != nil || sendingDone }
        sender.join()
        loop.run(untilMs: sender.endNs / 1_000_000 + Int64(plan.drainSeconds * 1000)) { [unowned self] in
            self.failure != nil || measuredReplies + self.outcome.errors >= total - warmupCount
        }
        outcome.sent = total - warmupCount
        outcome.received = measuredReplies
        let measuredStart = start + Int64(Double(warmupCount) * intervalNs)
        outcome.sendSeconds = Double(sender.endNs - measuredStart) / 1e9
        outcome.durationSeconds = Double(max(lastReplyNs, sender.endNs) - measuredStart) / 1e9
        outcome.lateSends = sender.late
    }

    private func runClosedLoop() throws {
        var sentAt: [Int: Int64] = [:]
        var seq = 0
        let counted = plan.requests > 0
        let begin = Clock.monotonicNs()
        // With a number of requests, every one is measured (no warm-up) until the last answer.
        let measureFrom = counted ? begin : begin + Int64(plan.warmupSeconds * 1e9)
        let measureUntil = counted ? Int64.max : measureFrom + Int64(plan.seconds * 1e9)
        var lastAnswer = begin
        var lastActivity = begin
        var measuring = true
        func send() {
            guard !counted || seq < plan.requests else { return }
            sentAt[seq] = Clock.monotonicNs()
            publish(seq)
            seq += 1
        }
        func finished() -> Bool { counted && seq == plan.requests && sentAt.isEmpty }
        connection.onMessage = { [unowned self] message in
            guard let answered = Request.sequence(in: message.payload), let sent = sentAt.removeValue(forKey: answered) else { return }
            let now = Clock.monotonicNs()
            lastActivity = now
            guard measuring else { return }
            if now >= measureFrom && now < measureUntil && sent >= measureFrom {
                if Request.isError(message.payload) {
                    self.outcome.errors += 1
                } else {
                    self.histogram.record(UInt64(max(1, (now - sent) / 1000)))
                    self.outcome.received += 1
                }
                lastAnswer = now
            }
            if now < measureUntil { send() }
            if finished() { self.loop.stop() }
        }
        // Nothing came back for a second: count what is in flight as lost, start again.
        var stallCheck: EventLoop.Token?
        func checkForStall() {
            stallCheck = loop.after(250) { [unowned self] in
                if Clock.monotonicNs() - lastActivity >= 1_000_000_000 {
                    self.outcome.lost += sentAt.count
                    sentAt.removeAll()
                    lastActivity = Clock.monotonicNs()
                    if counted && seq == self.plan.requests {
                        self.loop.stop()
                        return
                    }
                    for _ in 0..<self.plan.window { send() }
                }
                checkForStall()
            }
        }
        for _ in 0..<plan.window { send() }
        checkForStall()
        let end = counted ? Int64.max : measureUntil / 1_000_000 + 1
        loop.run(untilMs: end) { [unowned self] in
            self.failure != nil || finished() || Clock.monotonicNs() >= measureUntil
        }
        loop.cancel(stallCheck)
        measuring = false
        outcome.durationSeconds = counted ? Double(lastAnswer - begin) / 1e9 : plan.seconds
        outcome.sendSeconds = outcome.durationSeconds
        // Let the requests still in flight come back, so the next run starts on a quiet system.
        let drainUntil = Clock.monotonicMs() + Int64(plan.drainSeconds * 1000)
        loop.run(untilMs: drainUntil) { sentAt.isEmpty }
        outcome.lost += sentAt.count
        outcome.sent = outcome.received + outcome.errors + outcome.lost
    }
}

/// Hands request N to the loop's thread at start + N × interval, from a thread of its own; a
/// request that cannot go on time goes as soon as it can and is counted late (more than 1 ms
/// behind). After the last it posts `finished`.
final class RateSender: Sendable {
    static let finished = -1
    let total: Int
    let intervalNs: Double
    let requests: Inbox<Int>
    private let state = Mutex(State())

    struct State {
        var startNs: Int64 = 0
        var endNs: Int64 = 0
        var late = 0
        var thread: pthread_t?
    }

    init(total: Int, intervalNs: Double, requests: Inbox<Int>) {
        self.total = total
        self.intervalNs = intervalNs
        self.requests = requests
    }

    var endNs: Int64 { state.withLock { $0.endNs } }
    var late: Int { state.withLock { $0.late } }

    /// Starts sending; returns the start on the monotonic clock, in nanoseconds.
    func start() -> Int64 {
        let start = Clock.monotonicNs() + 1_000_000
        state.withLock { $0.startNs = start }
        let unmanaged = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            Unmanaged<RateSender>.fromOpaque(argument!).takeRetainedValue().send()
            return nil
        }, unmanaged.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        state.withLock { $0.thread = thread }
        return start
    }

    func join() {
        if let thread = state.withLock({ $0.thread }) { pthread_join(thread, nil) }
    }

    private func send() {
        let start = state.withLock { $0.startNs }
        var late = 0
        for seq in 0..<total {
            let due = start + Int64(Double(seq) * intervalNs)
            let now = Clock.monotonicNs()
            if due > now {
                var until = timespec(tv_sec: Int(due / 1_000_000_000), tv_nsec: Int(due % 1_000_000_000))
                while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nil) == EINTR {}
            } else if now - due > 1_000_000 {
                late += 1
            }
            requests.post(seq)
        }
        let end = Clock.monotonicNs()
        state.withLock {
            $0.endNs = end
            $0.late = late
        }
        requests.post(RateSender.finished)
    }
}
