#if canImport(Glibc)
import Glibc
#endif
import EdgeCore

/// Where the outbox keeps messages until the broker has them: an SQLite database in the state
/// folder (`outbox.db`, write-ahead log). Writes go in one transaction committed 10 ms after the
/// first (`Outbox.commitEveryMs`): a message accepted is on disk within 10 ms, and a burst costs
/// one commit, not one per message or per turn of the reactor.
/// When the file cannot be opened, the store lives in memory (same bounds, same order) and says
/// why (`problem`): the agent keeps working, without surviving a restart. When the disk stops
/// taking writes (full), nothing accepted is lost: the writes of the failed transaction and the
/// ones after it are held in memory (`UnsavedWrites`, up to `unsavedLimitBytes`) and read
/// together with the file, until a commit writes them all.
final class OutboxStore {
    /// Internal for tests, which make the disk "full" with `PRAGMA max_page_count`.
    let database: SQLiteDatabase
    /// False when the store fell back to memory.
    let durable: Bool
    /// Why the store is not durable, or why the last write failed; nil when all is well.
    private(set) var problem: String?
    /// Where the file is, for the checkpointer; nil for a store in memory.
    var filePath: String? { durable ? database.path : nil }
    /// This start's number, one more than the last start's: results' invocation ids carry it, so
    /// an id is never reused across restarts.
    private(set) var run: Int64 = 1

    private let insertStatement: SQLiteStatement
    private let deleteStatement: SQLiteStatement
    private let fetchStatement: SQLiteStatement
    private let oldestStatement: SQLiteStatement
    private let existsStatement: SQLiteStatement
    /// The open transaction's writes, kept until it commits.
    private var pending = UnsavedWrites()
    /// Writes the disk would not take, held until a commit succeeds.
    private var unsaved = UnsavedWrites()
    /// Payload bytes held in memory at most while the disk refuses writes; a message beyond
    /// is not kept (sent unstored when connected, else dropped and counted).
    static let unsavedLimitBytes = 4 << 20

    /// A stored message, as sent.
    struct Stored {
        var meta: OutboxLedger.Message
        var message: OutboundMessage
    }

    static let schema = """
        CREATE TABLE IF NOT EXISTS outbox(
            seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
            retain INTEGER NOT NULL, correlation BLOB, coalesce INTEGER NOT NULL, created_ms INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        """

