import Hummingbird
import NIOCore

/// A request's context, with its connection: the event stream ends as soon as the browser's
/// connection closes, not at the next write that fails.
struct DashboardContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
