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

/// One run: requests out, replies timed into a histogram (microseconds).
///
/// At a fixed rate, request N is due at start + N / rate and its latency counts from that
/// moment, not from when it actually left: a sender held up by a slow system does not hide the
/// wait (coordinated omission). At saturation, `window` requests are kept in flight, each reply
/// sending the next, and latency counts from the send.
final class LoadRun {
    let plan: LoadPlan
    let connection: Connection
    private var histogram = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    private var outcome = LoadOutcome()

    init(plan: LoadPlan, connection: Connection) {
        self.plan = plan
        self.connection = connection
    }

    func run() throws -> LoadOutcome {
        if plan.saturation { try runClosedLoop() } else { try runFixedRate() }
        outcome.latencyUs = histogram
        return outcome
    }

    private func runFixedRate() throws {
        let intervalNs = 1e9 / plan.rate
        let warmupCount = Int(plan.warmupSeconds * plan.rate)
        let total = warmupCount + Int(plan.seconds * plan.rate)
        var answered = [Bool](repeating: false, count: total)
        let sender = RateSender(plan: plan, client: connection.client, total: total, intervalNs: intervalNs)
        let start = sender.start()
        var measuredReplies = 0
        var lastReplyNs: Int64 = start
        while true {
            let finished = sender.finished
            let deadline = finished ? sender.endNs / 1_000_000 + Int64(plan.drainSeconds * 1000) : Clock.monotonicMs() + 200
            if finished && measuredReplies + outcome.errors >= total - warmupCount { break }
            if finished && Clock.monotonicMs() >= deadline { break }
            for event in connection.next(until: min(deadline, Clock.monotonicMs() + 200)) {
                guard case .message(let message) = event, let seq = Request.sequence(in: message.payload),
                      seq < total, !answered[seq] else { continue }
                let now = Clock.monotonicNs()
                answered[seq] = true
                guard seq >= warmupCount else { continue }
                if Request.isError(message.payload) {
                    outcome.errors += 1
                    continue
                }
                let due = start + Int64(Double(seq) * intervalNs)
                histogram.record(UInt64(max(1, (now - due) / 1000)))
                measuredReplies += 1
                lastReplyNs = now
            }
        }
        try sender.join()
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
        func send() throws {
            guard !counted || seq < plan.requests else { return }
            sentAt[seq] = Clock.monotonicNs()
            try connection.client.publish(topic: plan.topic(for: seq), payload: Request.payload(seq: seq, bytes: plan.payloadBytes),
                                          qos: plan.qos, retain: false)
            seq += 1
        }
        let begin = Clock.monotonicNs()
        // With a number of requests, every one is measured (no warm-up) until the last answer.
        let measureFrom = counted ? begin : begin + Int64(plan.warmupSeconds * 1e9)
        let measureUntil = counted ? Int64.max : measureFrom + Int64(plan.seconds * 1e9)
        var lastAnswer = begin
        for _ in 0..<plan.window { try send() }
        while Clock.monotonicNs() < measureUntil && !(counted && seq == plan.requests && sentAt.isEmpty) {
            let events = connection.next(until: Clock.monotonicMs() + 1000)
            if events.isEmpty {
                // Nothing came back for a second: count what is in flight as lost, start again.
                outcome.lost += sentAt.count
                sentAt.removeAll()
                if counted && seq == plan.requests { break }
                for _ in 0..<plan.window { try send() }
                continue
            }
            for event in events {
                guard case .message(let message) = event, let answered = Request.sequence(in: message.payload),
                      let sent = sentAt.removeValue(forKey: answered) else { continue }
                let now = Clock.monotonicNs()
                if now >= measureFrom && now < measureUntil && sent >= measureFrom {
                    if Request.isError(message.payload) {
                        outcome.errors += 1
                    } else {
                        histogram.record(UInt64(max(1, (now - sent) / 1000)))
                        outcome.received += 1
                    }
                    lastAnswer = now
                }
                if now < measureUntil { try send() }
            }
        }
        outcome.durationSeconds = counted ? Double(lastAnswer - begin) / 1e9 : plan.seconds
        outcome.sendSeconds = outcome.durationSeconds
        // Let the requests still in flight come back, so the next run starts on a quiet system.
        let drainUntil = Clock.monotonicMs() + Int64(plan.drainSeconds * 1000)
        while !sentAt.isEmpty && Clock.monotonicMs() < drainUntil {
            for event in connection.next(until: drainUntil) {
                if case .message(let message) = event, let answered = Request.sequence(in: message.payload) {
                    sentAt.removeValue(forKey: answered)
                }
            }
        }
        outcome.lost += sentAt.count
        outcome.sent = outcome.received + outcome.errors + outcome.lost
    }
}

/// Sends request N at start + N × interval on a thread of its own; a request that cannot go
/// on time goes as soon as it can and is counted late (more than 1 ms behind).
final class RateSender: Sendable {
    let plan: LoadPlan
    let client: MQTTClient
    let total: Int
    let intervalNs: Double
    private let state = Mutex(State())

    struct State {
        var startNs: Int64 = 0
        var endNs: Int64 = 0
        var finished = false
        var late = 0
        var failure: String?
        var thread: pthread_t?
    }

    init(plan: LoadPlan, client: MQTTClient, total: Int, intervalNs: Double) {
        self.plan = plan
        self.client = client
        self.total = total
        self.intervalNs = intervalNs
    }

    var finished: Bool { state.withLock { $0.finished } }
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

    func join() throws {
        if let thread = state.withLock({ $0.thread }) { pthread_join(thread, nil) }
        if let failure = state.withLock({ $0.failure }) { throw LoadError(failure) }
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
            do {
                try client.publish(topic: plan.topic(for: seq), payload: Request.payload(seq: seq, bytes: plan.payloadBytes),
                                   qos: plan.qos, retain: false)
            } catch {
                state.withLock { $0.failure = "request \(seq) could not be published: \(error)" }
                break
            }
        }
        let end = Clock.monotonicNs()
        state.withLock {
            $0.endNs = end
            $0.late = late
            $0.finished = true
        }
    }
}
