/// What to run for one function, as a validated deployment document describes it.
public struct FunctionSpec: Sendable, Equatable {
    /// The largest `config`, as compact JSON: it goes to the function in its init line and into
    /// the classic shadow, which holds 8 KB of desired and reported together.
    public static let maxConfigBytes = 4096

    public enum Entry: Sendable, Equatable {
        /// The Python runtime with a Lambda-style `module.function` handler.
        case python(handler: String)
        /// A native executable and its arguments, run without a shell.
        case command([String])
    }

    public enum Lifecycle: String, Sendable, Equatable {
        case longLived = "long-lived"
        case onDemand = "on-demand"
    }

    public var name: String
    public var version: String
    public var entry: Entry
    public var artifacts: [ArtifactSpec]
    public var lifecycle: Lifecycle
    public var concurrency: Int
    public var timeoutMs: Int
    public var startTimeoutMs: Int
    public var stopTimeoutMs: Int
    public var idleTimeoutMs: Int
    public var queueSize: Int
    public var limits: ResourceLimits
    public var environment: [String: String]
    public var config: [String: JSONValue]
    public var subscriptions: [Subscription]
    public var output: Output
    public var publish: [TopicFilter]
    public var user: String?
    public var restart: RestartPolicy
    /// false when the classic shadow disables the function: it stays deployed but runs nothing.
    public var enabled = true

    public struct Subscription: Sendable, Equatable {
        public var filter: TopicFilter
        public var qos: Int
    }

    public struct Output: Sendable, Equatable {
        public var topic: String
        public var qos: Int
    }

    /// Whether a function may publish to `topic` through the runtime protocol.
    public func mayPublish(to topic: String) -> Bool {
        publish.contains { $0.matches(topic) }
    }
}

/// One file a function needs: where to get it, its digest, and how to lay it out.
public struct ArtifactSpec: Sendable, Equatable {
    public enum Unarchive: String, Sendable, Equatable {
        case none
        case tar
        case tarGz = "tar.gz"
    }

    public var uri: String
    public var sha256: String
    public var unarchive: Unarchive
    /// The file name inside the function's directory (for `unarchive: none`).
    public var name: String
}

/// How a crashed function is restarted, and when it is given up on as BROKEN.
public struct RestartPolicy: Sendable, Equatable {
    public var maxFailures: Int
    public var backoffMs: Int
    public var maxBackoffMs: Int

    /// The delay before restart number `failures` (1-based), doubling up to the cap.
    public func delayMs(afterFailures failures: Int) -> Int {
        guard backoffMs > 0 else { return 0 }
        let shift = min(max(failures - 1, 0), 20)
        return min(backoffMs << shift, maxBackoffMs)
    }
}
