import EdgeCore
import EdgeMQTT
import EdgePOSIX
import Synchronization

/// The fleet state shared between the MQTT thread, which folds messages in, and the pages that
/// watch it: each page gets a stream that starts with a full snapshot, then the changes,
/// gathered and sent at most every `flushIntervalMs`.
final class DashboardHub: Sendable {
    static let flushIntervalMs = 250
    /// A comment line on every stream this often: a browser gone away is noticed when writing to
    /// it fails (the server keeps a connection whose browser closed only its side open), at the
    /// second write after it left; updates, when the fleet reports, notice it sooner.
    static let heartbeatMs: Int64 = 5_000
    /// Messages a page may fall behind by before its stream is closed (the browser reconnects
    /// and starts again from a snapshot): a stalled page cannot grow this process.
    static let pageBacklog = 64

    private struct Shared: ~Copyable {
        var fleet = FleetState()
        var pages: [Int: AsyncStream<String>.Continuation] = [:]
        var nextPage = 0
        var lastHeartbeatMs: Int64 = 0
    }

    private let shared = Mutex(Shared())

    /// Folds in messages from the broker (on the MQTT thread); they go out with the next flush.
    func take(_ messages: [MQTTMessage]) {
        let now = Clock.wallMs()
        shared.withLock { shared in
            for message in messages { shared.fleet.take(topic: message.topic, payload: message.payload, receivedMs: now) }
        }
    }

    /// A new page's stream: the snapshot first, then every update, as Server-Sent Events; and its
    /// id, for `leave`.
    func join() -> (id: Int, stream: AsyncStream<String>) {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(Self.pageBacklog))
        let (id, behind) = shared.withLock { shared in
            // What is pending goes to the pages already open, so the snapshot does not repeat it.
            let behind = Self.flush(&shared)
            let id = shared.nextPage
            shared.nextPage += 1
            shared.pages[id] = continuation
            // A browser whose stream ends (this process restarted, or it fell behind) tries again after a second.
            continuation.yield("retry: 1000\n" + Self.event("snapshot", shared.fleet.snapshot))
            return (id, behind)
        }
        Self.close(behind)
        continuation.onTermination = { [weak self] _ in self?.leave(id) }
        return (id, stream)
    }

    /// Forgets a page (its browser went away, or its stream ended).
    func leave(_ id: Int) {
        let continuation = shared.withLock { $0.pages.removeValue(forKey: id) }
        continuation?.finish()
    }

    var pageCount: Int { shared.withLock { $0.pages.count } }

    /// The fleet as JSON, for `/api/fleet`.
    var snapshot: JSONValue { shared.withLock { $0.fleet.snapshot } }

    /// Sends what changed every `flushIntervalMs`, and the heartbeat, until cancelled.
    func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .milliseconds(Self.flushIntervalMs)) } catch { return }
            let behind = shared.withLock { shared in
                var behind = Self.flush(&shared)
                let now = Clock.monotonicMs()
                if now - shared.lastHeartbeatMs >= Self.heartbeatMs {
                    shared.lastHeartbeatMs = now
                    behind += Self.send(": heartbeat\n\n", to: &shared)
                }
                return behind
            }
            Self.close(behind)
        }
    }

    /// Sends what changed to every page; returns the pages that fell behind, to close.
    private static func flush(_ shared: inout Shared) -> [AsyncStream<String>.Continuation] {
        guard let update = shared.fleet.takeUpdate(), !shared.pages.isEmpty else { return [] }
        return send(event("update", update), to: &shared)
    }

    private static func send(_ text: String, to shared: inout Shared) -> [AsyncStream<String>.Continuation] {
        var behind: [AsyncStream<String>.Continuation] = []
        for (id, page) in shared.pages {
            if case .dropped = page.yield(text) {
                // It fell behind: closed rather than left to miss an update.
                shared.pages[id] = nil
                behind.append(page)
            }
        }
        return behind
    }

    /// Outside the lock: finishing a stream runs its `onTermination`, which takes the lock.
    private static func close(_ pages: [AsyncStream<String>.Continuation]) {
        for page in pages { page.finish() }
    }

    /// One Server-Sent Event; JSON text has no raw line break, so it fits one `data:` line.
    static func event(_ name: String, _ data: JSONValue) -> String {
        "event: \(name)\ndata: \(String(decoding: JSONWriter.serialize(data), as: UTF8.self))\n\n"
    }
}
