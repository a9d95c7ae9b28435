import SanTraceFormat
import SanTraceStore

/// Why a query was not run.
public enum QueryError: Error, CustomStringConvertible, Sendable {
    /// The statement would change the trace.
    case writeRefused(String)
    /// More than one statement.
    case multipleStatements
    /// SQLite rejected the statement (syntax, unknown column …).
    case invalid(String)
    /// The query needs `events` and the trace is too large to index on the fly.
    case needsEventIndex(path: String, events: UInt64)

    public var description: String {
        switch self {
        case .writeRefused(let sql):
            return "refusing to run a statement that writes (query is read-only): \(sql.prefix(80))"
        case .multipleStatements:
            return "one SQL statement at a time"
        case .invalid(let message):
            return "SQL error: \(message)"
        case .needsEventIndex(let path, let events):
            return "this query needs the event index (the events table), which \(path) does not have; "
                + "it holds \(formatCount(events)) events, more than are indexed on the fly. "
                + "Run `sanreplay index \(path)` once (it adds ~75 B per event to the file), or pass --index"
        }
    }
}

/// A value of a result row.
public enum QueryValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// Read-only SQL over a trace (`sanreplay query`): opens the file with SQLITE_OPEN_READONLY,
/// creates the documented views (``QueryViews``) in the TEMP schema, then sets
/// `PRAGMA query_only`, and refuses any statement `sqlite3_stmt_readonly` says would write.
///
/// A query that needs `events` on a trace without the event index gets a temporary one (built in
/// memory, not written) when the trace has at most ``onTheFlyLimit`` events; above, the error
/// says what to run.
public final class QueryEngine {
    public let path: String
    public let reader: TraceReader
    let db: SQLiteConnection
    /// True when `events` is queryable (persistent or temporary).
    public private(set) var hasEvents: Bool
    /// True when the events were indexed on the fly for this connection.
    public private(set) var temporaryIndex = false
    public static let onTheFlyLimit: UInt64 = 2_000_000
    /// The largest trace indexed on the fly by this engine (tests lower it).
    public var onTheFlyLimit = QueryEngine.onTheFlyLimit

    /// Opens `path` (checked like every reader: damaged or foreign files are refused).
    public init(path: String) throws {
        self.path = path
        self.reader = try TraceReader(path: path)
        self.db = try SQLiteConnection(path: path, readOnly: true)
        self.hasEvents = try self.db.hasTable("events")
        // First: "When the temp_store setting is changed, all existing temporary tables, indices,
        // triggers, and views are immediately deleted" (sqlite.org pragma.html#pragma_temp_store).
        try self.db.execute("PRAGMA temp_store = MEMORY")
        try self.db.execute("PRAGMA query_only = 1")
    }

    /// The views are created when a query first names one (a query on the trace's own tables
    /// does not pay for them: `query` is measured in milliseconds).
    private var viewsCreated = false

    func createViews() throws {
        guard !self.viewsCreated else { return }
        try self.db.execute("PRAGMA query_only = 0")
        defer { try? self.db.execute("PRAGMA query_only = 1") }
        try self.db.execute(QueryViews.base)
        if self.hasEvents { try self.db.execute(QueryViews.overEvents) }
        self.viewsCreated = true
    }

    /// Builds the temporary event index (allowed for any size: `--index` on a large trace writes
    /// the persistent one instead, see the CLI).
    public func buildTemporaryIndex(progress: ((UInt64) -> Void)? = nil) throws {
        guard !self.hasEvents else { return }
        try self.createViews()
        try self.db.execute("PRAGMA query_only = 0")
        defer { try? self.db.execute("PRAGMA query_only = 1") }
        _ = try TemporaryEventIndex.build(self.reader, into: self.db, progress: progress)
        try self.db.execute(QueryViews.eventsNamed)
        try self.db.execute(QueryViews.overEvents)
        self.hasEvents = true
        self.temporaryIndex = true
    }

