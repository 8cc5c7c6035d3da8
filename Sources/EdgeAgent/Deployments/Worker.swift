#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking work (downloads, unpacking) on a thread of its own so the reactor keeps
/// serving events; the job reports back through an `Inbox`.
enum Worker {
    private final class Job {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    static func run(_ body: @escaping @Sendable () -> Void) {
        let job = Unmanaged.passRetained(Job(body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            Unmanaged<Job>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, job.toOpaque())
        if rc != 0 {
            job.release()
            body()
            return
        }
        pthread_detach(thread)
    }
}
