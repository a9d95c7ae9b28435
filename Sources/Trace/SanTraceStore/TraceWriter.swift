import SanTraceFormat

#if canImport(Glibc)
import Glibc
#endif

/// How a ``TraceWriter`` cuts, compresses and commits segments.
public struct TraceWriterOptions: Sendable {
    /// Cut a segment when its raw (uncompressed) bytes reach this…
    public var segmentRawBytes = TraceFormat.defaultSegmentRawBytes
    /// …or when its first event is this old (checked on append and by ``TraceWriter/flushIfDue()``).
    public var segmentInterval = TraceFormat.defaultSegmentInterval
    /// LZ4F compression level (0 fast; 3–12 LZ4 HC).
    public var compressionLevel: Int32 = 0
    /// SQLite journal while recording. `.wal` (default): a commit appends to the WAL without
    /// blocking readers; see Docs/TraceFormat.md §Durability for the measurements.
    public var journal: Journal = .wal
    /// `PRAGMA synchronous` while recording.
    public var synchronous: Synchronous = .normal
    /// Build the `events` table at close when the trace has at most this many events (0 = never;
    /// `sanreplay index` builds it on demand).
    public var indexEventsAtClose = 0
    /// Replace an existing file at the path instead of refusing.
    public var overwrite = false

    public enum Journal: String, Sendable { case wal, delete }
    public enum Synchronous: String, Sendable { case off, normal, full }

    public init() {}
}

/// Writes one `.santrace`: appends events, cuts them into segments (by size and age), compresses
/// each into an LZ4 frame and commits it with its index rows in one SQLite transaction, so a crash
/// loses at most the events not yet committed.
///
/// This is the segment writer the interposer's drain thread drives: per-thread buffers and the
/// drain thread belong to the interposer; it calls ``append(_:_:thread:threadSeq:tsc:fields:)``
/// for each event (object fields already holding capture ids), ``flushIfDue()`` when idle, and
/// ``close()`` at exit. ``TraceRecorder`` is a ready multi-producer front end for tools and tests.
///
/// Thread confinement: one thread uses a writer at a time (its SQLite connection is opened without
/// a mutex). Never touches the network: it writes one local file (plus SQLite's `-wal`/`-shm`
/// while open).
public final class TraceWriter {
    public private(set) var path: String
    public let options: TraceWriterOptions
    public private(set) var metadata: TraceMetadata

    private var db: SQLiteConnection?
    private let builder: SegmentBuilder
    private let lz4: LZ4Frame
    private let body = ByteBuffer(capacity: 1 << 20)
    private let blob = ByteBuffer(capacity: 1 << 19)
    private let index = IndexBuilder()
    private var scratch = EventRecord()

    /// Segments committed so far.
    public private(set) var segmentsCommitted: Int64 = 0
    /// Events appended so far (committed or not); the next event's sequence number.
    public private(set) var eventsAppended: UInt64 = 0
    /// Events committed in segments.
    public private(set) var eventsCommitted: UInt64 = 0
    /// Wall-clock time spent in segment transactions (SQLite insert and commit, fsyncs included).
    public private(set) var commitNanoseconds: UInt64 = 0
    private var firstTSC: UInt64?
    private var lastTSC: UInt64 = 0
    private var segmentStartedNs: UInt64 = 0
    private var appendsSinceClockCheck = 0
    private let intervalNs: UInt64
    /// Producer stalls and drops reported by the front end (meta `stalls`, `drops`).
    private var stalls: UInt64 = 0
    private var drops: UInt64 = 0

    /// Creates a trace at `path` and writes its metadata.
    public init(path: String, metadata: TraceMetadata, options: TraceWriterOptions = TraceWriterOptions()) throws {
        self.path = path
        self.options = options
        self.metadata = metadata
        self.builder = SegmentBuilder()
        self.lz4 = LZ4Frame(level: options.compressionLevel)
        let (s, a) = options.segmentInterval.components
        self.intervalNs = UInt64(s) * 1_000_000_000 + UInt64(a / 1_000_000_000)
        self.db = try Self.create(path: path, metadata: metadata, options: options)
    }

    private static func create(path: String, metadata: TraceMetadata, options: TraceWriterOptions) throws -> SQLiteConnection {
        var st = stat()
        if stat(path, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { throw TraceStoreError.badPath("\(path) is a directory") }
            guard options.overwrite else { throw TraceStoreError.badPath("\(path) exists (refusing to overwrite)") }
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
        }
        do {
            let db = try SQLiteConnection(path: path, readOnly: false)
            try db.execute("PRAGMA journal_mode = \(options.journal == .wal ? "WAL" : "DELETE")")
            try db.execute("PRAGMA synchronous = \(options.synchronous.rawValue.uppercased())")
            try db.execute("PRAGMA application_id = \(TraceFormat.applicationID)")
            try db.execute("PRAGMA user_version = \(TraceDDL.userVersion)")
            try db.transaction {
                try db.execute(TraceDDL.create)
                try Self.writeSchema(db)
                try Self.writeMetadata(metadata, options: options, db)
            }
            return db
        } catch let e as SQLiteError {
            throw TraceStoreError.sqlite(e)
        }
    }

