import CSQLite

#if canImport(Glibc)
import Glibc
#endif

/// SQLITE_BUSY_RECOVERY (SQLITE_BUSY | 1 << 8): the extended code, as the calls return it with
/// extended result codes on.
let sqliteBusyRecovery: Int32 = SQLITE_BUSY | (1 << 8)

/// An error from SQLite: the result code, its extended code and SQLite's message.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var sql: String?

    /// SQLITE_BUSY, any extended form: another connection holds the lock.
    public var isBusy: Bool { self.code & 0xFF == SQLITE_BUSY }

    public var description: String {
        "SQLite error \(self.code): \(self.message)" + (self.sql.map { " (in: \($0.prefix(120)))" } ?? "")
    }

    /// True for codes that mean the file is not a usable database (damaged, cut short, not SQLite).
    public var isDamage: Bool {
        let primary = self.code & 0xFF
        return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB || primary == SQLITE_IOERR
            || primary == SQLITE_FORMAT || primary == SQLITE_RANGE
    }
}

/// `SQLITE_TRANSIENT`: "SQLite makes its own private copy of the data immediately" (sqlite.org
/// c3ref/c_static.html). The C macro is a cast Swift cannot import.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection, confined to the thread that uses it (the writer's drain thread, a
/// reader). Unsafe code: owns the `sqlite3 *` handle; closes it in `deinit` (and when opening
/// fails), finalizing its cached statements first.
public final class SQLiteConnection {
    let handle: OpaquePointer
    public let path: String
    private var cache: [String: SQLiteStatement] = [:]

    /// Opens `path`. `readOnly` opens with SQLITE_OPEN_READONLY (a reader never creates or
    /// changes a trace); otherwise the file is created if missing.
    public init(path: String, readOnly: Bool) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            // "Whether or not an error occurs when it is opened, resources associated with the
            // database connection handle should be released by passing it to sqlite3_close()."
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message)
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        // Traces are read by several processes at once (the endpoints of a split replay, the
        // `record` summaries of a client and a server) and may still be in WAL mode while their
        // writer closes them: a connection that finds the file locked retries for a while
        // (SQLITE_BUSY otherwise fails it at once: "database is locked"), and the writer's
        // closing checkpoint waits for readers to let go.
        sqlite3_busy_timeout(db, Self.busyTimeoutMs)
    }

    /// How long a statement retries a locked database before SQLITE_BUSY.
    public static let busyTimeoutMs: Int32 = 5000

    /// Runs `call` again while it answers SQLITE_BUSY_RECOVERY, up to ``busyTimeoutMs``: another
    /// process is rebuilding the WAL index of a trace left in WAL mode (the first to open it), and
    /// SQLite reports that without calling the busy handler. Nothing ran when it says so, so the
    /// call can be repeated whatever it is.
    @inline(__always)
    static func retryingRecovery(_ call: () -> Int32) -> Int32 {
        let rc = call()
        return rc == sqliteBusyRecovery ? self.retryRecovery(call) : rc
    }

    /// The waiting half of ``retryingRecovery(_:)``, out of line (steps run once per event when
    /// the event index is built).
    @inline(never)
    static func retryRecovery(_ call: () -> Int32) -> Int32 {
        var rc = sqliteBusyRecovery
        let deadline = monotonicNow() &+ UInt64(busyTimeoutMs) * 1_000_000
        var pause: UInt32 = 500
        while rc == sqliteBusyRecovery && monotonicNow() < deadline {
            usleep(pause)
            pause = min(pause * 2, 20_000)
            rc = call()
        }
        return rc
    }

    /// Leaves the handle open forever: for a forked child, which must not close (and so
    /// checkpoint or unlock) the parent's connection — "Do not open an SQLite database connection,
    /// then fork(), then try to use that database connection in the child process" (sqlite.org
    /// howtocorrupt.html §2.6).
    private var abandoned = false
    public func abandon() {
        self.abandoned = true
        self.cache.removeAll()
    }

    deinit {
        if self.abandoned {
            return
        }
        self.cache.removeAll()
        if sqlite3_close_v2(self.handle) != SQLITE_OK {
            var names: [String] = []
            var stmt = sqlite3_next_stmt(self.handle, nil)
            while let s = stmt {
                names.append(sqlite3_sql(s).map { String(cString: $0) } ?? "?")
                stmt = sqlite3_next_stmt(self.handle, s)
            }
            let message = "sanreplay: SQLite close of \(self.path) failed; unfinalized statements: \(names)\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
        }
    }

    func error(_ rc: Int32, _ sql: String? = nil) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(self.handle), message: String(cString: sqlite3_errmsg(self.handle)),
                    sql: sql)
    }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws(SQLiteError) {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = Self.retryingRecovery { sqlite3_exec(self.handle, sql, nil, nil, &errmsg) }
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(errmsg)
            throw SQLiteError(code: sqlite3_extended_errcode(self.handle), message: message, sql: sql)
        }
    }

    /// A prepared statement cached by its SQL text (prepared with SQLITE_PREPARE_PERSISTENT:
    /// "a hint to the query planner that the prepared statement will be retained for a long time
    /// and probably reused many times").
    public func cached(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let s = self.cache[sql] {
            s.reset()
            return s
        }
        let s = try SQLiteStatement(self, sql, persistent: true)
        self.cache[sql] = s
        return s
    }

    /// A fresh prepared statement.
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        try SQLiteStatement(self, sql, persistent: false)
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try self.execute("BEGIN IMMEDIATE")
        do {
            let v = try body()
            try self.execute("COMMIT")
            return v
        } catch {
            try? self.execute("ROLLBACK")
            throw error
        }
    }

    /// The rowid of the last insert.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(self.handle) }

    /// First column of the first row of `sql` as an integer, nil when there is no row.
    public func scalarInt(_ sql: String) throws(SQLiteError) -> Int64? {
        let s = try self.prepare(sql)
        return try s.step() ? s.int(0) : nil
    }

    /// True when a table or view of that name exists.
    public func hasTable(_ name: String) throws(SQLiteError) -> Bool {
        let s = try self.prepare("SELECT 1 FROM sqlite_master WHERE name = ?1 AND type IN ('table','view')")
        s.bind(1, name)
        return try s.step()
    }
}

