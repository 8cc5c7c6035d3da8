/// The agent as a device client of a shadow service it does not run (`shadows: cloud`: AWS IoT
/// Core, or another implementation of the Device Shadow MQTT API). Pure: it says what to
/// publish and what came back; the shell publishes, keeps the service's copy of each shadow
/// (saved, so the desired state holds offline and across restarts) and acts on it as in `serve` mode.
///
/// - On connect it asks for the classic shadow (`get`); a `delta` makes it ask again, since a
///   delta carries only what differs and the agent acts on the whole desired state.
/// - Reports and functions' requests go to `update` and `get` with a client token of the agent's,
///   so their answers are told from other clients'; a request unanswered within `timeoutMs`
///   is answered for the service (504).
public struct CloudShadowClient: Sendable {
    /// Who asked: the agent (its report, its refresh) or a function (its request id).
    public enum Origin: Sendable, Equatable {
        case agent
        case function(Int)
    }

    public struct Answer: Sendable, Equatable {
        public var name: String?
        public var operation: ShadowBook.Operation
        public var origin: Origin
        public var accepted: Bool
        /// The service's answer: the document, or the error (`code`, `message`).
        public var payload: JSONValue

        public var errorCode: Int? { accepted ? nil : payload["code"]?.intValue.map { Int($0) } }
    }

    public enum Effect: Sendable, Equatable {
        case publish(topic: String, payload: JSONValue)
        /// The service's copy of a shadow, fetched; `desiredChange` is what deltas said changed
        /// since the last fetch (for re-arming functions turned back on).
        case document(name: String?, ShadowDocument, desiredChange: [String: JSONValue]?)
        case answer(Answer)
    }

    public static let timeoutMs: Int64 = 10_000

    public let topics: ShadowTopics
    private var pending: [String: Pending] = [:]
    private var counter = 0
    /// What deltas said since the last fetch, per shadow.
    private var deltas: [String?: [String: JSONValue]] = [:]

    private struct Pending: Sendable {
        var name: String?
        var operation: ShadowBook.Operation
        var origin: Origin
        var deadlineMs: Int64
    }

    public init(topics: ShadowTopics) { self.topics = topics }

    /// The replies the agent subscribes to, classic and named: two levels below the shadow
    /// (`get/accepted`, `update/delta`, …), so not the requests, which are one level less deep.
    public var replyFilters: [String] {
        ["\(topics.classicPrefix)/+/+", "\(topics.classicPrefix)/name/+/+/+"]
    }

    public var hasPending: Bool { !pending.isEmpty }

    /// After every connect: the classic shadow as the service has it.
    public mutating func connected(nowMs: Int64) -> [Effect] {
        fetch(nil, origin: .agent, nowMs: nowMs)
    }

    /// A `get`. The agent's own fetch of a shadow is not sent twice while one is out.
    public mutating func fetch(_ name: String?, origin: Origin, nowMs: Int64) -> [Effect] {
        if origin == .agent, pending.values.contains(where: { $0.origin == .agent && $0.operation == .get && $0.name == name }) {
            return []
        }
        return [send(.get, on: name, fields: [:], origin: origin, nowMs: nowMs)]
    }

    /// An `update` with `fields` (`state`, and `version` for a checked update); the client token is the agent's.
    public mutating func update(_ name: String?, fields: [String: JSONValue], origin: Origin, nowMs: Int64) -> [Effect] {
        [send(.update, on: name, fields: fields, origin: origin, nowMs: nowMs)]
    }

    private mutating func send(_ operation: ShadowBook.Operation, on name: String?, fields: [String: JSONValue],
                               origin: Origin, nowMs: Int64) -> Effect {
        counter += 1
        let token = "edge-agent-\(counter)"
        pending[token] = Pending(name: name, operation: operation, origin: origin, deadlineMs: nowMs + Self.timeoutMs)
        var payload = fields
        payload["clientToken"] = .string(token)
        return .publish(topic: "\(topics.prefix(name))/\(operation.rawValue)", payload: .object(payload))
    }