    static func writeSchema(_ db: SQLiteConnection) throws {
        let fn = try db.prepare("INSERT INTO functions (id, name, grp, starts_op) VALUES (?1, ?2, ?3, ?4)")
        let fd = try db.prepare("""
            INSERT INTO fields (function, kind, position, name, type, flag_table) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            """)
        func fields(_ function: Int64, _ kind: EventKind, _ list: [FieldDefinition]) throws {
            for (i, f) in list.enumerated() {
                fd.reset()
                fd.bind(1, function); fd.bind(2, Int64(kind.rawValue)); fd.bind(3, i); fd.bind(4, f.name)
                fd.bind(5, f.type.description)
                if let t = f.flagTable { fd.bind(6, t.rawValue) }
                try fd.run()
            }
        }
        for f in Schema.functions {
            fn.reset()
            fn.bind(1, Int64(f.id)); fn.bind(2, f.name); fn.bind(3, f.group.rawValue); fn.bind(4, f.startsOperation ? 1 : 0)
            try fn.run()
            if f.group == .upcall {
                try fields(Int64(f.id), .upcall, f.upcall)
            } else {
                try fields(Int64(f.id), .enter, f.enter)
                try fields(Int64(f.id), .leave, f.leave)
            }
        }
        try fields(-1, .completion, Schema.completionFields)
        try fields(-1, .lookup, Schema.lookupFields)
    }

    static func writeMetadata(_ m: TraceMetadata, options: TraceWriterOptions, _ db: SQLiteConnection) throws {
        var rows: [(String, MetaValue)] = [
            ("magic", .text(TraceFormat.metaMagic)),
            ("format_version", .text(TraceFormat.version.description)),
            ("writer", .text("sanreplay SanTraceStore")),
            ("host", .text(m.host)),
            ("pid", .int(Int64(m.pid))),
            ("provider_path", .text(m.providerPath)),
            ("provider_version", .text(m.providerVersion)),
            ("payload_policy", .text(m.payloadPolicy.rawValue)),
            ("tsc_hz", .real(m.clock.tscHz)),
            ("anchor_tsc", .int(Int64(bitPattern: m.clock.anchorTSC))),
            ("anchor_realtime_ns", .int(m.clock.anchorRealtimeNs)),
            ("anchor_monotonic_ns", .int(m.clock.anchorMonotonicNs)),
            ("started_realtime_ns", .int(realtimeNow())),
            ("segment_raw_bytes", .int(Int64(options.segmentRawBytes))),
            ("segment_interval_ms", .int(Int64(options.segmentInterval.components.seconds * 1000
                + options.segmentInterval.components.attoseconds / 1_000_000_000_000_000))),
            ("compression", .text("lz4f level \(options.compressionLevel)")),
            ("events", .int(0)), ("segments", .int(0)), ("stalls", .int(0)), ("drops", .int(0)),
        ]
        if let pp = m.parentPid { rows.append(("parent_pid", .int(Int64(pp)))) }
        for (k, v) in m.captureOptions { rows.append(("option.\(k)", .text(v))) }
        for (k, v) in rows { try setMeta(k, v, db) }
        let a = try db.prepare("INSERT INTO argv (position, arg) VALUES (?1, ?2)")
        for (i, arg) in m.argv.enumerated() {
            a.reset()
            a.bind(1, i); a.bind(2, arg)
            try a.run()
        }
    }

    enum MetaValue {
        case text(String), int(Int64), real(Double)
    }

    static func setMeta(_ key: String, _ value: MetaValue, _ db: SQLiteConnection) throws {
        let s = try db.cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
        s.bind(1, key)
        switch value {
        case .text(let t): s.bind(2, t)
        case .int(let i): s.bind(2, i)
        case .real(let d): s.bind(2, d)
        }
        try s.run()
    }

    // MARK: Appending

