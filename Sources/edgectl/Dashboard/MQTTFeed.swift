import EdgeCore
import Foundation

/// The broker side of the dashboard: a `Session` subscribed to what the page shows, whose
/// blocking receive loop runs on a thread of its own and hands each batch of messages to the hub.
/// The session reconnects by itself and subscribes again (`Session.received`).
enum MQTTFeed {
    /// Connects and subscribes on this thread (a failure ends the command before the server
    /// starts), then leaves the session to the receive thread.
    static func start(_ broker: BrokerOptions, into hub: DashboardHub) throws {
        let session = try Session(broker)
        for filter in FleetState.filters {
            try session.subscribe(filter, timeoutSeconds: broker.waitSeconds)
        }
        let handed = Handover(session)
        let thread = Thread {
            let session = handed.session
            let everything = TopicFilter("#")!
            while true {
                hub.take(session.next(everything))
            }
        }
        thread.name = "edgectl-mqtt"
        thread.start()
    }

    /// Moves the session to the receive thread: this one never touches it again, so it is only
    /// ever used by one thread at a time.
    private final class Handover: @unchecked Sendable {
        let session: Session
        init(_ session: Session) { self.session = session }
    }
}
