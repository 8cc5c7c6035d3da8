import CSQLite

/// An SQLite connection, used from one thread (the reactor's), with its statements prepared
/// once. Only what the outbox needs: no query builder, no strings built from data (values are
/// always bound).
final class SQLiteDatabase {
    private(set) var handle: OpaquePointer?
    let path: String

    struct Failure: Error, CustomStringConvertible {
        var code: Int32
        var description: String
        /// The disk (or the file system's quota) is full.
        var isFull: Bool { code & 0xff == SQLITE_FULL }
        /// The disk or the file, not the data, is in the way (full, an I/O error, busy, read-only,
        /// no memory): the same write may succeed later.
        var isTransient: Bool {
            [SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_NOMEM].contains(code & 0xff)
        }
    }

    /// Opens (creating) the database at `path`; ":memory:" keeps it in memory.
    init(path: String) throws(Failure) {
        self.path = path
        var raw: OpaquePointer?
        let rc = sqlite3_open_v2(path, &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        handle = raw
        guard rc == SQLITE_OK else {
            let failure = Failure(code: rc, description: "cannot open \(path): \(SQLiteDatabase.message(raw, rc))")
            sqlite3_close(raw)
            handle = nil
            throw failure
        }
        sqlite3_extended_result_codes(raw, 1)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    func execute(_ sql: String) throws(Failure) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw failure(rc, doing: sql) }
    }

    func prepare(_ sql: String) throws(Failure) -> SQLiteStatement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw failure(rc, doing: sql) }
        return SQLiteStatement(statement, database: self)
    }

    var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    func failure(_ rc: Int32, doing what: String) -> Failure {
        Failure(code: rc, description: "\(what.prefix(40)): \(SQLiteDatabase.message(handle, rc))")
    }

    private static func message(_ handle: OpaquePointer?, _ rc: Int32) -> String {
        if let handle, let text = sqlite3_errmsg(handle) { return String(cString: text) }
        return String(cString: sqlite3_errstr(rc))
    }
}

/// A prepared statement, reset after each use.
final class SQLiteStatement {
    private let raw: OpaquePointer
    private unowned let database: SQLiteDatabase

    init(_ raw: OpaquePointer, database: SQLiteDatabase) {
        self.raw = raw
        self.database = database
    }

    deinit {
        sqlite3_finalize(raw)
    }

    enum Value {
        case int(Int64)
        case text(String)
        case blob([UInt8])
        case null
    }

    /// Runs a statement that returns no rows.
    func run(_ values: Value...) throws(SQLiteDatabase.Failure) {
        defer { reset() }
        try bind(values)
        let rc = sqlite3_step(raw)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw database.failure(rc, doing: "step") }
    }

    /// Runs a query, handing each row to `row`.
    func query(_ values: Value..., row: (SQLiteRow) -> Void) throws(SQLiteDatabase.Failure) {
        defer { reset() }
        try bind(values)
        while true {
            let rc = sqlite3_step(raw)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw database.failure(rc, doing: "query") }
            row(SQLiteRow(raw: raw))
        }
    }

    private func bind(_ values: [Value]) throws(SQLiteDatabase.Failure) {
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let rc: Int32
            switch value {
            case .int(let number):
                rc = sqlite3_bind_int64(raw, position, number)
            case .text(let text):
                rc = sqlite3_bind_text(raw, position, text, -1, SQLiteStatement.transient)
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { sqlite3_bind_blob(raw, position, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count), SQLiteStatement.transient) }
            case .null:
                rc = sqlite3_bind_null(raw, position)
            }
            guard rc == SQLITE_OK else { throw database.failure(rc, doing: "bind") }
        }
    }

    private func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    /// SQLITE_TRANSIENT: SQLite copies the value before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// One row of a query, valid only inside the query's row handler.
struct SQLiteRow {
    let raw: OpaquePointer

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(raw, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(raw, column) else { return "" }
        return String(cString: text)
    }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(raw, column))
        guard count > 0, let start = sqlite3_column_blob(raw, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: count))
    }
}