    /// A message on one of `replyFilters`; nothing when it is not for this thing or not the agent's.
    public mutating func received(topic: String, payload: JSONValue, nowMs: Int64) -> [Effect] {
        guard let (name, suffix) = topics.reply(topic) else { return [] }
        if let name, ShadowTopics.nameProblem(name) != nil { return [] }
        switch suffix {
        case "update/delta":
            var seen = deltas[name] ?? [:]
            if let state = payload["state"]?.objectValue { seen = ShadowRules.merge(seen, with: .object(state)) ?? [:] }
            deltas[name] = seen
            return fetch(name, origin: .agent, nowMs: nowMs)
        case "delete/accepted":
            var tombstone = ShadowDocument()
            tombstone.version = payload["version"]?.intValue ?? 0
            return [.document(name: name, tombstone, desiredChange: nil)]
        default:
            break
        }
        let parts = suffix.split(separator: "/")
        guard parts.count == 2, let operation = ShadowBook.Operation(rawValue: String(parts[0])),
              parts[1] == "accepted" || parts[1] == "rejected",
              let token = payload["clientToken"]?.stringValue, let request = pending[token],
              request.name == name, request.operation == operation else { return [] }
        pending[token] = nil
        let accepted = parts[1] == "accepted"
        var effects: [Effect] = []
        if operation == .get, request.origin == .agent {
            if accepted, let document = ShadowDocument(service: payload) {
                effects.append(.document(name: name, document, desiredChange: deltas.removeValue(forKey: name)))
            } else if !accepted, payload["code"]?.intValue == 404 {
                // No such shadow yet: an empty one, version 0.
                effects.append(.document(name: name, ShadowDocument(), desiredChange: deltas.removeValue(forKey: name)))
            }
        }
        effects.append(.answer(Answer(name: name, operation: operation, origin: request.origin, accepted: accepted, payload: payload)))
        return effects
    }

    /// Answers for the service every request older than `timeoutMs`.
    public mutating func expire(nowMs: Int64) -> [Effect] {
        let late = pending.filter { $0.value.deadlineMs <= nowMs }.sorted { $0.key < $1.key }
        return late.map { token, request in
            pending[token] = nil
            let error: JSONValue = ["code": 504, "message": .string("no answer from the shadow service within \(Self.timeoutMs / 1000) s")]
            return .answer(Answer(name: request.name, operation: request.operation, origin: request.origin, accepted: false, payload: error))
        }
    }

    /// The connection ended: what is pending will not be answered on it.
    public mutating func disconnected() -> [Effect] {
        expire(nowMs: .max)
    }
}

extension ShadowDocument {
    /// A document as the shadow service sends it on `get/accepted`.
    public init?(service payload: JSONValue) {
        guard let members = payload.objectValue, let version = members["version"]?.intValue else { return nil }
        self.init()
        self.version = version
        timestamp = members["timestamp"]?.intValue ?? 0
        exists = true
        desired = members["state"]?["desired"]?.objectValue
        reported = members["state"]?["reported"]?.objectValue
        desiredMetadata = members["metadata"]?["desired"]?.objectValue
        reportedMetadata = members["metadata"]?["reported"]?.objectValue
    }

    /// This document with an accepted update's state merged in (`update/accepted` carries the
    /// sections as sent and the new version).
    public func merging(accepted payload: JSONValue) -> ShadowDocument {
        var merged = self
        if let state = payload["state"]?.objectValue {
            if let desired = state["desired"] { merged.desired = ShadowRules.merge(merged.desired, with: desired) }
            if let reported = state["reported"] { merged.reported = ShadowRules.merge(merged.reported, with: reported) }
        }
        if let version = payload["version"]?.intValue { merged.version = version }
        merged.exists = true
        return merged
    }
}
