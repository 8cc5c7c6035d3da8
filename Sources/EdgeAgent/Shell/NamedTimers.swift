import EdgeCore
import EdgePOSIX

/// Reactor timers known by a state machine's names for them (`SupervisorTimer.restart`,
/// `RolloutTimer.healthGate(3)`): arming a name that is armed already replaces it, and a timer
/// that fires hands its name back.
final class NamedTimers<Name: Hashable> {
    private let loop: EventLoop
    private var tokens: [Name: EventLoop.Token] = [:]
    private let fired: (Name) -> Void

    init(loop: EventLoop, fired: @escaping (Name) -> Void) {
        self.loop = loop
        self.fired = fired
    }

    func arm(_ name: Name, afterMs: Int) {
        loop.cancel(tokens[name])
        tokens[name] = loop.after(afterMs) { [weak self] in
            guard let self else { return }
            self.tokens[name] = nil
            self.fired(name)
        }
    }

    func cancel(_ name: Name) {
        if let token = tokens.removeValue(forKey: name) { loop.cancel(token) }
    }
}

/// Feeds a state machine one event at a time: an event that performing effects causes (a spawn
/// that fails at once, a runner ready as soon as it starts) waits until the current batch of
/// effects is done, and is never handled in the middle of it.
final class EventPump<Event> {
    private var pending = RingQueue<Event>()
    private var running = false

    /// Handles `event` now, then whatever it caused; or, when called while handling, queues it.
    func feed(_ event: Event, _ handle: (Event) -> Void) {
        pending.append(event)
        guard !running else { return }
        running = true
        defer { running = false }
        while let next = pending.popFirst() { handle(next) }
    }
}
