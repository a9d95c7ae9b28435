import SanTraceFormat
import SanTraceStore

/// Builds the `events` table in a connection's TEMP schema (in memory, never in the trace): the
/// same rows `sanreplay index` writes (Docs/TraceFormat.md §8; a test compares the two), for
/// queries on a trace that has no event index and is small enough to index on the fly.
enum TemporaryEventIndex {
    /// The TEMP table and its indexes (the persistent DDL with `TEMP`).
    static let table = """
        CREATE TEMP TABLE events (seq INTEGER PRIMARY KEY, segment INTEGER NOT NULL, kind INTEGER NOT NULL,
            function INTEGER, thread INTEGER NOT NULL, thread_seq INTEGER NOT NULL, tsc INTEGER NOT NULL,
            t_ns INTEGER NOT NULL, socket INTEGER, ov INTEGER, ret INTEGER, status INTEGER, bytes INTEGER,
            start_seq INTEGER, latency_ns INTEGER);
        """
    static let indexes = """
        CREATE INDEX temp.events_by_socket ON events (socket, function, t_ns);
        CREATE INDEX temp.events_by_function ON events (function, t_ns);
        """

    /// Fills `temp.events` from the trace read by `reader`, through `db` (a connection to the same
    /// file, with `temp_store = MEMORY` set before any TEMP object: changing it later drops them).
    /// Returns the rows written.
    static func build(_ reader: TraceReader, into db: SQLiteConnection, progress: ((UInt64) -> Void)?) throws -> UInt64 {
        try db.execute(self.table)
        var rows: UInt64 = 0
        try db.execute("BEGIN")
        do {
            rows = try EventIndexer.insertRows(of: reader, into: "temp.events", db: db, progress: progress)
            try db.execute(self.indexes)
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        return rows
    }
}
