import EdgeCore

/// What a function's supervisor tells the agent.
protocol FunctionRunnerDelegate: AnyObject {
    /// An invocation ended, successfully or not; publish it.
    func runner(_ runner: FunctionRunner, finished invocation: Invocation, outcome: InvocationOutcome, durationMs: Double)
    /// Something an operator should see on the events topic.
    func runner(_ runner: FunctionRunner, event: FunctionEvent)
    /// The function asks to publish; returns an error message when refused.
    func runner(_ runner: FunctionRunner, publish topic: String, bytes: [UInt8], qos: Int, retain: Bool) -> String?
    /// The function asks for or updates its own named shadow (`shadow.get`, `shadow.update`);
    /// `reply` gets the message to answer it with, once the shadow is saved.
    func runner(_ runner: FunctionRunner, shadow type: String, _ request: [String: JSONValue], reply: @escaping (JSONValue) -> Void)
    /// State, pids or counters changed: health is due.
    func runnerChanged(_ runner: FunctionRunner)
    /// An instance said it cannot take `config` messages: configuration changes restart it.
    func runnerDeclinedLiveConfig(_ runner: FunctionRunner)
    /// Every wanted instance has sent `ready` (once per start).
    func runnerReady(_ runner: FunctionRunner)
    /// An instance failed (crash, failed start, protocol error); `broken` when it gave up.
    func runner(_ runner: FunctionRunner, failed reason: String, broken: Bool)
    /// The last instance has exited after `stop`.
    func runnerStopped(_ runner: FunctionRunner)
}
