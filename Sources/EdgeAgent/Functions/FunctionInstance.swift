#if canImport(Glibc)
import Glibc
#endif
import EdgePOSIX

/// One running process of a function, and what it is doing.
final class FunctionInstance {
    enum Phase {
        case starting
        case idle
        case busy(Invocation, startedNs: Int64)
        case stopping
    }

    /// Why the agent ended the process itself, so its exit is not mistaken for a crash.
    enum EndReason {
        case stopRequested
        case idleTimeout
        case invocationTimeout
        case failure(String)
    }

    let pid: pid_t
    let startedNs = Clock.monotonicNs()
    var channel: RuntimeChannel?
    var stdout: OutputCapture?
    var stderr: OutputCapture?
    var phase: Phase = .starting
    var endReason: EndReason?
    var timers: [EventLoop.Token] = []
    var invocationTimer: EventLoop.Token?
    var idleTimer: EventLoop.Token?

    init(pid: pid_t) { self.pid = pid }

    var isIdle: Bool {
        if case .idle = phase { return true }
        return false
    }

    var currentInvocation: Invocation? {
        if case .busy(let invocation, _) = phase { return invocation }
        return nil
    }

    func cancelTimers(_ loop: EventLoop) {
        for token in timers { loop.cancel(token) }
        timers.removeAll()
        loop.cancel(invocationTimer)
        loop.cancel(idleTimer)
        invocationTimer = nil
        idleTimer = nil
    }

    /// Signals the whole process group (the function runs in a session of its own).
    func signal(_ signal: Int32) {
        Signals.sendToGroup(pid, signal)
    }

    func closeIO() {
        channel?.close()
        stdout?.close()
        stderr?.close()
    }
}
