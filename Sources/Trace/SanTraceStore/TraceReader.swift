import SanTraceFormat

/// What the `segments` table says about one segment (without its blob).
public struct SegmentInfo: Sendable, Equatable {
    public var id: Int64
    public var firstSeq: UInt64
    public var lastSeq: UInt64
    public var events: UInt64
    public var firstTSC: UInt64
    public var lastTSC: UInt64
    public var rawBytes: Int64
    public var blobBytes: Int64
    public var errors: UInt64
    public var bytes: UInt64
    public var crc32c: UInt32
}

/// Which events a cursor yields. Filters on functions, sockets, threads, time and errors are
/// pushed down to the segment index, so only segments that may hold a match are decoded.
public struct TraceFilter: Sendable {
    /// Functions (a COMPLETION matches through the function that started it).
    public var functions: Set<FunctionID>?
    /// Socket capture ids (any `socket` field of the event; a LEAVE matches when its ENTER did).
    public var sockets: Set<UInt64>?
    public var threads: Set<UInt32>?
    /// Raw TSC window, inclusive.
    public var fromTSC: UInt64?
    public var toTSC: UInt64?
    /// Global sequence window, inclusive (seek by sequence).
    public var fromSequence: UInt64?
    public var toSequence: UInt64?
    /// Only LEAVEs and COMPLETIONs that report a failure (not WSA_IO_PENDING / WSA_IO_INCOMPLETE).
    public var errorsOnly = false
    /// Event kinds.
    public var kinds: Set<EventKind>?

    public init() {}

    public var isEmpty: Bool {
        self.functions == nil && self.sockets == nil && self.threads == nil && self.fromTSC == nil && self.toTSC == nil
            && self.fromSequence == nil && self.toSequence == nil && !self.errorsOnly && self.kinds == nil
    }
}

/// Reads a `.santrace`: metadata, segment list, and cursors over its events. Opens the file
/// read-only and treats it as hostile: every failure is a ``TraceFormatError`` naming the file,
/// the segment and the offset.
///
/// One thread at a time (its SQLite connection and scratch buffers are not shared).
public final class TraceReader {
    public let path: String
    public let version: FormatVersion
    /// The `meta` table as text.
    public let meta: [String: String]
    public let argv: [String]
    public let clock: ClockCalibration
    public let segments: [SegmentInfo]
    let db: SQLiteConnection
    private let lz4 = LZ4Frame()

