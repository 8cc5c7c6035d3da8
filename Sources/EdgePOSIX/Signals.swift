#if canImport(Glibc)
import Glibc
#endif
import CEdgeSpawn

/// Signals delivered as readable events on a descriptor, so the reactor handles them in turn.
public final class SignalChannel {
    /// The signalfd, non-blocking, for the reactor to watch.
    public let descriptor: FileDescriptor

    /// Blocks `signals` in the calling thread (call before starting other threads, which inherit the
    /// mask) and opens a signalfd for them. Children reset the mask before exec.
    public init(_ signals: [Int32]) throws(SystemError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        try systemCallReturningErrno("pthread_sigmask") { pthread_sigmask(SIG_BLOCK, &set, nil) }
        descriptor = FileDescriptor(taking: try systemCall("signalfd") { edge_signalfd(&set) })
        // A write to a closed socket or pipe must be an error, not death. (signal fails only for
        // a signal number that is wrong.)
        signal(SIGPIPE, SIG_IGN)
    }

    /// The signals received since the last call.
    public func drain() -> [Int32] {
        var received: [Int32] = []
        while true {
            let signal = edge_signalfd_next(descriptor.rawValue)
            if signal <= 0 { return received }
            received.append(signal)
        }
    }
}

/// How a child process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    public var description: String {
        switch self {
        case .exited(let code): return "exited with code \(code)"
        case .signalled(let signal): return "killed by signal \(signal) (\(Signals.name(signal)))"
        }
    }

    public var isSuccess: Bool { self == .exited(0) }
}

/// Reaping children and naming signals.
public enum Signals {
    /// Every child that has ended, reaped so none is left a zombie. `beforeReaping` runs while the
    /// ended child is still a zombie, so its pid and process group cannot have been reused: the
    /// place to kill what it left behind.
    public static func reapChildren(beforeReaping: (pid_t) -> Void = { _ in }) -> [(pid: pid_t, status: ExitStatus)] {
        var ended: [(pid_t, ExitStatus)] = []
        while true {
            let pid = edge_wait_peek()
            if pid <= 0 { break }
            beforeReaping(pid)
            var status: Int32 = 0
            do {
                let reaped = try systemCall("waitpid", process: pid) { waitpid(pid, &status, WNOHANG) }
                guard reaped == pid else { break }
            } catch {
                // ECHILD: some other waiter reaped it after the peek; nothing is left to reap.
                break
            }
            // The wait-status macros are not importable; decode the standard layout.
            let signal = status & 0x7f
            if signal == 0 {
                ended.append((pid, .exited((status >> 8) & 0xff)))
            } else if signal != 0x7f {
                ended.append((pid, .signalled(signal)))
            }
        }
        return ended
    }

    /// Orphaned descendants of functions (daemons that double-forked) become the agent's
    /// children, so it reaps them: no zombies even when the agent is PID 1 in a container.
    public static func becomeSubreaper() -> Bool {
        edge_set_child_subreaper() == 0
    }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGINT: return "SIGINT"
        case SIGBUS: return "SIGBUS"
        case SIGXCPU: return "SIGXCPU"
        case SIGXFSZ: return "SIGXFSZ"
        case SIGPIPE: return "SIGPIPE"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(signal)"
        }
    }

    /// Sends `signal` to the process `pid` (kill); `.noSuchProcess` once it is gone.
    public static func send(_ signal: Int32, to pid: pid_t) throws(SystemError) {
        precondition(pid > 0, "kill \(pid) would signal a group or every process")
        _ = try systemCall("kill", process: pid) { kill(pid, signal) }
    }

    /// Sends `signal` to the process group `group` (functions run in their own session and
    /// group); `.noSuchProcess` once every member is gone. Never falls back to the pid alone:
    /// once reaped, that number may belong to another process.
    public static func send(_ signal: Int32, toGroup group: pid_t) throws(SystemError) {
        precondition(group > 0, "killpg \(group) would signal every process")
        _ = try systemCall("kill", process: -group) { kill(-group, signal) }
    }
}
