/// An operator's request on `edge/things/{thing}/control` (docs/topics.md, "Control"): restart,
/// stop or start one function, or read recent lines of a function's log or the agent's own.
/// Parsed here, with every problem named by its field and how to fix it.
public struct ControlRequest: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable, CaseIterable {
        case restart, stop, start, logs
    }

    public var action: Action
    /// The function; nil for `logs` means the agent's own log.
    public var function: String?
    /// Echoed in the answer, so a client can match it.
    public var requestId: String?
    /// Where the answer goes (MQTT 3.1.1; on MQTT 5 the response topic comes first).
    public var replyTo: String?
    /// `logs`: at most this many of the newest lines (default 100).
    public var lines: Int
    /// `logs`: only lines stamped at or after this ISO 8601 UTC time (`2026-12-05T15:00:00.000Z`).
    public var since: String?
    /// `logs`: continue after the position a previous answer gave (`--follow`).
    public var cursor: String?

    public static let defaultLines = 100
    public static let maxLines = 1000

    public init(action: Action, function: String? = nil, requestId: String? = nil, replyTo: String? = nil,
                lines: Int = ControlRequest.defaultLines, since: String? = nil, cursor: String? = nil) {
        self.action = action
        self.function = function
        self.requestId = requestId
        self.replyTo = replyTo
        self.lines = lines
        self.since = since
        self.cursor = cursor
    }

    /// A request from its JSON document; the error names the field and the fix.
    public static func parse(_ document: JSONValue) -> Result<ControlRequest, ControlError> {
        guard let members = document.objectValue else {
            return .failure(.invalid("a control request is a JSON object such as {\"action\": \"restart\", \"function\": \"digits\"}"))
        }
        let actions = Action.allCases.map(\.rawValue).joined(separator: ", ")
        guard let name = members["action"]?.stringValue else {
            return .failure(.invalid("action is missing or not a string: give one of \(actions)"))
        }
        guard let action = Action(rawValue: name) else {
            return .failure(.invalid("action \(quoted(name)) is not known: give one of \(actions)"))
        }
        var request = ControlRequest(action: action)
        for key in ["function", "requestId", "replyTo", "since", "cursor"] {
            if let value = members[key], value != .null, value.stringValue == nil {
                return .failure(.invalid("\(key) must be a string"))
            }
        }
        request.function = members["function"]?.stringValue
        request.requestId = members["requestId"]?.stringValue
        request.replyTo = members["replyTo"]?.stringValue
        request.since = members["since"]?.stringValue
        request.cursor = members["cursor"]?.stringValue
        if let function = request.function, function.isEmpty || function.utf8.count > 128 || function.contains("/") {
            return .failure(.invalid("function \(quoted(function)) is not a function name"))
        }
        if action != .logs && request.function == nil {
            return .failure(.invalid("function is missing: \(action.rawValue) needs the function's name"))
        }
        if let value = members["lines"], value != .null {
            guard let lines = value.intValue, lines >= 1, lines <= Int64(maxLines) else {
                return .failure(.invalid("lines must be a whole number from 1 to \(maxLines)"))
            }
            request.lines = Int(lines)
        }
        if let since = request.since, !LogLine.isTimestamp(since) {
            return .failure(.invalid("since \(quoted(since)) is not an ISO 8601 UTC time such as 2026-12-05T15:00:00.000Z"))
        }
        if let cursor = request.cursor, LogCursor(cursor) == nil {
            return .failure(.invalid("cursor \(quoted(cursor)) is not one this agent gave: drop it to read from the end"))
        }
        return .success(request)
    }

    /// Where to answer and under which id, read from a request that may be invalid otherwise,
    /// so that even a wrong request is answered with what to fix.
    public static func envelope(_ document: JSONValue?) -> (requestId: String?, replyTo: String?) {
        (document?["requestId"]?.stringValue, document?["replyTo"]?.stringValue)
    }

    private static func quoted(_ text: String) -> String {
        "\"\(text.utf8.count > 64 ? String(decoding: Array(text.utf8.prefix(64)), as: UTF8.self) + "…" : text)\""
    }
}

/// Why a control request was not carried out: the `type` and `message` of the answer's `error`.
public struct ControlError: Error, Sendable, Equatable {
    public var type: String
    public var message: String

    public init(type: String, message: String) {
        self.type = type
        self.message = message
    }

    /// The request itself is wrong.
    public static func invalid(_ message: String) -> ControlError { .init(type: "InvalidRequest", message: message) }
    /// No such function on this thing.
    public static func unknownFunction(_ name: String, thing: String, deployed: [String]) -> ControlError {
        .init(type: "UnknownFunction", message: "\(thing) has no function \(name) (it has: \(deployed.isEmpty ? "none" : deployed.joined(separator: ", ")))")
    }
    /// The function's state does not allow the action.
    public static func notPossible(_ message: String) -> ControlError { .init(type: "NotPossible", message: message) }
    /// Over the agent's control rate.
    public static func rateLimited(_ message: String) -> ControlError { .init(type: "RateLimited", message: message) }
    /// The agent could not read or write what the request needs.
    public static func failed(_ message: String) -> ControlError { .init(type: "Failed", message: message) }
}

/// The answer to a control request, on its reply topic.
public struct ControlAnswer: Sendable, Equatable {
    public var thing: String
    public var action: String?
    public var function: String?
    public var requestId: String?
    public var outcome: Result<JSONValue, ControlError>

    public init(thing: String, request: ControlRequest?, requestId: String? = nil, outcome: Result<JSONValue, ControlError>) {
        self.thing = thing
        action = request?.action.rawValue
        function = request?.function
        self.requestId = request?.requestId ?? requestId
        self.outcome = outcome
    }

    public func document(timestamp: Int64) -> JSONValue {
        var members: [String: JSONValue] = ["thing": .string(thing), "timestamp": .int(timestamp)]
        if let action { members["action"] = .string(action) }
        if let function { members["function"] = .string(function) }
        if let requestId { members["requestId"] = .string(requestId) }
        switch outcome {
        case .success(let result):
            members["status"] = "ok"
            members["result"] = result
        case .failure(let error):
            members["status"] = "error"
            members["error"] = ["type": .string(error.type), "message": .string(error.message)]
        }
        return .object(members)
    }
}
