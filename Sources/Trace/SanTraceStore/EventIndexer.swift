import SanTraceFormat

/// Builds the `events` table (one row per event, Docs/TraceFormat.md §Event index) from a trace's
/// segments, so plain `sqlite3` can query events. Run by `sanreplay index` or at close for small
/// traces; the measurements behind "on demand" are in Docs/TraceFormat.md §Event index.
public enum EventIndexer {
    /// Builds (or rebuilds) the event index of the trace at `path`. Returns the rows written.
    @discardableResult
    public static func build(path: String) throws -> UInt64 {
        let db = try SQLiteConnection(path: path, readOnly: false)
        return try self.build(db: db)
    }

    /// Builds the index through an open read-write connection `db` to the trace.
    @discardableResult
    static func build(db: SQLiteConnection) throws -> UInt64 {
        let reader = try TraceReader(connection: db)
        var rows: UInt64 = 0
        try db.execute("PRAGMA cache_size = -65536")  // 64 MiB: the bulk insert stays in memory
        try db.transaction {
            try db.execute(TraceDDL.dropEvents)
            // Create the table first and its indexes after the rows: bulk-loading then indexing is
            // faster than maintaining the indexes row by row.
            try db.execute(TraceDDL.eventsTable)
            rows = try self.insertRows(of: reader, into: "events", db: db)
            try db.execute(TraceDDL.eventsIndexes)
            try TraceWriter.setMeta("events_indexed", .int(Int64(rows)), db)
        }
        return rows
    }

    /// Inserts one row per event of `reader`'s trace into `table` (`events`, or `temp.events` for
    /// an index built on the fly), which the caller created, through `db` inside the caller's
    /// transaction. `progress` hears of every 65,536 rows. Returns the rows written.
    public static func insertRows(of reader: TraceReader, into table: String, db: SQLiteConnection,
                                  progress: ((UInt64) -> Void)? = nil) throws -> UInt64 {
        let ins = try db.prepare("""
            INSERT INTO \(table) (seq, segment, kind, function, thread, thread_seq, tsc, t_ns, socket, ov, ret, status,
            bytes, start_seq, latency_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
            """)
        var pairing = CallPairing()
        let cursor = try reader.cursor()
        var r = EventRecord()
        var rows: UInt64 = 0
        while try cursor.next(into: &r) {
            ins.reset()
            self.bindRow(r, segment: cursor.currentSegment?.id ?? 0, reader: reader, pairing: &pairing, ins)
            try ins.run()
            rows += 1
            if rows & 0xFFFF == 0 { progress?(0x10000) }
        }
        progress?(rows & 0xFFFF)
        return rows
    }

    /// Binds the columns of event `r`'s row (absent roles stay NULL).
    private static func bindRow(_ r: EventRecord, segment: Int64, reader: TraceReader, pairing: inout CallPairing,
                                _ ins: SQLiteStatement) {
        let ro = ShapeRoles.shared.roles(r)
        ins.bind(1, r.sequence)
        ins.bind(2, segment)
        ins.bind(3, Int64(r.kind.rawValue))
        let subject = r.subjectFunction(ro)
        if subject != .none { ins.bind(4, Int64(subject.rawValue)) }
        ins.bind(5, Int64(r.thread))
        ins.bind(6, r.threadSeq)
        ins.bind(7, r.tsc)
        ins.bind(8, reader.clock.nanoseconds(from: reader.firstTSC, to: r.tsc))
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
    }
}
