/// A thing's shadows and the three operations on them, as AWS IoT's Device Shadow service
/// answers them. Pure: the caller reads payloads, saves `changed` and publishes `messages`.
public struct ShadowBook: Sendable {
    /// nil is the classic (unnamed) shadow.
    public private(set) var shadows: [String?: ShadowDocument] = [:]
    public let thing: String

    public init(thing: String, shadows: [String?: ShadowDocument] = [:]) {
        self.thing = thing
        self.shadows = shadows
    }

    public enum Operation: String, Sendable, CaseIterable {
        case get, update, delete
    }

    /// What an operation produced: messages by topic suffix ("update/accepted"…), and the
    /// shadow to save (before any message goes out) when it changed.
    public struct Outcome: Sendable {
        public var messages: [(suffix: String, payload: JSONValue)] = []
        public var changed: ShadowDocument?
        public var error: ShadowError?
        /// The update as accepted (for the reconciler), when it was one.
        public var accepted: ShadowRequest?
        /// A tombstone dropped to keep their number bounded: its saved file goes too.
        public var forgotten: String?

        public init() {}

        /// A refusal: the error, and its message on `<operation>/rejected`.
        public static func rejected(_ operation: Operation, _ error: ShadowError, clientToken: String?, now: Int64) -> Outcome {
            var outcome = Outcome()
            outcome.messages = [ShadowBook.rejection(operation, error, clientToken: clientToken, now: now)]
            outcome.error = error
            return outcome
        }
    }

    /// Takes `document` as the shadow's, as it is elsewhere (the service's copy, in `cloud` mode).
    public mutating func adopt(_ name: String?, _ document: ShadowDocument) {
        shadows[name] = document
    }

    /// The shadow as kept, a tombstone included.
    public func kept(_ name: String?) -> ShadowDocument? { shadows[name] }

    public func document(_ name: String?) -> ShadowDocument? {
        shadows[name].flatMap { $0.exists ? $0 : nil }
    }

    /// The name AWS puts in a 404: the shadow's, or the thing's for the classic shadow.
    private func label(_ name: String?) -> String { name ?? thing }

    public static func rejection(_ operation: Operation, _ error: ShadowError, clientToken: String?, now: Int64) -> (suffix: String, payload: JSONValue) {
        var payload: [String: JSONValue] = ["code": .int(Int64(error.code)), "message": .string(error.message), "timestamp": .int(now)]
        if let clientToken { payload["clientToken"] = .string(clientToken) }
        if let detail = error.detail { payload["detail"] = .string(detail) }
        return ("\(operation.rawValue)/rejected", .object(payload))
    }

    private func rejected(_ operation: Operation, _ error: ShadowError, _ token: String?, _ now: Int64) -> Outcome {
        .rejected(operation, error, clientToken: token, now: now)
    }

    /// Runs a request and takes what it changed at once (`evaluate`, then `commit`).
    public mutating func perform(_ operation: Operation, on name: String?, _ request: Result<ShadowRequest, ShadowRequest.Refusal>,
                                 now: Int64) -> Outcome {
        let outcome = evaluate(operation, on: name, request, now: now)
        commit(name, outcome)
        return outcome
    }

    /// What a request, as read from its payload, would do, without doing it: a refusal is
    /// answered on `<operation>/rejected`. The caller saves `changed`, then `commit`s it.
    public func evaluate(_ operation: Operation, on name: String?, _ request: Result<ShadowRequest, ShadowRequest.Refusal>,
                         now: Int64) -> Outcome {
        let parsed: ShadowRequest
        switch request {
        case .failure(let refusal): return .rejected(operation, refusal.error, clientToken: refusal.clientToken, now: now)
        case .success(let value): parsed = value
        }
        switch operation {
        case .get: return get(name, parsed, now: now)
        case .update: return update(name, parsed, now: now)
        case .delete: return delete(name, parsed, now: now)
        }
    }

    /// Takes an outcome's changes: the shadow it changed, and the tombstone it forgot.
    public mutating func commit(_ name: String?, _ outcome: Outcome) {
        if let changed = outcome.changed { shadows[name] = changed }
        if let forgotten = outcome.forgotten { shadows[forgotten] = nil }
    }

    private func get(_ name: String?, _ parsed: ShadowRequest, now: Int64) -> Outcome {
        guard let shadow = document(name) else { return rejected(.get, .notFound(label(name)), parsed.clientToken, now) }
        var outcome = Outcome()
        outcome.messages = [("get/accepted", shadow.fullDocument(now: now, clientToken: parsed.clientToken))]
        return outcome
    }

