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
            let ins = try db.prepare("""
                INSERT INTO events (seq, segment, kind, function, thread, thread_seq, tsc, t_ns, socket, ov, ret, status,
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
            }
            try db.execute(TraceDDL.eventsIndexes)
            try TraceWriter.setMeta("events_indexed", .int(Int64(rows)), db)
        }
        return rows
    }
}
