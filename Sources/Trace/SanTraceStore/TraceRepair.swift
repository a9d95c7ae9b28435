import SanTraceFormat

#if canImport(Glibc)
import Glibc
#endif

/// What `verify --repair` did.
public struct RepairResult: Sendable {
    /// The repaired trace (same path as the damaged one).
    public var path: String
    /// Where the damaged original was kept.
    public var damagedCopy: String
    public var segmentsKept: Int
    public var eventsKept: UInt64
    /// Event ranges that could not be recovered.
    public var lost: [ClosedRange<UInt64>]
}

/// Rebuilds a trace from its intact segments: copies them verbatim into a fresh file, rebuilds
/// every index table from their events, records the lost event ranges in meta `lost_sequences`,
/// and swaps the files (the original is kept as `TRACE.damaged`). Works even when the SQLite file
/// itself is damaged, since nothing is rewritten in place.
public enum TraceRepair {
    public static func repair(path: String, report: VerifyReport) throws -> RepairResult {
        let old = try SQLiteConnection(path: path, readOnly: true)
        try? old.execute("PRAGMA writable_schema = ON")  // read a file cut short (see TraceVerifier)
        let tmp = path + ".repair"
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(tmp + suffix) }
        let db = try SQLiteConnection(path: tmp, readOnly: false)
        try db.execute("PRAGMA journal_mode = DELETE")
        try db.execute("PRAGMA application_id = \(TraceFormat.applicationID)")
        try db.execute("PRAGMA user_version = \(TraceDDL.userVersion)")
        let segments = report.intactSegments
        var lost: [ClosedRange<UInt64>] = report.knownLost
        var expected: UInt64 = 0
        for s in segments {
            if s.firstSeq > expected && !lost.contains(where: { $0.lowerBound == expected }) {
                lost.append(expected...(s.firstSeq - 1))
            }
            expected = s.lastSeq + 1
        }
        let announced = (try? old.scalarInt("SELECT value FROM meta WHERE key = 'events'")).flatMap { $0 }.map { UInt64($0) } ?? 0
        if announced > expected { lost.append(expected...(announced - 1)) }
        try db.transaction {
            try db.execute(TraceDDL.create)
            try TraceWriter.writeSchema(db)
            // Metadata and argv as far as they are readable.
            if let m = try? old.prepare("SELECT key, value FROM meta") {
                let ins = try db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                while (try? m.step()) == true {
                    ins.reset()
                    ins.bind(1, m.text(0) ?? "")
                    switch m.columnType(1) {
                    case 1: ins.bind(2, m.int(1))
                    case 2: ins.bind(2, m.double(1))
                    default: ins.bind(2, m.text(1) ?? "")
                    }
                    try ins.run()
                }
            }
            if let a = try? old.prepare("SELECT position, arg FROM argv") {
                let ins = try db.prepare("INSERT OR REPLACE INTO argv (position, arg) VALUES (?1, ?2)")
                while (try? a.step()) == true {
                    ins.reset()
                    ins.bind(1, a.int(0))
                    ins.bind(2, a.text(1) ?? "")
                    try ins.run()
                }
            }
            if let t = try? old.prepare("SELECT id, os_tid, name FROM threads WHERE os_tid IS NOT NULL OR name IS NOT NULL") {
                let ins = try db.prepare("INSERT OR REPLACE INTO threads (id, os_tid, name) VALUES (?1, ?2, ?3)")
                while (try? t.step()) == true {
                    ins.reset()
                    ins.bind(1, t.int(0))
                    ins.bind(2, t.optionalInt(1))
                    if let n = t.text(2) { ins.bind(3, n) }
                    try ins.run()
                }
            }
            let index = IndexBuilder()
            let lz4 = LZ4Frame()
            let body = ByteBuffer(capacity: 1 << 20)
            let threads = ThreadSequences()
            var record = EventRecord()
            let read = try old.prepare("SELECT blob FROM segments WHERE id = ?1")
            let ins = try db.prepare("""
                INSERT INTO segments (id, first_seq, last_seq, events, first_tsc, last_tsc, raw_bytes, blob_bytes,
                errors, bytes, crc32c, blob) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                """)
            for s in segments {
                read.reset()
                read.bind(1, s.id)
                guard try read.step() else { continue }
                let blob = read.unsafeBlob(0)
                try lz4.decompress(blob, into: body, limit: TraceFormat.maxSegmentBodyBytes)
                index.resetSegment()
                var d = try SegmentDecoder(body: body.bytes, threads: threads)
                while try d.next(into: &record) { index.observe(&record) }
                index.settle()
                ins.reset()
                ins.bind(1, s.id); ins.bind(2, s.firstSeq); ins.bind(3, s.lastSeq); ins.bind(4, UInt64(index.events))
                ins.bind(5, index.minTSC); ins.bind(6, index.maxTSC); ins.bind(7, body.count); ins.bind(8, blob.count)
                ins.bind(9, index.errors); ins.bind(10, index.bytes); ins.bind(11, Int64(CRC32C.checksum(blob)))
                ins.bind(12, blob: blob)
                try ins.run()
                try index.writeRows(segment: s.id, to: db)
            }
            // Descriptors received from the peer are not derived from events: copy them.
            if let d = try? old.prepare("SELECT id, socket, bytes FROM descriptors WHERE registered_seq IS NULL") {
                let ins = try db.prepare("INSERT OR IGNORE INTO descriptors (id, socket, registered_seq, bytes) VALUES (?1, ?2, NULL, ?3)")
                while (try? d.step()) == true {
                    ins.reset()
                    ins.bind(1, d.int(0))
                    ins.bind(2, d.optionalInt(1))
                    ins.bind(3, blob: d.unsafeBlob(2))
                    try ins.run()
                }
            }
            try TraceWriter.setMeta("events", .int(Int64(expected)), db)
            try TraceWriter.setMeta("segments", .int(Int64(segments.count)), db)
            try TraceWriter.setMeta("lost_sequences", .text(lost.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")), db)
            try TraceWriter.setMeta("repaired_realtime_ns", .int(realtimeNow()), db)
            if let f = segments.map(\.firstTSC).min() {
                try TraceWriter.setMeta("first_tsc", .int(Int64(bitPattern: f)), db)
            }
        }
        let damaged = path + ".damaged"
        unlink(damaged)
        guard rename(path, damaged) == 0, rename(tmp, path) == 0 else {
            throw TraceStoreError.badPath("cannot swap \(tmp) into place: \(String(cString: strerror(errno)))")
        }
        for suffix in ["-journal", "-wal", "-shm"] { unlink(path + suffix) }
        return RepairResult(path: path, damagedCopy: damaged, segmentsKept: segments.count, eventsKept: segments.reduce(0) { $0 + $1.events },
                            lost: lost)
    }
}