    /// Opens and checks a trace (file type, SQLite header, application id, magic, version).
    public convenience init(path: String) throws(TraceFormatError) {
        try TraceFile.check(path)
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path, readOnly: true)
        } catch {
            throw TraceFile.map(error, path)
        }
        try TraceFile.checkApplicationID(db, path)
        try self.init(connection: db)
    }

    /// Reads through an open connection (the index builder reads and writes through one
    /// connection: a second one would be locked out while the first writes).
    init(connection db: SQLiteConnection) throws(TraceFormatError) {
        let path = db.path
        self.path = path
        self.db = db
        do {
            let metaRows = try Self.readMeta(db)
            guard metaRows["magic"] == TraceFormat.metaMagic else {
                throw TraceFormatError(.notATrace, "meta.magic is \(metaRows["magic"].map { "'\($0)'" } ?? "missing")",
                                       file: path)
            }
            guard let vtext = metaRows["format_version"], let v = FormatVersion(vtext) else {
                throw TraceFormatError(.missingData, "meta.format_version missing or malformed", file: path)
            }
            guard v.major == TraceFormat.version.major else {
                throw TraceFormatError(.unsupportedVersion,
                                       "format \(v) is not readable by this build (reads \(TraceFormat.version.major).x); use a newer sanreplay",
                                       file: path)
            }
            self.version = v
            self.meta = metaRows
            self.clock = try Self.readClock(metaRows, path)
            self.argv = try Self.readArgv(db)
            self.segments = try Self.readSegments(db, path)
        } catch let e as SQLiteError {
            throw TraceFile.map(e, path)
        } catch let e as TraceFormatError {
            throw e
        } catch {
            throw TraceFormatError(.missingData, "\(error)", file: path)
        }
    }

    static func readMeta(_ db: SQLiteConnection) throws -> [String: String] {
        guard try db.hasTable("meta") else {
            throw TraceFormatError(.notATrace, "an SQLite database with the trace application id but no trace inside (no meta table)",
                                   file: db.path)
        }
        let s = try db.prepare("SELECT key, value FROM meta")
        var out: [String: String] = [:]
        while try s.step() {
            guard let k = s.text(0) else { continue }
            out[k] = s.text(1) ?? ""
        }
        return out
    }

    static func readArgv(_ db: SQLiteConnection) throws -> [String] {
        let s = try db.prepare("SELECT arg FROM argv ORDER BY position")
        var out: [String] = []
        while try s.step() { out.append(s.text(0) ?? "") }
        return out
    }

    static func readClock(_ m: [String: String], _ path: String) throws(TraceFormatError) -> ClockCalibration {
        guard let hz = m["tsc_hz"].flatMap(Double.init), ClockCalibration.plausibleHz.contains(hz),
              let tsc = m["anchor_tsc"].flatMap(Int64.init), let real = m["anchor_realtime_ns"].flatMap(Int64.init)
        else {
            throw TraceFormatError(.missingData, "clock calibration (meta tsc_hz, anchor_tsc, anchor_realtime_ns) missing or malformed", file: path)
        }
        let mono = m["anchor_monotonic_ns"].flatMap(Int64.init) ?? 0
        return ClockCalibration(tscHz: hz, anchorTSC: UInt64(bitPattern: tsc), anchorRealtimeNs: real, anchorMonotonicNs: mono)
    }

    static func readSegments(_ db: SQLiteConnection, _ path: String) throws -> [SegmentInfo] {
        let s = try db.prepare("""
            SELECT id, first_seq, last_seq, events, first_tsc, last_tsc, raw_bytes, blob_bytes, errors, bytes, crc32c
            FROM segments ORDER BY id
            """)
        var out: [SegmentInfo] = []
        while try s.step() {
            for c in Int32(0)...10 where s.columnType(c) != 1 {  // SQLITE_INTEGER
                throw TraceFormatError(.missingData, "segments row has a non-integer column \(c)", file: path,
                                       segment: s.int(0))
            }
            out.append(SegmentInfo(id: s.int(0), firstSeq: UInt64(bitPattern: s.int(1)), lastSeq: UInt64(bitPattern: s.int(2)),
                                   events: UInt64(bitPattern: s.int(3)), firstTSC: UInt64(bitPattern: s.int(4)),
                                   lastTSC: UInt64(bitPattern: s.int(5)), rawBytes: s.int(6), blobBytes: s.int(7),
                                   errors: UInt64(bitPattern: s.int(8)), bytes: UInt64(bitPattern: s.int(9)),
                                   crc32c: UInt32(truncatingIfNeeded: s.int(10))))
        }
        return out
    }

    // MARK: Facts

    /// Events the metadata announces (committed).
    public var eventCount: UInt64 { self.segments.last.map { $0.lastSeq + 1 } ?? 0 }

    /// The TSC of the trace's first event (time zero of `t` in dumps).
    public var firstTSC: UInt64 {
        self.meta["first_tsc"].flatMap(Int64.init).map { UInt64(bitPattern: $0) } ?? self.segments.map(\.firstTSC).min() ?? 0
    }

    public var lastTSC: UInt64 { self.segments.map(\.lastTSC).max() ?? self.firstTSC }

    /// Nanoseconds since the first event.
    public func relativeNanoseconds(_ tsc: UInt64) -> Int64 { self.clock.nanoseconds(from: self.firstTSC, to: tsc) }

    /// True when the trace was closed cleanly.
    public var isClosed: Bool { self.meta["closed_realtime_ns"] != nil }

    public var payloadPolicy: PayloadPolicy { self.meta["payload_policy"].flatMap(PayloadPolicy.init) ?? .none }

    // MARK: Segments

    /// Loads, checks (CRC-32C, LZ4 frame, content checksum) and decompresses one segment.
    public func loadSegment(_ info: SegmentInfo, into body: ByteBuffer) throws(TraceFormatError) {
        do {
            let s = try self.db.cached("SELECT blob FROM segments WHERE id = ?1")
            s.bind(1, info.id)
            guard try s.step() else {
                throw TraceFormatError(.missingData, "segment row vanished", file: self.path, segment: info.id)
            }
            let blob = s.unsafeBlob(0)
            defer { s.reset() }
            guard blob.count == Int(info.blobBytes) else {
                throw TraceFormatError(.checksum, "blob is \(blob.count) bytes, row says \(info.blobBytes)")
            }
            let crc = CRC32C.checksum(blob)
            guard crc == info.crc32c else {
                throw TraceFormatError(.checksum, "CRC-32C mismatch (blob 0x\(String(crc, radix: 16)), row 0x\(String(info.crc32c, radix: 16)))")
            }
            try self.lz4.decompress(blob, into: body, limit: TraceFormat.maxSegmentBodyBytes)
        } catch let e as SQLiteError {
            throw TraceFile.map(e, self.path, segment: info.id)
        } catch let e as TraceFormatError {
            throw e.at(file: self.path, segment: info.id)
        } catch {
            throw TraceFormatError(.missingData, "\(error)", file: self.path, segment: info.id)
        }
    }

    /// Segments that may hold events matching `filter` (the push-down).
    public func candidateSegments(_ filter: TraceFilter) throws(TraceFormatError) -> [SegmentInfo] {
        var list = self.segments
        if let from = filter.fromTSC { list = list.filter { $0.lastTSC >= from } }
        if let to = filter.toTSC { list = list.filter { $0.firstTSC <= to } }
        if let from = filter.fromSequence { list = list.filter { $0.lastSeq >= from } }
        if let to = filter.toSequence { list = list.filter { $0.firstSeq <= to } }
        if filter.errorsOnly { list = list.filter { $0.errors > 0 } }
        do {
            if let fns = filter.functions {
                let ids = fns.map { String($0.rawValue) }.joined(separator: ",")
                let keep = try self.segmentSet("SELECT DISTINCT segment FROM segment_functions WHERE function IN (\(ids))")
                list = list.filter { keep.contains($0.id) }
            }
            if let socks = filter.sockets {
                let ids = socks.map { String(Int64(bitPattern: $0)) }.joined(separator: ",")
                let keep = try self.segmentSet("SELECT DISTINCT segment FROM segment_sockets WHERE socket IN (\(ids))")
                list = list.filter { keep.contains($0.id) }
            }
            if let threads = filter.threads {
                let ids = threads.map { String($0) }.joined(separator: ",")
                let keep = try self.segmentSet("SELECT DISTINCT segment FROM segment_threads WHERE thread IN (\(ids))")
                list = list.filter { keep.contains($0.id) }
            }
        } catch let e as SQLiteError {
            throw TraceFile.map(e, self.path)
        } catch {
            throw TraceFormatError(.missingData, "\(error)", file: self.path)
        }
        return list
    }

    private func segmentSet(_ sql: String) throws -> Set<Int64> {
        let s = try self.db.prepare(sql)
        var out = Set<Int64>()
        while try s.step() { out.insert(s.int(0)) }
        return out
    }

    /// A low-level cursor over the events matching `filter`, in sequence order.
    public func cursor(_ filter: TraceFilter = TraceFilter()) throws(TraceFormatError) -> TraceCursor {
        TraceCursor(reader: self, segments: try self.candidateSegments(filter), filter: filter)
    }

    /// Calls `body` for each matching event (the record is reused; copy what you keep).
    public func forEach(_ filter: TraceFilter = TraceFilter(), _ body: (borrowing EventRecord) throws -> Void) throws {
        let c = try self.cursor(filter)
        var r = EventRecord()
        while try c.next(into: &r) { try body(r) }
    }

    /// All matching events as values (allocates; for tools and tests).
    public func events(_ filter: TraceFilter = TraceFilter()) throws -> [TraceEvent] {
        var out: [TraceEvent] = []
        try self.forEach(filter) { out.append(TraceEvent($0)) }
        return out
    }

    /// Opens a read-write connection to the same file (index building, repair).
    func openForWriting() throws -> SQLiteConnection { try SQLiteConnection(path: self.path, readOnly: false) }
}

