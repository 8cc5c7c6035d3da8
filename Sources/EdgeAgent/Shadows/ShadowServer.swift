import EdgeCore
import EdgeJSON
import EdgePOSIX

/// Serves the thing's shadows over the AWS IoT Device Shadow MQTT API: reads a request's
/// bytes the way AWS does (size, UTF-8, JSON), runs it on the shadow book, saves what changed
/// (on the I/O worker, so a slow disk holds up no invocation) and only then publishes the
/// replies. Requests are served one at a time, in the order they came: one waits while the
/// save before it is in flight, so versions and replies stay in order.
final class ShadowServer {
    let topics: ShadowTopics
    private(set) var book: ShadowBook
    private let store: ShadowStore
    private let io: IOWorker
    private let logger: Logger
    private let publish: (_ topic: String, _ payload: JSONValue) -> Void
    private var waiting = RingQueue<Request>()
    private var saving = false

    private struct Request {
        var operation: ShadowBook.Operation
        var name: String?
        var request: Result<ShadowRequest, ShadowRequest.Refusal>
        var now: Int64
        var done: (ShadowBook.Outcome) -> Void
    }

    init(thing: String, topicRoot: String, stateDir: String, io: IOWorker, logger: Logger,
         publish: @escaping (_ topic: String, _ payload: JSONValue) -> Void) {
        topics = ShadowTopics(thing: thing, root: topicRoot)
        book = ShadowBook(thing: thing)
        store = ShadowStore(stateDir: stateDir)
        self.io = io
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

    /// Takes the shadow service's copy of a shadow (`cloud` mode) and saves it, so the desired
    /// state holds offline and across restarts.
    func adopt(_ name: String?, _ document: ShadowDocument) {
        guard book.kept(name) != document else { return }
        book.adopt(name, document)
        let store = self.store
        io.save({ () -> SystemError? in
            do throws(SystemError) {
                try store.save(name, document)
                return nil
            } catch {
                return error
            }
        }, then: { [logger] failure in
            if let failure { logger.warning("cannot save the shadow service's copy of a shadow", ("error", failure.description)) }
        })
    }

    /// A message on one of the request topics; false when `topic` is not one. `done` gets which
    /// shadow it was for and the outcome (with `accepted` set for an accepted update) once replied.
    func received(topic: String, payload: [UInt8], done: @escaping (_ name: String?, _ outcome: ShadowBook.Outcome) -> Void) -> Bool {
        guard let request = topics.request(topic) else { return false }
        let operation = request.operation
        let now = Clock.wallMs() / 1000
        let parsed = read(payload, for: operation)
        if let problem = request.problem {
            var token: String?
            if case .success(let valid) = parsed { token = valid.clientToken }
            let outcome = ShadowBook.Outcome.rejected(operation, .invalidShadowName(problem), clientToken: token, now: now)
            for message in outcome.messages { reply(to: request.name, message) }
            done(request.name, outcome)
            return true
        }
        perform(operation, on: request.name, parsed, now: now) { outcome in done(request.name, outcome) }
        return true
    }

    /// Runs one request (from the network, the agent itself or a function): saves, publishes,
    /// then calls `done` on the reactor.
    func perform(_ operation: ShadowBook.Operation, on name: String?, _ request: Result<ShadowRequest, ShadowRequest.Refusal>,
                 now: Int64 = Clock.wallMs() / 1000, done: @escaping (ShadowBook.Outcome) -> Void = { _ in }) {
        waiting.append(Request(operation: operation, name: name, request: request, now: now, done: done))
        serveWaiting()
    }

    /// Serves the requests waiting, as one group: each is evaluated on the book as the ones before
    /// it left it, what changed is saved in one job (each shadow once, at its last version), and
    /// only then is every request answered, in order. A burst of updates costs one hand-off to
    /// the storage lane and one save per shadow, not one of each per update.
    private func serveWaiting() {
        guard !saving, !waiting.isEmpty else { return }
        var group: [(request: Request, outcome: ShadowBook.Outcome)] = []
        var before: ShadowBook?
        var changed: [String?: ShadowDocument] = [:]
        while group.count < Self.maxGroup, let next = waiting.popFirst() {
            let outcome = book.evaluate(next.operation, on: next.name, next.request, now: next.now)
            if let document = outcome.changed {
                if before == nil { before = book }
                book.commit(next.name, outcome)
                changed[next.name] = document
            }
            group.append((next, outcome))
        }
        guard let before else {
            // Nothing to save: answered now; a request an answer causes waits its turn.
            saving = true
            for (request, outcome) in group { finish(request, outcome, saved: [:]) }
            saving = false
            serveWaiting()
            return
        }
        saving = true
        let store = self.store
        let documents = changed.map { (name: $0.key, document: $0.value) }
        io.save({ () -> SystemError? in
            for (name, document) in documents {
                do throws(SystemError) {
                    try store.save(name, document)
                } catch {
                    return error
                }
            }
            return nil
        }, then: { [weak self] failure in
            guard let self else { return }
            self.saved(group, failure: failure, before: before, changed: changed)
            self.saving = false
            self.serveWaiting()
        })
    }

    /// Answers a group once its save is done; if it failed, the book goes back to what it was
    /// before the group, the updates are refused (500) and the rest is evaluated again on it.
    private func saved(_ group: [(request: Request, outcome: ShadowBook.Outcome)], failure: SystemError?,
                       before: ShadowBook, changed: [String?: ShadowDocument]) {
        guard let failure else {
            for (request, outcome) in group { finish(request, outcome, saved: changed) }
            return
        }
        // Not saved, not accepted: the shadows stay as they were.
        logger.error("cannot save a shadow; the requests that changed one are refused", ("error", failure.description))
        book = before
        for (request, outcome) in group {
            guard outcome.changed != nil else {
                finish(request, book.evaluate(request.operation, on: request.name, request.request, now: request.now), saved: [:])
                continue
            }
            var token: String?
            if case .success(let parsed) = request.request { token = parsed.clientToken }
            finish(request, .rejected(request.operation, .internalFailure("the agent cannot save the shadow: \(failure.description)"),
                                      clientToken: token, now: request.now), saved: [:])
        }
    }

    /// How many requests one group takes at most.
    static let maxGroup = 256

    private func finish(_ request: Request, _ outcome: ShadowBook.Outcome, saved: [String?: ShadowDocument]) {
        // A tombstone forgotten here and the same shadow made again later in the group: keep its file.
        if let forgotten = outcome.forgotten, saved[forgotten] == nil {
            let store = self.store
            io.run(.storage, { store.remove(forgotten) }, then: { [logger] failure in
                if let failure { logger.warning("cannot remove a forgotten shadow's file", ("error", failure.description)) }
            })
        }
        for message in outcome.messages { reply(to: request.name, message) }
        request.done(outcome)
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
