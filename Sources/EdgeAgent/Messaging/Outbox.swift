import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// Every message the agent sends goes out through here, on the reactor's thread. The decisions
/// are `OutboxLedger`'s; this performs them. A QoS 1 message is written to the store before it
/// is handed to the MQTT client and deleted when the broker acknowledges it; a message that
/// cannot go at once (offline, or its topic has older messages waiting, or too many in flight)
/// waits in the store, and `pump` replays the waiting ones oldest first while connected, a batch
/// per turn of the reactor, with some in-flight slots always left to live messages. An agent
/// killed with messages waiting sends them after it starts again. The MQTT client never holds
/// more than `maxInFlight` messages. A message the client refuses for good (an invalid topic,
/// too large) is dropped, counted and logged, never left blocking the rest.
final class Outbox {
    private let client: MQTTClient
    private let loop: EventLoop
    private let logger: Logger
    private let store: OutboxStore
    private let io: IOWorker
    private let checkpointer: OutboxCheckpointer?
    private var checkpointDue: EventLoop.Token?
    private var commitDue: EventLoop.Token?
    private var ledger: OutboxLedger
    private var pumpDue: EventLoop.Token?
    private var reportedProblem: String?
    private(set) var refused = 0
    /// The reasons the broker gave for refusing messages, each logged once.
    private var brokerRefusals: Set<String> = []
    /// Waiting messages handed over per turn of the reactor, at most.
    static let replayPerTurn = 256

    /// How long after a commit the write-ahead log is checkpointed, at most once per this long.
    static let checkpointAfterMs = 1000
    /// How long writes wait to be committed together (group commit): each commit writes whole
    /// 4 KiB pages to the log, so committing every turn of a busy loop wrote megabytes a second
    /// (flash wears) and fsynced the log at every automatic checkpoint.
    static let commitEveryMs = 10
    /// How often a commit is tried again while the disk refuses writes.
    static let retryCommitMs = 2000

    init(client: MQTTClient, loop: EventLoop, io: IOWorker, store: OutboxStore, limits: OutboxLimits, logger: Logger) {
        self.client = client
        self.loop = loop
        self.io = io
        self.store = store
        checkpointer = store.filePath.map { OutboxCheckpointer(path: $0) }
        self.logger = logger
        ledger = OutboxLedger(limits: limits)
        do {
            let held = try store.summary()
            ledger.restore(held.topics, maxSeq: held.maxSeq)
            if ledger.waitingCount > 0 {
                logger.info("the outbox holds messages from before the restart; they go out once connected",
                            ("messages", String(ledger.waitingCount)), ("bytes", String(ledger.storedBytes)))
            }
            trimToLimits()
        } catch {
            store.failed(error)
        }
        noteProblem()
    }

    /// This start's number (see `OutboxStore.run`).
    var run: Int64 { store.run }

    /// What health reports of the outbox.
    var health: HealthDocument.Outbox {
        HealthDocument.Outbox(queued: ledger.waitingCount, inFlight: ledger.inFlightCount, storedBytes: ledger.storedBytes,
                              dropped: ledger.dropped, replaced: ledger.replaced, refused: refused,
                              durable: store.durable, problem: store.problem)
    }

    /// Publishes `document` as JSON; see `publish(_:bytes:qos:retain:correlation:coalesce:)`.
    @discardableResult
    func publish(_ topic: String, _ document: JSONValue, qos: Int, retain: Bool = false, correlation: [UInt8]? = nil,
                 coalesce: Bool = false) -> Int32? {
        publish(topic, bytes: JSONCodec.serialize(document), qos: qos, retain: retain, correlation: correlation, coalesce: coalesce)
    }

    /// Publishes now or keeps the message until it can go. Returns the message id when it went
    /// to the broker (its acknowledgement carries it), nil when it waits or was refused.
    /// `coalesce`: only the newest waiting message of this topic matters (health).
    @discardableResult
    func publish(_ topic: String, bytes: [UInt8], qos: Int, retain: Bool = false, correlation: [UInt8]? = nil,
                 coalesce: Bool = false) -> Int32? {
        let message = OutboundMessage(topic: topic, payload: bytes, qos: qos, retain: retain, correlation: correlation)
        let admission = ledger.admit(topic: topic, bytes: bytes.count, qos: qos, coalesce: coalesce, online: client.isConnected)
        let meta = OutboxLedger.Message(seq: admission.seq, topic: topic, bytes: bytes.count, qos: qos, coalesce: coalesce)
        if let older = admission.replaces { store.delete(older) }
        var stored = admission.store && store.insert(seq: admission.seq, message, coalesce: coalesce, nowMs: Clock.wallMs())
        switch admission.route {
        case .wait:
            if !stored { ledger.notStored(meta) }
            trimToLimits()
            return nil
        case .send:
            switch send(message) {
            case .sent(let id):
                ledger.handedOver(seq: admission.seq, bytes: bytes.count, qos: qos, messageId: id, stored: stored)
                return id
            case .offline:
                if !stored { stored = store.insert(seq: admission.seq, message, coalesce: coalesce, nowMs: Clock.wallMs()) }
                ledger.sendFailed(meta, stored: stored)
                trimToLimits()
                return nil
            case .refused:
                if stored { store.delete(admission.seq) }
                return nil
            }
        }
    }

    /// Connected: the waiting messages start going out.
    func resume() {
        schedulePump()
    }

    /// The connection ended: the next connect replays from the oldest waiting message.
    func disconnected() {
        ledger.disconnected()
    }

    /// The broker's PUBACK for `messageId`.
    func acknowledged(_ messageId: Int32) {
        if let seq = ledger.acknowledged(messageId) { store.delete(seq) }
        if ledger.waitingCount > 0 && ledger.replayHasRoom { schedulePump() }
    }