/// Iterates events of a trace in sequence order, decoding only candidate segments, into a
/// caller-owned ``EventRecord`` (no allocation per event).
public final class TraceCursor {
    let reader: TraceReader
    let segments: [SegmentInfo]
    let filter: TraceFilter
    private var nextSegment = 0
    /// The current segment's decoder, in memory the cursor owns (TraceCursor+Unsafe.swift).
    let decoder: UnsafeMutablePointer<SegmentDecoder>
    private var decoding = false
    private let unfiltered: Bool
    private let body = ByteBuffer(capacity: 1 << 20)
    private let threads = ThreadSequences()
    private let roles = ShapeRoles.shared
    private var functionMask: (UInt64, UInt64)?
    /// The segment being decoded.
    public private(set) var currentSegment: SegmentInfo?

    init(reader: TraceReader, segments: [SegmentInfo], filter: TraceFilter) {
        self.reader = reader
        self.segments = segments
        self.filter = filter
        self.unfiltered = filter.isEmpty
        self.decoder = Self.allocateDecoder()
        if let fns = filter.functions {
            var m: (UInt64, UInt64) = (0, 0)
            for f in fns where f.rawValue < 128 {
                if f.rawValue < 64 { m.0 |= 1 << UInt64(f.rawValue) } else { m.1 |= 1 << UInt64(f.rawValue - 64) }
            }
            self.functionMask = m
        }
    }

