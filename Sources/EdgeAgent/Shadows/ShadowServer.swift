import EdgeCore
import EdgeJSON
import EdgePOSIX

/// Serves the thing's shadows over the AWS IoT Device Shadow MQTT API: reads a request's
/// bytes the way AWS does (size, UTF-8, JSON), runs it on the shadow book, saves what changed
/// and only then publishes the replies.
final class ShadowServer {
    let topics: ShadowTopics
    private(set) var book: ShadowBook
    private let store: ShadowStore
    private let logger: Logger
    private let publish: (_ topic: String, _ payload: JSONValue) -> Void

    init(thing: String, stateDir: String, logger: Logger, publish: @escaping (_ topic: String, _ payload: JSONValue) -> Void) {
        topics = ShadowTopics(thing: thing)
        book = ShadowBook(thing: thing)
        store = ShadowStore(stateDir: stateDir)
        self.logger = logger
        self.publish = publish
    }

    /// Reads the saved shadows back (at start, before anything is served).
    func load() {
        let loaded = store.load()
        for problem in loaded.problems { logger.error("a saved shadow cannot be read", ("problem", problem)) }
        book = ShadowBook(thing: book.thing, shadows: loaded.shadows)
        if !loaded.shadows.isEmpty { logger.info("shadows restored", ("count", String(loaded.shadows.count))) }
    }

    /// A message on one of the request topics; nil when `topic` is not one. Returns which shadow
    /// it was for and the outcome (with `accepted` set for an accepted update).
    func received(topic: String, payload: [UInt8]) -> (name: String?, outcome: ShadowBook.Outcome)? {
        guard let request = topics.request(topic) else { return nil }
        let operation = request.operation
        let now = Clock.wallMs() / 1000
        let parsed = read(payload, for: operation)
        if let problem = request.problem {
            var token: String?
            if case .success(let valid) = parsed { token = valid.clientToken }
            let outcome = ShadowBook.Outcome.rejected(operation, .invalidShadowName(problem), clientToken: token, now: now)
            for message in outcome.messages { reply(to: request.name, message) }
            return (request.name, outcome)
        }
        return (request.name, perform(operation, on: request.name, parsed, now: now))
    }

    /// Runs one request (from the network, the agent itself or a function), saves and publishes.
    func perform(_ operation: ShadowBook.Operation, on name: String?, _ request: Result<ShadowRequest, ShadowRequest.Refusal>,
                 now: Int64 = Clock.wallMs() / 1000) -> ShadowBook.Outcome {
        var outcome = book.evaluate(operation, on: name, request, now: now)
        if let changed = outcome.changed {
            do {
                try store.save(name, changed)
                book.commit(name, outcome)
            } catch {
                // Not saved, not accepted: the shadow stays as it was.
                logger.error("cannot save a shadow; the request is refused", ("shadow", name ?? "(classic)"), ("error", error.description))
                var token: String?
                if case .success(let parsed) = request { token = parsed.clientToken }
                outcome = .rejected(operation, .internalFailure("the agent cannot save the shadow: \(error.description)"),
                                    clientToken: token, now: now)
            }
        }
        if let forgotten = outcome.forgotten { store.remove(forgotten) }
        for message in outcome.messages { reply(to: name, message) }
        return outcome
    }

    private func reply(to name: String?, _ message: (suffix: String, payload: JSONValue)) {
        publish("\(topics.prefix(name))/\(message.suffix)", message.payload)
    }

    /// A request payload checked as AWS checks it: its size, its encoding, then its JSON.
    /// `get` and `delete` may come empty.
    func read(_ payload: [UInt8], for operation: ShadowBook.Operation) -> Result<ShadowRequest, ShadowRequest.Refusal> {
        if payload.count > ShadowLimits.maxPayloadBytes {
            return .failure(.init(error: .tooLarge("the request is \(payload.count) bytes; at most \(ShadowLimits.maxPayloadBytes) are read")))
        }
        if operation != .update && payload.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return ShadowRequest.other(nil)
        }
        if String(validating: payload, as: UTF8.self) == nil { return .failure(.init(error: .unsupportedEncoding)) }
        switch JSONCodec.parse(payload, maxDepth: 32, maxBytes: ShadowLimits.maxPayloadBytes) {
        case .success(let document):
            return operation == .update ? ShadowRequest.update(document) : ShadowRequest.other(document)
        case .failure(let error) where error.kind == .tooDeep:
            return .failure(.init(error: .tooDeep("the request")))
        case .failure(let error):
            return .failure(.init(error: .invalidJSON(error.message)))
        }
    }
}