    /// Appends one event. `fields` writes the record's fields in schema order through the
    /// ``EventFieldWriter`` (see Docs/TraceFormat.md's function table); object fields take capture
    /// ids. `thread` is the thread's capture id (1, 2 … — register its OS tid and name with
    /// ``registerThread(_:osTid:name:)``), `threadSeq` the thread's own event counter (a gap
    /// means events were dropped), `tsc` the raw TSC read when the event happened.
    ///
    /// No allocation per event on the data path (the calls that create or end sockets and
    /// registrations allocate a little for their index rows). Cuts and commits a segment when it
    /// is full or old; throws
    /// ``RecordEncodingError`` for an event that does not fit the schema (nothing is written) and
    /// ``TraceStoreError`` when a commit fails.
    @inlinable
    public func append(_ kind: EventKind, _ function: FunctionID, thread: UInt32, threadSeq: UInt64, tsc: UInt64,
                       fields: (inout EventFieldWriter) throws -> Void) throws {
        try self.appendRecord(kind, function, thread: thread, threadSeq: threadSeq, tsc: tsc, fields: fields)
    }

    @usableFromInline
    func appendRecord(_ kind: EventKind, _ function: FunctionID, thread: UInt32, threadSeq: UInt64, tsc: UInt64,
                      fields: (inout EventFieldWriter) throws -> Void) throws {
        guard self.db != nil else { throw TraceStoreError.closed }
        if self.builder.eventCount == 0 { self.segmentStartedNs = monotonicNow() }
        try self.builder.append(kind, function, thread: thread, threadSeq: threadSeq, tsc: tsc, fields: fields)
        self.builder.captureLast(into: &self.scratch, kind, function, thread: thread, threadSeq: threadSeq, tsc: tsc,
                                 sequence: self.eventsAppended)
        self.index.observe(&self.scratch)
        self.eventsAppended &+= 1
        if self.firstTSC == nil || tsc < self.firstTSC! { self.firstTSC = tsc }  // time zero = earliest event
        self.lastTSC = tsc
        if self.builder.rawBytes >= self.options.segmentRawBytes {
            try self.commitSegment()
        } else {
            self.appendsSinceClockCheck &+= 1
            if self.appendsSinceClockCheck >= 256 {
                self.appendsSinceClockCheck = 0
                try self.flushIfDue()
            }
        }
    }

    /// Appends a ``TraceEvent`` (its `sequence` is ignored).
    public func append(_ e: TraceEvent) throws {
        try self.append(e.kind, e.function, thread: e.thread, threadSeq: e.threadSeq, tsc: e.tsc) { w in e.write(to: &w) }
    }

    /// Names a thread capture id (`threads` table). Written with the next commit's transaction.
    public func registerThread(_ thread: UInt32, osTid: Int64, name: String?) throws {
        guard let db = self.db else { throw TraceStoreError.closed }
        do {
            let s = try db.cached("""
                INSERT INTO threads (id, os_tid, name) VALUES (?1, ?2, ?3)
                ON CONFLICT (id) DO UPDATE SET os_tid = excluded.os_tid, name = excluded.name
                """)
            s.bind(1, Int64(thread)); s.bind(2, osTid)
            if let name { s.bind(3, name) }
            try s.run()
        } catch {
            throw TraceStoreError.sqlite(error)
        }
    }

    /// Stores the bytes of an RDMA descriptor this process did not register itself (one it received
    /// from its peer and names in WSPRdmaWrite / WSPRdmaRead): a `descriptors` row with
    /// `registered_seq` NULL, written with the next commit. Descriptors this process registers get
    /// their row from the WSPRegisterRdmaMemory LEAVE; do not define those here.
    public func defineRemoteDescriptor(id: UInt64, socket: UInt64, bytes: UnsafeRawBufferPointer) {
        self.index.note(.descriptor(id: id, socket: socket, seq: nil,
                                    bytes: Array(bytes.prefix(TraceFormat.maxBytesField))))
    }

    /// Sets a `meta` key now, outside any segment transaction (for facts learnt while recording:
    /// the provider's version, a refined clock rate, the recorder's counters at close).
    public func setMetadata(_ key: String, _ value: String) throws { try self.setMetadata(key, MetaValue.text(value)) }
    public func setMetadata(_ key: String, _ value: Int64) throws { try self.setMetadata(key, MetaValue.int(value)) }
    public func setMetadata(_ key: String, _ value: Double) throws { try self.setMetadata(key, MetaValue.real(value)) }

    private func setMetadata(_ key: String, _ value: MetaValue) throws {
        guard let db = self.db else { throw TraceStoreError.closed }
        do { try Self.setMeta(key, value, db) } catch let e as SQLiteError { throw TraceStoreError.sqlite(e) }
    }

    /// Counts producer stalls (a full buffer made a producer wait) and drops (lossy mode), stored
    /// in `meta` with the next commit.
    public func noteBackpressure(stalls: UInt64, drops: UInt64) {
        self.stalls &+= stalls
        self.drops &+= drops
    }

    /// Commits the open segment if it is older than the interval. Call it from the drain loop
    /// when there is nothing to append.
    public func flushIfDue() throws {
        guard self.builder.eventCount > 0 else { return }
        if monotonicNow() &- self.segmentStartedNs >= self.intervalNs { try self.commitSegment() }
    }

