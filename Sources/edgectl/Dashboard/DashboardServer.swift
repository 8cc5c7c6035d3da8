#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import Hummingbird
import Logging
import NIOCore

/// The dashboard's web server: the page, its script and style, the event stream and the fleet as
/// JSON, behind the security headers and the token check.
enum DashboardServer {
    static func router(hub: DashboardHub, token: AccessToken?) -> Router<DashboardContext> {
        let router = Router(context: DashboardContext.self)
        router.add(middleware: SecurityHeaders())
        router.add(middleware: AccessGate(token: token))
        router.get("/") { _, _ in asset(DashboardPage.html, type: "text/html; charset=utf-8") }
        router.get("/dashboard.js") { _, _ in asset(DashboardScript.source, type: "text/javascript; charset=utf-8") }
        router.get("/dashboard.css") { _, _ in asset(DashboardStyle.source, type: "text/css; charset=utf-8") }
        router.get("/events") { _, context in EventStream.response(hub, connection: context.channel) }
        router.get("/api/fleet") { _, _ in
            asset(String(decoding: JSONWriter.serialize(hub.snapshot), as: UTF8.self), type: "application/json")
        }
        router.get("/api/pages") { _, _ in asset("{\"pages\":\(hub.pageCount)}", type: "application/json") }
        return router
    }

    /// Serves until the process ends; prints the URL to open once listening (the port the system
    /// gave for port 0).
    static func run(hub: DashboardHub, token: AccessToken?, listen: ListenAddress) async throws {
        var logger = Logger(label: "edgectl.dashboard")
        logger.logLevel = .warning
        let app = Application(
            router: router(hub: hub, token: token),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? listen.port
                print("edgectl dashboard: listening on \(listen.url(port: port))")
                if token != nil { print("edgectl dashboard: open it with ?token=TOKEN added once (the token it was given)") }
                fflush(nil)
            },
            logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await hub.run() }
            group.addTask { try await app.run() }
            // The server ends only by failing (the address is taken, say); the hub goes with it.
            try await group.next()
            group.cancelAll()
        }
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