    /// Prepares one read-only statement. When it names the event index and the trace has none, a
    /// temporary index is built if the trace is small enough (`autoIndex`), else
    /// ``QueryError/needsEventIndex(path:events:)``.
    public func prepare(_ sql: String, autoIndex: Bool = true, progress: ((UInt64) -> Void)? = nil) throws -> SQLiteStatement {
        let first = try self.firstStatement(sql)
        do {
            let s = try self.db.prepare(first)
            guard s.isReadOnly else { throw QueryError.writeRefused(first) }
            return s
        } catch let e as SQLiteError {
            if !self.viewsCreated, Self.namesView(e.message) {
                try self.createViews()
                return try self.prepare(sql, autoIndex: autoIndex, progress: progress)
            }
            if !self.hasEvents, Self.namesEventIndex(e.message) {
                guard autoIndex, self.reader.eventCount <= self.onTheFlyLimit else {
                    throw QueryError.needsEventIndex(path: self.path, events: self.reader.eventCount)
                }
                try self.buildTemporaryIndex(progress: progress)
                return try self.prepare(sql, autoIndex: false)
            }
            if e.message.contains("readonly") || e.message.contains("query_only") { throw QueryError.writeRefused(first) }
            throw QueryError.invalid(e.message)
        }
    }

    /// Runs `sql`, handing each row to `row` (values valid only during the call).
    public func run(_ sql: String, progress: ((UInt64) -> Void)? = nil, columns: ([String]) throws -> Void,
                    row: ([QueryValue]) throws -> Void) throws {
        let s = try self.prepare(sql, progress: progress)
        let n = s.columnCount
        try columns((0..<n).map { s.columnName($0) })
        var values = [QueryValue](repeating: .null, count: Int(n))
        do {
            while try s.step() {
                for c in 0..<n {
                    switch s.storageClass(c) {
                    case .integer: values[Int(c)] = .integer(s.int(c))
                    case .float: values[Int(c)] = .real(s.double(c))
                    case .text: values[Int(c)] = .text(s.text(c) ?? "")
                    case .blob: values[Int(c)] = .blob(s.blob(c))
                    case .null: values[Int(c)] = .null
                    }
                }
                try row(values)
            }
        } catch let e as SQLiteError {
            throw QueryError.invalid(e.message)
        }
    }

    /// The first statement of `sql`; an error when anything but whitespace, comments and
    /// semicolons follows it.
    func firstStatement(_ sql: String) throws -> String {
        let length: Int
        do {
            length = try self.db.firstStatementLength(sql)
        } catch {
            if !self.viewsCreated, Self.namesView(error.message) { return sql }  // prepare() creates them
            if !self.hasEvents, Self.namesEventIndex(error.message) { return sql }  // prepare() handles it
            throw QueryError.invalid(error.message)
        }
        let bytes = Array(sql.utf8)
        let cut = min(length, bytes.count)
        guard Self.isBlank(String(decoding: bytes[cut...], as: UTF8.self)) else { throw QueryError.multipleStatements }
        return String(decoding: bytes[..<cut], as: UTF8.self)
    }

    /// True when `rest` holds only whitespace, semicolons and comments.
    static func isBlank(_ rest: String) -> Bool {
        var s = Substring(rest)
        while let c = s.first {
            if c.isWhitespace || c == ";" {
                s = s.dropFirst()
            } else if s.hasPrefix("--") {
                s = s.drop { $0 != "\n" }
            } else if s.hasPrefix("/*") {
                guard let end = s.firstRange(of: "*/") else { return true }
                s = s[end.upperBound...]
            } else {
                return false
            }
        }
        return true
    }

    /// True for SQLite's "no such table: X" when X is one of the views.
    static func namesView(_ message: String) -> Bool {
        guard let r = message.firstRange(of: "no such table: ") else { return false }
        let name = message[r.upperBound...].split(separator: ".").last.map(String.init) ?? ""
        return QueryViews.names.contains(name.lowercased())
    }

    /// True for SQLite's "no such table: X" when X needs the event index.
    static func namesEventIndex(_ message: String) -> Bool {
        guard let r = message.firstRange(of: "no such table: ") else { return false }
        let name = message[r.upperBound...].split(separator: ".").last.map(String.init) ?? ""
        return QueryViews.needingEvents.contains(name.lowercased())
    }
}