    /// Commits the open segment now (at exit, on a signal, before a fork).
    public func flush() throws {
        guard self.db != nil else { throw TraceStoreError.closed }
        if self.builder.eventCount > 0 { try self.commitSegment() }
    }

    private func commitSegment() throws {
        guard let db = self.db else { throw TraceStoreError.closed }
        let segment = self.segmentsCommitted
        let count = UInt64(self.builder.eventCount)
        self.builder.finish(segment: UInt64(segment), into: self.body)
        try self.lz4.compress(self.body.bytes, into: self.blob)
        let crc = CRC32C.checksum(self.blob.bytes)
        let first = self.builder.firstSequence
        let started = monotonicNow()
        defer { self.commitNanoseconds &+= monotonicNow() &- started }
        do {
            try db.transaction {
                let s = try db.cached("""
                    INSERT INTO segments (id, first_seq, last_seq, events, first_tsc, last_tsc, raw_bytes, blob_bytes,
                    errors, bytes, crc32c, blob) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                    """)
                s.bind(1, segment); s.bind(2, first); s.bind(3, first + count - 1); s.bind(4, count)
                s.bind(5, self.index.minTSC); s.bind(6, self.index.maxTSC); s.bind(7, self.body.count)
                s.bind(8, self.blob.count); s.bind(9, self.index.errors); s.bind(10, self.index.bytes)
                s.bind(11, Int64(crc)); s.bind(12, blob: self.blob.bytes)
                try s.run()
                try self.index.writeRows(segment: segment, to: db)
                try Self.setMeta("events", .int(Int64(first + count)), db)
                try Self.setMeta("segments", .int(segment + 1), db)
                try Self.setMeta("stalls", .int(Int64(self.stalls)), db)
                try Self.setMeta("drops", .int(Int64(self.drops)), db)
                if let f = self.firstTSC { try Self.setMeta("first_tsc", .int(Int64(bitPattern: f)), db) }
                try Self.setMeta("last_tsc", .int(Int64(bitPattern: self.lastTSC)), db)
            }
        } catch let e as SQLiteError {
            throw TraceStoreError.sqlite(e)
        }
        self.segmentsCommitted += 1
        self.eventsCommitted = first + count
        self.index.resetSegment()
        self.builder.reset(firstSequence: first + count)
    }

    // MARK: Closing, forking

    /// Commits what is left, marks the trace closed, optionally builds the event index, and turns
    /// the file into a single self-contained rollback-journal database (no `-wal`).
    public func close() throws {
        guard let db = self.db else { return }
        try self.flush()
        do {
            try Self.setMeta("closed_realtime_ns", .int(realtimeNow()), db)
            self.db = nil
            if self.options.indexEventsAtClose > 0, self.eventsCommitted <= UInt64(self.options.indexEventsAtClose) {
                try EventIndexer.build(db: db)
            }
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            try Self.leaveWAL(db)
        } catch let e as SQLiteError {
            throw TraceStoreError.sqlite(e)
        }
    }

    /// Switches a closing trace from WAL to a rollback journal. That needs every other connection
    /// to the file closed (in WAL mode each open connection holds a shared lock), and SQLite
    /// answers SQLITE_BUSY at once instead of calling the busy handler: another process reading
    /// the trace just then (a `record` summary of the other end, a replay) is waited for here,
    /// up to ``SQLiteConnection/busyTimeoutMs``.
    static func leaveWAL(_ db: SQLiteConnection) throws(SQLiteError) {
        let deadline = monotonicNow() &+ UInt64(SQLiteConnection.busyTimeoutMs) * 1_000_000
        while true {
            do {
                try db.execute("PRAGMA journal_mode = DELETE")
                return
            } catch where error.isBusy && monotonicNow() < deadline {
                usleep(5_000)
            }
        }
    }

    /// In a forked child: abandons the parent's connection (never closing it: that would touch the
    /// parent's WAL and locks), discards the events the parent will commit itself, and starts a
    /// new trace at `path` with `metadata` (set its `pid` and `parentPid`). Call it first thing in
    /// the child, before any other use of the writer.
    public func reopenAfterFork(path: String, metadata: TraceMetadata) throws {
        self.db?.abandon()
        self.db = nil
        self.path = path
        self.metadata = metadata
        self.builder.reset(firstSequence: 0)
        self.index.resetSegment()
        self.segmentsCommitted = 0
        self.eventsAppended = 0
        self.eventsCommitted = 0
        self.firstTSC = nil
        self.stalls = 0
        self.drops = 0
        self.db = try Self.create(path: path, metadata: metadata, options: self.options)
    }

    deinit {
        try? self.close()
    }
}