/// A prepared statement. Unsafe code: owns the `sqlite3_stmt *`; finalized in `deinit`.
public final class SQLiteStatement {
    let handle: OpaquePointer
    unowned let db: SQLiteConnection
    let sql: String

    init(_ db: SQLiteConnection, _ sql: String, persistent: Bool) throws(SQLiteError) {
        var stmt: OpaquePointer?
        let rc = SQLiteConnection.retryingRecovery {
            sqlite3_prepare_v3(db.handle, sql, -1, persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0, &stmt, nil)
        }
        guard rc == SQLITE_OK, let stmt else { throw db.error(rc, sql) }
        self.handle = stmt
        self.db = db
        self.sql = sql
    }

    deinit { sqlite3_finalize(self.handle) }

    /// Ready for new bindings and a new run.
    public func reset() {
        sqlite3_reset(self.handle)
        sqlite3_clear_bindings(self.handle)
    }

    public func bind(_ i: Int32, _ v: Int64) { sqlite3_bind_int64(self.handle, i, v) }
    public func bind(_ i: Int32, _ v: Int) { sqlite3_bind_int64(self.handle, i, Int64(v)) }
    public func bind(_ i: Int32, _ v: UInt64) { sqlite3_bind_int64(self.handle, i, Int64(bitPattern: v)) }
    public func bind(_ i: Int32, _ v: Double) { sqlite3_bind_double(self.handle, i, v) }
    public func bind(_ i: Int32, _ v: String) { sqlite3_bind_text(self.handle, i, v, -1, sqliteTransient) }
    public func bindNull(_ i: Int32) { sqlite3_bind_null(self.handle, i) }
    public func bind(_ i: Int32, blob: UnsafeRawBufferPointer) {
        sqlite3_bind_blob64(self.handle, i, blob.baseAddress ?? UnsafeRawPointer(bitPattern: 1), UInt64(blob.count), sqliteTransient)
    }
    public func bind(_ i: Int32, blob: [UInt8]) { blob.withUnsafeBytes { self.bind(i, blob: $0) } }
    public func bind(_ i: Int32, _ v: Int64?) {
        if let v { self.bind(i, v) } else { self.bindNull(i) }
    }

    /// Advances: true with a row, false when done.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        // After SQLITE_BUSY_RECOVERY the statement is reset (bindings stay) and stepped again.
        let rc = SQLiteConnection.retryingRecovery {
            let rc = sqlite3_step(self.handle)
            if rc == sqliteBusyRecovery { sqlite3_reset(self.handle) }
            return rc
        }
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let e = self.db.error(rc, self.sql)
            sqlite3_reset(self.handle)
            throw e
        }
    }

    /// Runs a statement that returns no rows.
    public func run() throws(SQLiteError) {
        _ = try self.step()
        sqlite3_reset(self.handle)
    }

    public func int(_ col: Int32) -> Int64 { sqlite3_column_int64(self.handle, col) }
    public func double(_ col: Int32) -> Double { sqlite3_column_double(self.handle, col) }
    public func isNull(_ col: Int32) -> Bool { sqlite3_column_type(self.handle, col) == SQLITE_NULL }
    public func optionalInt(_ col: Int32) -> Int64? { self.isNull(col) ? nil : self.int(col) }
    public func text(_ col: Int32) -> String? {
        guard let p = sqlite3_column_text(self.handle, col) else { return nil }
        return String(cString: p)
    }
    /// A column's bytes, lent to `body` (valid only inside it).
    public func withBlob<T>(_ col: Int32, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let p = sqlite3_column_blob(self.handle, col)
        let n = Int(sqlite3_column_bytes(self.handle, col))
        return try body(UnsafeRawBufferPointer(start: p, count: p == nil ? 0 : n))
    }
    /// A column's bytes without copying: valid only until the statement is stepped, reset or
    /// finalized (sqlite.org c3ref/column_blob.html). Do not escape.
    public func unsafeBlob(_ col: Int32) -> UnsafeRawBufferPointer {
        let p = sqlite3_column_blob(self.handle, col)
        let n = Int(sqlite3_column_bytes(self.handle, col))
        return UnsafeRawBufferPointer(start: p, count: p == nil ? 0 : n)
    }
    public func blob(_ col: Int32) -> [UInt8] { self.withBlob(col) { Array($0) } }
    /// The column's declared SQLite type (`SQLITE_INTEGER`, …).
    public func columnType(_ col: Int32) -> Int32 { sqlite3_column_type(self.handle, col) }
}
