/// The `error.type` of a failed invocation: one the agent itself decides, or whatever name the
/// handler's error carried.
public enum ErrorKind: Sendable, Equatable, CustomStringConvertible {
    /// The handler did not answer within `timeoutMs`.
    case timeout
    /// The instance died (or broke the protocol) while handling the event.
    case crashed
    /// The function's queue (`queueSize`) was full.
    case queueFull
    /// The classic shadow turned the function off.
    case disabled
    /// The function failed `restart.maxFailures` times in a row.
    case broken
    /// The function was stopped before or while handling the event.
    case stopped
    /// The event would not fit one protocol line.
    case payloadTooLarge
    /// No function of that name is deployed (a direct invocation).
    case unknownFunction
    /// An error the handler raised, under its own name (`ValueError`, say).
    case handler(String)

    /// The name on the wire.
    public var name: String {
        switch self {
        case .timeout: return "Timeout"
        case .crashed: return "Crashed"
        case .queueFull: return "QueueFull"
        case .disabled: return "Disabled"
        case .broken: return "Broken"
        case .stopped: return "Stopped"
        case .payloadTooLarge: return "PayloadTooLarge"
        case .unknownFunction: return "UnknownFunction"
        case .handler(let name): return name
        }
    }

    public var description: String { name }
}

/// Why an invocation failed: its kind and a message for the person reading the result.
public struct InvocationError: Sendable, Equatable {
    public var kind: ErrorKind
    public var message: String

    public init(_ kind: ErrorKind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// How an invocation ended, as published on the output topic.
public enum InvocationOutcome: Sendable, Equatable {
    /// The function's result as it sent it.
    case result(RawJSON)
    case failure(InvocationError)

    public var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}
