import EdgePOSIX

/// One long-running part of the agent (the MQTT session, the outbox, the shadows, health, the
/// functions), in the shape of swift-service-lifecycle's services, on the reactor.
protocol AgentService: AnyObject {
    /// For logs.
    var serviceName: String { get }
    func start()
    /// Begins a graceful stop and calls `done` once stopped. The group moves on at
    /// `stopDeadlineMs` whether or not `done` came.
    func stop(_ done: @escaping () -> Void)
    /// The longest the stop may take.
    var stopDeadlineMs: Int { get }
}

/// Starts its services in order and stops them in reverse order, one at a time, each within its
/// deadline, then says it is finished: the agent's whole lifecycle, with no flags to keep in step.
final class ServiceGroup {
    enum Phase: Equatable { case idle, running, stopping, stopped }

    private let services: [AgentService]
    private let loop: EventLoop
    private let logger: Logger
    private(set) var phase: Phase = .idle
    private var finished: (() -> Void)?
    private var deadline: EventLoop.Token?

    init(_ services: [AgentService], loop: EventLoop, logger: Logger) {
        self.services = services
        self.loop = loop
        self.logger = logger
    }

    func start() {
        guard phase == .idle else { return }
        phase = .running
        for service in services { service.start() }
    }

    /// Stops every service, the last started first; `finished` is called once, after the first.
    /// A second call while stopping changes nothing.
    func shutdown(reason: String, finished: @escaping () -> Void) {
        guard phase == .running || phase == .idle else { return }
        phase = .stopping
        self.finished = finished
        logger.info("shutting down", ("reason", reason))
        stop(at: services.count - 1)
    }

    private func stop(at index: Int) {
        guard index >= 0 else {
            phase = .stopped
            finished?()
            finished = nil
            return
        }
        let service = services[index]
        var done = false
        let next = { [weak self] in
            guard let self, !done else { return }
            done = true
            self.loop.cancel(self.deadline)
            self.deadline = nil
            self.stop(at: index - 1)
        }
        deadline = loop.after(service.stopDeadlineMs) { [logger] in
            logger.warning("a service did not stop within its deadline; going on", ("service", service.serviceName),
                           ("deadlineMs", String(service.stopDeadlineMs)))
            next()
        }
        service.stop(next)
    }
}