    /// A message the broker answered with a failure (MQTT 5 PUBACK 0x80 and up): it is done
    /// with (sending it again would meet the same answer), counted in `refused`, and said once
    /// per distinct reason.
    func rejectedByBroker(_ messageId: Int32, reason: String) {
        acknowledged(messageId)
        refused += 1
        if brokerRefusals.insert(reason).inserted {
            logger.error("the broker refused a message the agent published (said once per reason; health counts them in outbox.refused)",
                         ("reason", reason))
        }
    }

    /// A message the client refused for good, at once or after it had kept it (`MQTTEvent.refused`): counted, logged, dropped.
    func refusedByClient(topic: String, reason: String) {
        refused += 1
        logger.error("message dropped: the MQTT client refused it", ("topic", topic), ("reason", reason))
    }

    /// The end of a turn of the reactor: writes made in it are committed within `commitEveryMs`,
    /// together with those of the turns that follow meanwhile. While the disk refuses writes
    /// (the store holds them in memory), a commit is tried every `retryCommitMs` instead.
    func endOfTurn() {
        guard commitDue == nil, store.hasUncommitted else { return }
        commitDue = loop.after(store.isHoldingUnsaved ? Outbox.retryCommitMs : Outbox.commitEveryMs) { [unowned self] in
            self.commitDue = nil
            self.commit()
        }
    }

    private func commit() {
        if store.commit() { scheduleCheckpoint() }
        noteProblem()
    }

    /// At stop: what is stored is committed; the store stays for the next start.
    func close() {
        loop.cancel(pumpDue)
        pumpDue = nil
        loop.cancel(commitDue)
        commitDue = nil
        commit()
        if store.isHoldingUnsaved {
            logger.error("outbox: the disk would not take the messages held in memory; they are lost with this stop",
                         ("messages", String(store.unsavedCount)))
        }
        loop.cancel(checkpointDue)
        checkpointDue = nil
    }

    /// A checkpoint on the storage lane a second after the first commit since the last one.
    private func scheduleCheckpoint() {
        guard checkpointDue == nil, let checkpointer else { return }
        checkpointDue = loop.after(Outbox.checkpointAfterMs) { [unowned self] in
            self.io.run(.storage, { checkpointer.checkpoint() }) { [weak self] problem in
                self?.checkpointDue = nil
                if let problem { self?.logger.warning("outbox: a checkpoint failed; the next commit tries again", ("reason", problem)) }
            }
        }
    }

    // MARK: Replay

    private func schedulePump() {
        guard pumpDue == nil, ledger.waitingCount > 0 else { return }
        pumpDue = loop.after(0) { [unowned self] in
            self.pumpDue = nil
            self.pump()
        }
    }

    /// Hands over waiting messages, oldest first, until a batch is done, the replay's in-flight
    /// slots are taken (acknowledgements call it again) or the client is offline.
    private func pump() {
        var budget = Outbox.replayPerTurn
        while budget > 0 && ledger.waitingCount > 0 && client.isConnected {
            let rows: [OutboxStore.Stored]
            do {
                rows = try store.fetch(after: ledger.cursor, limit: min(budget, 64))
            } catch {
                store.failed(error)
                noteProblem()
                return
            }
            if rows.isEmpty { return }
            for row in rows {
                if ledger.isInFlight(row.meta.seq) {
                    ledger.passed(row.meta.seq)
                    continue
                }
                if row.meta.qos > 0 && !ledger.replayHasRoom { return }
                budget -= 1
                switch send(row.message) {
                case .sent(let id):
                    ledger.replayed(row.meta, messageId: id)
                    if row.meta.qos == 0 { store.delete(row.meta.seq) }
                case .offline:
                    return
                case .refused:
                    ledger.dropped(row.meta)
                    store.delete(row.meta.seq)
                }
            }
        }
        if budget == 0 { schedulePump() }
    }

    /// Over a bound: the oldest waiting messages go, counted (health's `outbox.dropped`).
    private func trimToLimits() {
        guard ledger.isOverLimits else { return }
        var count = 0
        while ledger.isOverLimits {
            let oldest: [OutboxLedger.Message]
            do {
                // The oldest rows may all be in flight (a replay hands over the oldest first): read past them.
                oldest = try store.oldest(after: 0, limit: 64 + ledger.inFlightCount).filter { !ledger.isInFlight($0.seq) }
            } catch {
                store.failed(error)
                break
            }
            guard !oldest.isEmpty else { break }
            for message in oldest where ledger.isOverLimits {
                ledger.dropped(message)
                store.delete(message.seq)
                count += 1
            }
        }
        if count > 0 {
            logger.warning("the outbox is full: the oldest waiting messages were dropped",
                           ("dropped", String(count)), ("droppedSinceStart", String(ledger.dropped)),
                           ("maxMessages", String(ledger.limits.maxMessages)), ("maxBytes", String(ledger.limits.maxBytes)))
        }
    }

    // MARK: Effects

    private enum Outcome {
        case sent(Int32)
        case offline
        case refused
    }

    private func send(_ message: OutboundMessage) -> Outcome {
        guard client.isConnected else { return .offline }
        do {
            switch try client.publish(message) {
            case .sent(let id): return .sent(id)
            // Only while a connect attempt has the handle, which `isConnected` rules out.
            case .kept: return .offline
            }
        } catch where error.isOffline {
            return .offline
        } catch {
            refusedByClient(topic: message.topic, reason: error.description)
            return .refused
        }
    }

    private func noteProblem() {
        guard store.problem != reportedProblem else { return }
        reportedProblem = store.problem
        if let problem = store.problem {
            logger.error("outbox: \(problem)")
        } else {
            logger.info("outbox: writing to disk again")
        }
    }
}
