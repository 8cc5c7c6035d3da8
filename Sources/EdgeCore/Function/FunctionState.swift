/// The supervisor's view of one function, as reported in health and status.
public enum FunctionState: String, Sendable {
    /// Instances are starting and not all have sent `ready`.
    case starting = "STARTING"
    /// Every wanted instance is ready (for on-demand: at least the ones started are).
    case running = "RUNNING"
    /// On-demand with no instance running: it starts on the next event.
    case idle = "IDLE"
    /// Crashed; waiting for the restart backoff.
    case restarting = "RESTARTING"
    /// Failed `maxFailures` times in a row; it stays down until redeployed or re-armed.
    case broken = "BROKEN"
    /// Deployed but turned off by the classic shadow (`functions.{fn}.enabled: false`).
    case disabled = "DISABLED"
    case stopping = "STOPPING"
    case stopped = "STOPPED"
}