    /// Opens `<stateDir>/outbox.db`, or an in-memory store if that fails (logged by the caller from `problem`).
    convenience init(stateDir: String, sync: OutboxLimits.Sync) {
        let path = "\(stateDir)/outbox.db"
        // The agent's alone: results of every function are in it. SQLite gives its write-ahead
        // log the database file's mode.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd >= 0 {
            fchmod(fd, 0o600)
            close(fd)
        }
        do {
            try self.init(path: path, sync: sync, durable: true)
        } catch {
            // An in-memory database cannot fail to open but for a lack of memory.
            try! self.init(path: ":memory:", sync: sync, durable: false)
            problem = "the outbox cannot use \(path) (\(error.description)); messages are kept in memory and lost if the agent stops"
        }
    }

    init(path: String, sync: OutboxLimits.Sync, durable: Bool) throws(SQLiteDatabase.Failure) {
        database = try SQLiteDatabase(path: path)
        self.durable = durable
        try database.execute("PRAGMA journal_mode=WAL")
        try database.execute(sync == .full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
        try database.execute(OutboxStore.schema)
        insertStatement = try database.prepare(
            "INSERT INTO outbox(seq, topic, payload, qos, retain, correlation, coalesce, created_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)")
        deleteStatement = try database.prepare("DELETE FROM outbox WHERE seq = ?")
        fetchStatement = try database.prepare(
            "SELECT seq, topic, payload, qos, retain, correlation, coalesce FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
        oldestStatement = try database.prepare(
            "SELECT seq, topic, length(payload), qos, coalesce FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
        existsStatement = try database.prepare("SELECT 1 FROM outbox WHERE seq = ?")
        var last: Int64 = 0
        try database.prepare("SELECT value FROM meta WHERE key = 'run'").query { last = $0.int(0) }
        run = last + 1
        try database.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('run', ?)").run(.int(run))
    }

    /// What the store holds, by topic, and the highest sequence number in it.
    func summary() throws(SQLiteDatabase.Failure) -> (topics: [OutboxLedger.TopicSummary], maxSeq: UInt64) {
        var byTopic: [String: OutboxLedger.TopicSummary] = [:]
        var maxSeq: UInt64 = 0
        try database.prepare("SELECT seq, topic, length(payload), coalesce FROM outbox ORDER BY seq").query { row in
            let seq = UInt64(row.int(0))
            maxSeq = max(maxSeq, seq)
            guard !unsaved.deletes.contains(seq) else { return }
            let topic = row.text(1)
            let bytes = Int(row.int(2))
            var summary = byTopic[topic] ?? .init(topic: topic, count: 0, bytes: 0)
            summary.count += 1
            summary.bytes += bytes
            if row.int(3) != 0 { summary.newestCoalescing = (seq, bytes) }
            byTopic[topic] = summary
        }
        for (seq, row) in unsaved.insertsInOrder {
            maxSeq = max(maxSeq, seq)
            var summary = byTopic[row.message.topic] ?? .init(topic: row.message.topic, count: 0, bytes: 0)
            summary.count += 1
            summary.bytes += row.message.payload.count
            if row.coalesce { summary.newestCoalescing = (seq, row.message.payload.count) }
            byTopic[row.message.topic] = summary
        }
        return (byTopic.values.sorted { $0.topic < $1.topic }, maxSeq)
    }

    /// Keeps `message`: in the open transaction, or in memory while the disk will not take
    /// writes (`isHoldingUnsaved`). False only when it cannot be kept at all: the disk refuses
    /// writes and `unsavedLimitBytes` are held already.
    @discardableResult
    func insert(seq: UInt64, _ message: OutboundMessage, coalesce: Bool, nowMs: Int64) -> Bool {
        let row = UnsavedWrites.Row(message: message, coalesce: coalesce, createdMs: nowMs)
        if unsaved.isEmpty {
            do {
                try begin()
                try write(seq, row)
                pending.insert(seq, row)
                return true
            } catch where !error.isTransient {
                // This row, not the disk (a constraint, too big): it alone is not kept, as the
                // statement alone was rolled back.
                failed(error)
                return false
            } catch {
                spill(error)
            }
        }
        guard unsaved.bytes + message.payload.count <= OutboxStore.unsavedLimitBytes else { return false }
        unsaved.insert(seq, row)
        return true
    }

    /// Message `seq` is done with (sent, acknowledged, dropped).
    func delete(_ seq: UInt64) {
        if !unsaved.isEmpty {
            unsaved.delete(seq)
            return
        }
        do {
            try begin()
            try deleteStatement.run(.int(Int64(seq)))
            pending.delete(seq)
        } catch where !error.isTransient {
            failed(error)
        } catch {
            spill(error)
            unsaved.delete(seq)
        }
    }

    /// Whether message `seq` is stored. When the store cannot say, it answers yes: the
    /// acknowledgement then deletes a row that may be gone (harmless), where a wrong no would
    /// leave a stored row behind, to be sent again after a restart.
    func contains(_ seq: UInt64) -> Bool {
        if unsaved.inserts[seq] != nil { return true }
        if unsaved.deletes.contains(seq) { return false }
        var found = false
        do {
            try existsStatement.query(.int(Int64(seq))) { _ in found = true }
        } catch {
            failed(error)
            return true
        }
        return found
    }

    /// Up to `limit` stored messages after `seq`, oldest first, with their payloads.
    func fetch(after seq: UInt64, limit: Int) throws(SQLiteDatabase.Failure) -> [Stored] {
        var rows: [Stored] = []
        // Rows done with but still on disk are read past.
        try fetchStatement.query(.int(Int64(seq)), .int(Int64(limit + unsaved.deletes.count))) { row in
            let seq = UInt64(row.int(0))
            guard !unsaved.deletes.contains(seq) else { return }
            let payload = row.blob(2)
            let message = OutboundMessage(topic: row.text(1), payload: payload, qos: Int(row.int(3)), retain: row.int(4) != 0,
                                          correlation: row.isNull(5) ? nil : row.blob(5))
            rows.append(Stored(meta: .init(seq: seq, topic: message.topic, bytes: payload.count, qos: message.qos,
                                           coalesce: row.int(6) != 0),
                               message: message))
        }
        for (held, row) in unsaved.insertsInOrder where held > seq {
            rows.append(Stored(meta: Self.meta(held, row), message: row.message))
        }
        return Array(rows.sorted { $0.meta.seq < $1.meta.seq }.prefix(limit))
    }

    /// Up to `limit` stored messages after `seq`, oldest first, without their payloads.
    func oldest(after seq: UInt64, limit: Int) throws(SQLiteDatabase.Failure) -> [OutboxLedger.Message] {
        var rows: [OutboxLedger.Message] = []
        try oldestStatement.query(.int(Int64(seq)), .int(Int64(limit + unsaved.deletes.count))) { row in
            let seq = UInt64(row.int(0))
            guard !unsaved.deletes.contains(seq) else { return }
            rows.append(.init(seq: seq, topic: row.text(1), bytes: Int(row.int(2)), qos: Int(row.int(3)), coalesce: row.int(4) != 0))
        }
        for (held, row) in unsaved.insertsInOrder where held > seq { rows.append(Self.meta(held, row)) }
        return Array(rows.sorted { $0.seq < $1.seq }.prefix(limit))
    }

    private static func meta(_ seq: UInt64, _ row: UnsavedWrites.Row) -> OutboxLedger.Message {
        .init(seq: seq, topic: row.message.topic, bytes: row.message.payload.count, qos: row.message.qos, coalesce: row.coalesce)
    }

    /// Writes not on disk yet: an open transaction, or writes held in memory.
    var hasUncommitted: Bool { database.isInTransaction || !unsaved.isEmpty }

    /// The disk would not take the last commit: writes are held in memory (`unsaved`) until a
    /// commit succeeds; the outbox tries again every `Outbox.retryCommitMs`.
    var isHoldingUnsaved: Bool { !unsaved.isEmpty }

    /// How many messages are held in memory, not on disk.
    var unsavedCount: Int { unsaved.inserts.count }

    /// Ends the open transaction, or writes what is held in memory; true when something was
    /// committed. On failure (a full disk) nothing is lost: the writes stay in memory and
    /// `problem` says why.
    @discardableResult
    func commit() -> Bool {
        if !unsaved.isEmpty { return flushUnsaved() }
        guard database.isInTransaction else { return false }
        do {
            try database.execute("COMMIT")
            pending = UnsavedWrites()
            if durable { problem = nil }
            return true
        } catch {
            spill(error)
            return false
        }
    }

    /// One transaction with everything held in memory.
    private func flushUnsaved() -> Bool {
        do {
            try begin()
            for seq in unsaved.deletes { try deleteStatement.run(.int(Int64(seq))) }
            for (seq, row) in unsaved.insertsInOrder {
                do {
                    try write(seq, row)
                } catch where !error.isTransient {
                    // A row the database itself refuses would block every later flush: it goes.
                    failed(error)
                    unsaved.delete(seq)
                }
            }
            try database.execute("COMMIT")
            unsaved = UnsavedWrites()
            if durable { problem = nil }
            return true
        } catch {
            rollBack(after: error)
            return false
        }
    }

    /// A write or commit failed (a full disk): the open transaction is rolled back and its
    /// writes, with the failed one the caller adds, are held in memory.
    private func spill(_ error: SQLiteDatabase.Failure) {
        rollBack(after: error)
        unsaved.append(pending)
        pending = UnsavedWrites()
    }

    private func rollBack(after error: SQLiteDatabase.Failure) {
        problem = "the outbox cannot write to \(database.path): \(error.description); messages wait in memory until it can"
        // SQLite may have rolled back already (a full disk); if not, this does, and if even
        // that fails the next write says so.
        do {
            try database.execute("ROLLBACK")
        } catch let rollback {
            // "No transaction is active": SQLite rolled back itself. Anything else is said.
            if database.isInTransaction { problem! += "; the rollback failed too: \(rollback.description)" }
        }
    }

    private func write(_ seq: UInt64, _ row: UnsavedWrites.Row) throws(SQLiteDatabase.Failure) {
        let message = row.message
        try insertStatement.run(.int(Int64(seq)), .text(message.topic), .blob(message.payload), .int(Int64(message.qos)),
                                .int(message.retain ? 1 : 0), message.correlation.map { .blob($0) } ?? .null,
                                .int(row.coalesce ? 1 : 0), .int(row.createdMs))
    }

    private func begin() throws(SQLiteDatabase.Failure) {
        guard !database.isInTransaction else { return }
        try database.execute("BEGIN")
    }

    /// Records a write that failed outside a commit.
    func failed(_ error: any Error) {
        problem = "the outbox cannot write to \(database.path): \((error as? SQLiteDatabase.Failure)?.description ?? "\(error)")"
    }
}
