/// The outbox's checkpoints: what the write-ahead log holds copied back into `outbox.db`, with
/// the fsyncs that takes, on the I/O worker's storage lane, a second after a commit. SQLite's
/// own automatic checkpoint (every thousand pages of log) runs inside a commit on the reactor,
/// a stall of an fsync or two while serving events; with these, it finds nothing left to copy.
/// It has a connection of its own to the database, which SQLite lets checkpoint while the
/// reactor's connection writes.
final class OutboxCheckpointer: @unchecked Sendable {
    // Unchecked: used only by jobs of the storage lane, which run one at a time, in order.
    private var database: SQLiteDatabase?
    private let path: String

    init(path: String) {
        self.path = path
    }

    /// Runs one passive checkpoint (it never waits for the writer); nil, or why it failed.
    func checkpoint() -> String? {
        do {
            if database == nil {
                let opened = try SQLiteDatabase(path: path)
                try opened.execute("PRAGMA busy_timeout=100")
                database = opened
            }
            try database?.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return nil
        } catch {
            database = nil
            return error.description
        }
    }
}
