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
            let ins = try db.prepare("""
                INSERT INTO temp.events (seq, segment, kind, function, thread, thread_seq, tsc, t_ns, socket, ov, ret, status,
                bytes, start_seq, latency_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                """)
            let roles = ShapeRoles.shared
            var pairing = CallPairing()
            let first = reader.firstTSC
            let cursor = try reader.cursor()
            var r = EventRecord()
            while try cursor.next(into: &r) {
                let ro = roles.roles(r)
                ins.reset()
                ins.bind(1, r.sequence)
                ins.bind(2, cursor.currentSegment?.id ?? 0)
                ins.bind(3, Int64(r.kind.rawValue))
                let subject = r.subjectFunction(ro)
                if subject != .none { ins.bind(4, Int64(subject.rawValue)) }
                ins.bind(5, Int64(r.thread))
                ins.bind(6, r.threadSeq)
                ins.bind(7, r.tsc)
                ins.bind(8, reader.clock.nanoseconds(from: first, to: r.tsc))
                if ro.socket >= 0 { ins.bind(9, r.value(Int(ro.socket))) }
                if ro.overlapped >= 0 { ins.bind(10, r.value(Int(ro.overlapped))) }
                if ro.ret >= 0, let t = r.type(Int(ro.ret)) {
                    ins.bind(11, t == .i32 || t == .wsaError ? r.signed(Int(ro.ret)) : Int64(bitPattern: r.value(Int(ro.ret))))
                }
                if ro.error >= 0 { ins.bind(12, r.signed(Int(ro.error))) }
                if ro.bytes >= 0 {
                    ins.bind(13, r.value(Int(ro.bytes)))
                } else if ro.buffers >= 0, let t = r.bufferTotals(Int(ro.buffers)) {
                    ins.bind(13, t.bytes)
                }
                if let start = pairing.observe(r) {
                    ins.bind(14, start.sequence)
                    ins.bind(15, reader.clock.nanoseconds(from: start.tsc, to: r.tsc))
                }
                try ins.run()
                rows += 1
                if rows & 0xFFFF == 0 { progress?(0x10000) }
            }
            progress?(rows & 0xFFFF)
            try db.execute(self.indexes)
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        return rows
    }
}
