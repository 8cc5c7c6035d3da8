import Hummingbird
import NIOCore

/// `GET /events`: the page's Server-Sent Events stream, a snapshot then the updates (DashboardHub).
/// A browser that goes away ends the stream and frees its place in the hub: when its connection
/// closes, or when a write to it fails (an update, or the heartbeat every 5 s: a browser that
/// closes only its side of the connection is noticed so).
enum EventStream {
    static func response(_ hub: DashboardHub, connection: any Channel) -> Response {
        let (id, stream) = hub.join()
        connection.closeFuture.whenComplete { _ in hub.leave(id) }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .init("X-Accel-Buffering")!: "no"],
            body: ResponseBody { writer in
                defer { hub.leave(id) }
                for await text in stream {
                    try await writer.write(ByteBuffer(string: text))
                }
                try await writer.finish(nil)
            })
    }
}
