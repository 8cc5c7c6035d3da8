#if canImport(Glibc)
import Glibc
#endif
import EdgeCore

/// Where the outbox keeps messages until the broker has them: an SQLite database in the state
/// folder (`outbox.db`, write-ahead log). Writes go in one transaction committed 10 ms after the
/// first (`Outbox.commitEveryMs`): a message accepted is on disk within 10 ms, and a burst costs
/// one commit, not one per message or per turn of the reactor.
/// When the file cannot be opened, the store lives in memory (same bounds, same order) and says
/// why (`problem`): the agent keeps working, without surviving a restart.
final class OutboxStore {
    private let database: SQLiteDatabase
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
    func summary(excluding inFlight: (UInt64) -> Bool = { _ in false }) throws(SQLiteDatabase.Failure) -> (topics: [OutboxLedger.TopicSummary], maxSeq: UInt64) {
        var byTopic: [String: OutboxLedger.TopicSummary] = [:]
        var maxSeq: UInt64 = 0
        try database.prepare("SELECT seq, topic, length(payload), coalesce FROM outbox ORDER BY seq").query { row in
            let seq = UInt64(row.int(0))
            maxSeq = max(maxSeq, seq)
            guard !inFlight(seq) else { return }
            let topic = row.text(1)
            let bytes = Int(row.int(2))
            var summary = byTopic[topic] ?? .init(topic: topic, count: 0, bytes: 0)
            summary.count += 1
            summary.bytes += bytes
            if row.int(3) != 0 { summary.newestCoalescing = (seq, bytes) }
            byTopic[topic] = summary
        }
        return (byTopic.values.sorted { $0.topic < $1.topic }, maxSeq)
    }

    func insert(seq: UInt64, _ message: OutboundMessage, coalesce: Bool, nowMs: Int64) throws(SQLiteDatabase.Failure) {
        try begin()
        try insertStatement.run(.int(Int64(seq)), .text(message.topic), .blob(message.payload), .int(Int64(message.qos)),
                                .int(message.retain ? 1 : 0), message.correlation.map { .blob($0) } ?? .null,
                                .int(coalesce ? 1 : 0), .int(nowMs))
    }

    func delete(_ seq: UInt64) throws(SQLiteDatabase.Failure) {
        try begin()
        try deleteStatement.run(.int(Int64(seq)))
    }

    /// Whether message `seq` is stored. When the store cannot say, it answers yes: the
    /// acknowledgement then deletes a row that may be gone (harmless), where a wrong no would
    /// leave a stored row behind, to be sent again after a restart.
    func contains(_ seq: UInt64) -> Bool {
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
        try fetchStatement.query(.int(Int64(seq)), .int(Int64(limit))) { row in
            let payload = row.blob(2)
            let message = OutboundMessage(topic: row.text(1), payload: payload, qos: Int(row.int(3)), retain: row.int(4) != 0,
                                          correlation: row.isNull(5) ? nil : row.blob(5))
            rows.append(Stored(meta: .init(seq: UInt64(row.int(0)), topic: message.topic, bytes: payload.count, qos: message.qos,
                                           coalesce: row.int(6) != 0),
                               message: message))
        }
        return rows
    }

    /// Up to `limit` stored messages after `seq`, oldest first, without their payloads.
    func oldest(after seq: UInt64, limit: Int) throws(SQLiteDatabase.Failure) -> [OutboxLedger.Message] {
        var rows: [OutboxLedger.Message] = []
        try oldestStatement.query(.int(Int64(seq)), .int(Int64(limit))) { row in
            rows.append(.init(seq: UInt64(row.int(0)), topic: row.text(1), bytes: Int(row.int(2)), qos: Int(row.int(3)),
                              coalesce: row.int(4) != 0))
        }
        return rows
    }

    /// Writes not committed yet.
    var hasUncommitted: Bool { database.isInTransaction }

    /// Ends the open transaction; true when there was one. On failure (a full disk) it is
    /// rolled back, and the caller takes its counts again from what the store holds.
    @discardableResult
    func commit() throws(SQLiteDatabase.Failure) -> Bool {
        guard database.isInTransaction else { return false }
        do {
            try database.execute("COMMIT")
            if durable { problem = nil }
            return true
        } catch {
            problem = "the outbox cannot write to \(database.path): \(error.description)"
            // SQLite may have rolled back already (a full disk); if not, this does, and if even
            // that fails the next write says so.
            do {
                try database.execute("ROLLBACK")
            } catch let rollback {
                // "No transaction is active": SQLite rolled back itself. Anything else is said.
                if database.isInTransaction { problem! += "; the rollback failed too: \(rollback.description)" }
            }
            throw error
        }
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