    deinit {
        Self.freeDecoder(self.decoder)
    }

    /// The next matching event; false at the end.
    public func next(into r: inout EventRecord) throws(TraceFormatError) -> Bool {
        while true {
            if !self.decoding {
                guard try self.startNextSegment() else { return false }
            }
            do throws(TraceFormatError) {
                if try self.decodeNext(into: &r) {
                    if self.unfiltered || self.matches(r) { return true }
                } else {
                    self.decoding = false
                }
            } catch {
                throw error.at(file: self.reader.path, segment: self.currentSegment?.id)
            }
        }
    }

    /// Loads and checks the next candidate segment and starts decoding it; false when none is
    /// left. Out of line: `next` stays small (its per-event path has no large stack frame).
    @inline(never)
    private func startNextSegment() throws(TraceFormatError) -> Bool {
        guard self.nextSegment < self.segments.count else { return false }
        let info = self.segments[self.nextSegment]
        self.nextSegment += 1
        try self.reader.loadSegment(info, into: self.body)
        do throws(TraceFormatError) {
            let d = try SegmentDecoder(body: self.body.bytes, threads: self.threads)
            guard d.header.segment == UInt64(bitPattern: info.id), d.header.firstSequence == info.firstSeq,
                  UInt64(d.header.eventCount) == info.events else {
                throw TraceFormatError(.corruptRecord, "segment header (number \(d.header.segment), first \(d.header.firstSequence), \(d.header.eventCount) events) disagrees with its row")
            }
            self.startDecoding(d)
            self.decoding = true
        } catch {
            throw error.at(file: self.reader.path, segment: info.id)
        }
        self.currentSegment = info
        return true
    }

    /// Per thread, the open calls and whether their ENTER named a filtered socket: a LEAVE (which
    /// names no socket) matches when its ENTER did.
    private var openCalls: [UInt32: [(FunctionID, Bool)]] = [:]

    private func socketMatch(_ r: EventRecord, _ socks: Set<UInt64>) -> Bool {
        var hit = false
        for i in 0..<r.fieldCount where r.type(i) == .socket && socks.contains(r.value(i)) {
            hit = true
            break
        }
        switch r.kind {
        case .enter:
            self.openCalls[r.thread, default: []].append((r.function, hit))
        case .leave:
            if var stack = self.openCalls[r.thread], let i = stack.lastIndex(where: { $0.0 == r.function }) {
                hit = hit || stack[i].1
                stack.removeSubrange(i...)
                self.openCalls[r.thread] = stack
            }
        default: break
        }
        return hit
    }

    /// Out of line, like `startNextSegment`: an unfiltered cursor never calls it.
    @inline(never)
    private func matches(_ r: borrowing EventRecord) -> Bool {
        let f = self.filter
        // The socket test runs first and on every event: it keeps the ENTER/LEAVE pairing.
        if let socks = f.sockets, !self.socketMatch(r, socks) { return false }
        if let from = f.fromSequence, r.sequence < from { return false }
        if let to = f.toSequence, r.sequence > to { return false }
        if let from = f.fromTSC, r.tsc < from { return false }
        if let to = f.toTSC, r.tsc > to { return false }
        if let threads = f.threads, !threads.contains(r.thread) { return false }
        if let kinds = f.kinds, !kinds.contains(r.kind) { return false }
        let roles = self.roles.roles(r)
        if let m = self.functionMask {
            let fn = r.subjectFunction(roles)
            guard fn.rawValue < 128 else { return false }
            let hit = fn.rawValue < 64 ? m.0 & (1 << UInt64(fn.rawValue)) : m.1 & (1 << UInt64(fn.rawValue - 64))
            if hit == 0 { return false }
        }
        if f.errorsOnly, !r.isError(roles) { return false }
        return true
    }
}