    private func delete(_ name: String?, _ parsed: ShadowRequest, now: Int64) -> Outcome {
        guard let existing = document(name) else { return rejected(.delete, .notFound(label(name)), parsed.clientToken, now) }
        if let version = parsed.version, version != existing.version {
            return rejected(.delete, .versionConflict(current: existing.version), parsed.clientToken, now)
        }
        // A tombstone keeps the version, so a shadow made again later never reuses one.
        var shadow = ShadowDocument()
        shadow.version = existing.version
        shadow.timestamp = now
        var payload: [String: JSONValue] = ["version": .int(shadow.version), "timestamp": .int(now)]
        if let token = parsed.clientToken { payload["clientToken"] = .string(token) }
        var outcome = Outcome()
        outcome.changed = shadow
        outcome.messages = [("delete/accepted", .object(payload))]
        // With this one, one tombstone too many: the oldest of the others goes.
        let tombstones = shadows.lazy.filter { $0.key != nil && !$0.value.exists }
        if name != nil, tombstones.count >= ShadowLimits.maxTombstones {
            outcome.forgotten = tombstones.min { ($0.value.timestamp, $0.key!) < ($1.value.timestamp, $1.key!) }?.key ?? nil
        }
        return outcome
    }

    private func update(_ name: String?, _ parsed: ShadowRequest, now: Int64) -> Outcome {
        let token = parsed.clientToken
        let before = shadows[name] ?? ShadowDocument()
        if let version = parsed.version, version != before.version {
            return rejected(.update, .versionConflict(current: before.version), token, now)
        }
        if !before.exists, name != nil, namedCount >= ShadowLimits.maxNamedShadows {
            return rejected(.update, .tooManyShadows(ShadowLimits.maxNamedShadows), token, now)
        }
        var after = before.exists ? before : ShadowDocument()
        after.version = before.version
        var echo: [String: JSONValue] = [:]
        var echoMetadata: [String: JSONValue] = [:]
        if let desired = parsed.desired {
            after.desiredMetadata = ShadowRules.mergeMetadata(after.desiredMetadata, state: after.desired, update: desired, at: now)
            after.desired = ShadowRules.merge(after.desired, with: desired)
            echo["desired"] = desired
            echoMetadata["desired"] = ShadowRules.metadata(of: desired, at: now)
        }
        if let reported = parsed.reported {
            after.reportedMetadata = ShadowRules.mergeMetadata(after.reportedMetadata, state: after.reported, update: reported, at: now)
            after.reported = ShadowRules.merge(after.reported, with: reported)
            echo["reported"] = reported
            echoMetadata["reported"] = ShadowRules.metadata(of: reported, at: now)
        }
        if after.stateSize > ShadowLimits.maxStateBytes {
            return rejected(.update, .tooLarge("desired and reported would take \(after.stateSize) bytes; a shadow holds at most \(ShadowLimits.maxStateBytes): remove keys with null, or use a named shadow"), token, now)
        }
        after.exists = true
        after.version += 1
        after.timestamp = now

        var accepted: [String: JSONValue] = ["state": .object(echo), "metadata": .object(echoMetadata),
                                             "version": .int(after.version), "timestamp": .int(now)]
        if let token { accepted["clientToken"] = .string(token) }
        var documents: [String: JSONValue] = ["previous": before.exists ? before.snapshot : .null, "current": after.snapshot,
                                              "timestamp": .int(now)]
        if let token { documents["clientToken"] = .string(token) }
        var outcome = Outcome()
        outcome.changed = after
        outcome.accepted = parsed
        outcome.messages = [("update/accepted", .object(accepted)), ("update/documents", .object(documents))]
        // A delta goes out when the update touched desired and desired still differs from reported.
        if parsed.desired != nil {
            let delta = after.delta
            if !delta.state.isEmpty {
                var message: [String: JSONValue] = ["state": .object(delta.state), "metadata": .object(delta.metadata),
                                                    "version": .int(after.version), "timestamp": .int(now)]
                if let token { message["clientToken"] = .string(token) }
                outcome.messages.insert(("update/delta", .object(message)), at: 1)
            }
        }
        return outcome
    }

    private var namedCount: Int { shadows.lazy.filter { $0.key != nil && $0.value.exists }.count }
}
