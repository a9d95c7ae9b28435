import SanTraceFormat

/// What `verify` found: which segments are intact, what is wrong with the others, and whether
/// the index agrees with the segments.
public struct VerifyReport: Sendable {
    public struct Problem: Sendable, CustomStringConvertible {
        public var segment: Int64?
        public var kind: TraceFormatError.Kind
        public var what: String
        public var description: String { (self.segment.map { "segment \($0): " } ?? "") + self.what }
    }

    public var path: String
    /// Segments found in the `segments` table (or probed when it could not be scanned).
    public var segmentsSeen: [Int64] = []
    /// Segments whose blob, body and records are intact, in order.
    public var intactSegments: [SegmentInfo] = []
    /// Damage: unreadable rows, checksum failures, undecodable records, discontinuities.
    public var problems: [Problem] = []
    /// Index rows that disagree with the segments (repairable with `--repair`).
    public var indexProblems: [Problem] = []
    /// Gaps in per-thread sequences (events the recorder dropped, or segments lost).
    public var threadGaps: [(thread: UInt32, after: UInt64, missing: UInt64)] = []
    /// Sequence ranges a repair already declared lost (meta `lost_sequences`).
    public var knownLost: [ClosedRange<UInt64>] = []
    /// Time of the last intact event, seconds since the first event.
    public var intactUntilSeconds: Double = 0
    public var closedCleanly = false
    public var dropsRecorded: UInt64 = 0

    /// True when nothing is damaged and the index agrees.
    public var isIntact: Bool { self.problems.isEmpty && self.indexProblems.isEmpty }

    /// The longest run of intact segments from segment 0.
    public var intactPrefix: [SegmentInfo] {
        var out: [SegmentInfo] = []
        for (i, s) in self.intactSegments.enumerated() where s.id == Int64(i) { out.append(s) }
        return out.count == self.intactSegments.prefix(out.count).count ? out : []
    }

    /// Human-readable report lines.
    public var lines: [String] {
        var out: [String] = []
        let segs = self.intactSegments
        if segs.isEmpty {
            out.append("no intact segments")
        } else {
            let runs = Self.runs(segs.map(\.id))
            let events = segs.reduce(UInt64(0)) { $0 + $1.events }
            let first = segs.first!.firstSeq, last = segs.last!.lastSeq
            out.append("segments \(runs) intact (\(formatCount(events)) events, \(formatCount(first))–\(formatCount(last)), up to t=\(formatSeconds(self.intactUntilSeconds)))")
        }
        for p in self.problems { out.append(p.description) }
        for p in self.indexProblems { out.append("index: " + p.description) }
        for r in self.knownLost { out.append("events \(formatCount(r.lowerBound))–\(formatCount(r.upperBound)) were lost (recorded by an earlier repair)") }
        for g in self.threadGaps.prefix(20) {
            out.append("thread \(g.thread): \(formatCount(g.missing)) events missing after thread sequence \(g.after)"
                       + (self.dropsRecorded > 0 ? " (the recorder counted \(self.dropsRecorded) drops)" : ""))
        }
        if self.threadGaps.count > 20 { out.append("… \(self.threadGaps.count - 20) more thread gaps") }
        if !self.closedCleanly { out.append("the trace was not closed cleanly (the recorder stopped before close)") }
        out.append(self.isIntact ? "OK" : "DAMAGED: \(self.problems.count) damaged part(s), \(self.indexProblems.count) index mismatch(es)")
        return out
    }

    static func runs(_ ids: [Int64]) -> String {
        var parts: [String] = []
        var i = 0
        while i < ids.count {
            var j = i
            while j + 1 < ids.count && ids[j + 1] == ids[j] + 1 { j += 1 }
            parts.append(i == j ? "\(ids[i])" : "\(ids[i])–\(ids[j])")
            i = j + 1
        }
        return parts.joined(separator: ", ")
    }
}

/// `1203339` → `1 203 339`.
public func formatCount(_ n: UInt64) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(" ") }
        out.append(c)
    }
    return out
}

/// Seconds with three decimals (`4.180 s`), six below one second (`0.000248 s`).
public func formatSeconds(_ s: Double) -> String {
    if abs(s) < 1 { return fixed(s, 6) + " s" }
    let ms = saturatingInt64(s * 1000)
    let frac = String(abs(ms) % 1000)
    return "\(ms / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac) s"
}

/// Checks a trace segment by segment (CRC-32C, LZ4 frame and content checksum, header, every
/// record, sequence continuity) and checks the index tables against what the segments hold.
public enum TraceVerifier {
    public static func verify(path: String) throws(TraceFormatError) -> VerifyReport {
        try TraceFile.check(path)
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path, readOnly: true)
        } catch {
            throw TraceFile.map(error, path)
        }
        // A file cut short has a header announcing more pages than it holds, which SQLite calls
        // corrupt before reading anything; "writable_schema" relaxes exactly that check
        // (sqlite.org pragma.html#pragma_writable_schema) so the pages that are there can be read.
        // The connection stays read-only.
        try? db.execute("PRAGMA writable_schema = ON")
        try TraceFile.checkApplicationID(db, path)
        var report = VerifyReport(path: path)
        let meta: [String: String]
        do {
            meta = try TraceReader.readMeta(db)
        } catch let e as SQLiteError {
            throw TraceFile.map(e, path)
        } catch {
            throw TraceFormatError(.missingData, "\(error)", file: path)
        }
        guard meta["magic"] == TraceFormat.metaMagic, let v = meta["format_version"].flatMap(FormatVersion.init) else {
            throw TraceFormatError(.notATrace, "meta table lacks the trace magic or version", file: path)
        }
        guard v.major == TraceFormat.version.major else {
            throw TraceFormatError(.unsupportedVersion, "format \(v) is not readable by this build (reads \(TraceFormat.version.major).x)", file: path)
        }
        let clock = try TraceReader.readClock(meta, path)
        report.closedCleanly = meta["closed_realtime_ns"] != nil
        report.dropsRecorded = meta["drops"].flatMap(UInt64.init) ?? 0
        report.knownLost = parseRanges(meta["lost_sequences"] ?? "")
        let firstTSC = meta["first_tsc"].flatMap(Int64.init).map { UInt64(bitPattern: $0) }

        let ids = scanSegmentIDs(db, &report)
        report.segmentsSeen = ids
        let lz4 = LZ4Frame()
        let body = ByteBuffer(capacity: 1 << 20)
        let threads = ThreadSequences()
        let index = IndexBuilder()
        var lastThreadSeq: [UInt32: UInt64] = [:]
        var expectedSeq: UInt64 = 0
        var record = EventRecord()
        var maxIntactTSC: UInt64 = 0
        var anyTSC: UInt64?
        for id in ids {
            let (row, intact) = loadRow(db, id, into: body, lz4: lz4, &report)
            guard let info = row, intact else {
                // A damaged segment whose row is readable still says which events it held: the
                // next segment is not reported as a second, separate gap.
                if let info = row, info.lastSeq >= expectedSeq { expectedSeq = info.lastSeq + 1 }
                continue
            }
            index.resetSegment()
            var segmentThreads: [UInt32: UInt64] = lastThreadSeq
            var gaps: [(UInt32, UInt64, UInt64)] = []
            do throws(TraceFormatError) {
                var d = try SegmentDecoder(body: body.bytes, threads: threads)
                guard d.header.segment == UInt64(bitPattern: id), d.header.firstSequence == info.firstSeq,
                      UInt64(d.header.eventCount) == info.events else {
                    throw TraceFormatError(.corruptRecord, "segment header (number \(d.header.segment), first event \(d.header.firstSequence), \(d.header.eventCount) events) disagrees with its row")
                }
                while try d.next(into: &record) {
                    index.observe(&record)
                    let last = segmentThreads[record.thread] ?? 0
                    if record.threadSeq != last + 1 && record.threadSeq > last {
                        gaps.append((record.thread, last, record.threadSeq - last - 1))
                    } else if record.threadSeq <= last {
                        throw TraceFormatError(.discontinuity, "thread \(record.thread) sequence \(record.threadSeq) after \(last)", offset: d.offset)
                    }
                    segmentThreads[record.thread] = record.threadSeq
                }
            } catch {
                report.problems.append(.init(segment: id, kind: error.kind, what: error.what + (error.offset.map { " (body offset \($0))" } ?? "")))
                if info.lastSeq >= expectedSeq { expectedSeq = info.lastSeq + 1 }
                continue
            }
            // The segment is intact.
            if info.firstSeq != expectedSeq {
                if info.firstSeq > expectedSeq,
                   report.knownLost.contains(where: { $0.lowerBound == expectedSeq && $0.upperBound == info.firstSeq - 1 }) {
                    // a loss an earlier repair recorded
                } else if info.firstSeq > expectedSeq {
                    report.problems.append(.init(segment: id, kind: .discontinuity,
                                                 what: "events \(formatCount(expectedSeq))–\(formatCount(info.firstSeq - 1)) are missing before this segment"))
                } else {
                    report.problems.append(.init(segment: id, kind: .discontinuity,
                                                 what: "starts at event \(info.firstSeq), overlapping the previous segment"))
                }
            }
            expectedSeq = info.lastSeq + 1
            lastThreadSeq = segmentThreads
            report.threadGaps.append(contentsOf: gaps.map { (thread: $0.0, after: $0.1, missing: $0.2) })
            report.intactSegments.append(info)
            if index.maxTSC > maxIntactTSC { maxIntactTSC = index.maxTSC }
            if anyTSC == nil || index.minTSC < anyTSC! { anyTSC = index.minTSC }
            checkIndex(db, info, index, &report)
        }
        if let start = firstTSC ?? anyTSC, !report.intactSegments.isEmpty {
            report.intactUntilSeconds = Double(clock.nanoseconds(from: start, to: maxIntactTSC)) / 1e9
        }
        report.problems.sort { ($0.segment ?? -1) < ($1.segment ?? -1) }
        if let n = meta["events"].flatMap(UInt64.init), n != expectedSeq, report.problems.isEmpty {
            report.indexProblems.append(.init(segment: nil, kind: .missingData, what: "meta.events says \(n), segments hold \(expectedSeq)"))
        }
        return report
    }

    static func parseRanges(_ text: String) -> [ClosedRange<UInt64>] {
        text.split(separator: ",").compactMap { part in
            let ends = part.split(separator: "-")
            guard ends.count == 2, let a = UInt64(ends[0]), let b = UInt64(ends[1]), a <= b else { return nil }
            return a...b
        }
    }

    /// Segment ids in order; when the table cannot be scanned to the end, probes ids after the
    /// last one read.
    static func scanSegmentIDs(_ db: SQLiteConnection, _ report: inout VerifyReport) -> [Int64] {
        var ids: [Int64] = []
        do {
            let s = try db.prepare("SELECT id FROM segments ORDER BY id")
            while try s.step() { ids.append(s.int(0)) }
            return ids
        } catch {
            report.problems.append(.init(segment: ids.last.map { $0 + 1 }, kind: .databaseDamaged,
                                         what: "segment table unreadable after \(ids.count) rows: \(error.message)"))
        }
        var next = (ids.last ?? -1) + 1
        var misses = 0
        while misses < 8 {
            if let s = try? db.prepare("SELECT id FROM segments WHERE id = ?1") {
                s.bind(1, next)
                if (try? s.step()) == true {
                    ids.append(next)
                    misses = 0
                } else {
                    misses += 1
                }
            } else {
                misses += 1
            }
            next += 1
        }
        return ids
    }

    /// Reads one segment row and its checked, decompressed body. Returns the row (when readable)
    /// and whether the body is intact; a problem is recorded when it is not.
    static func loadRow(_ db: SQLiteConnection, _ id: Int64, into body: ByteBuffer, lz4: LZ4Frame,
                        _ report: inout VerifyReport) -> (SegmentInfo?, Bool) {
        do {
            let s = try db.cached("""
                SELECT id, first_seq, last_seq, events, first_tsc, last_tsc, raw_bytes, blob_bytes, errors, bytes, crc32c,
                blob FROM segments WHERE id = ?1
                """)
            s.bind(1, id)
            guard try s.step() else {
                report.problems.append(.init(segment: id, kind: .missingData, what: "row vanished"))
                return (nil, false)
            }
            defer { s.reset() }
            for c in Int32(0)...10 where s.columnType(c) != 1 {
                report.problems.append(.init(segment: id, kind: .missingData, what: "row has a non-integer column \(c)"))
                return (nil, false)
            }
            let info = SegmentInfo(id: s.int(0), firstSeq: UInt64(bitPattern: s.int(1)), lastSeq: UInt64(bitPattern: s.int(2)),
                                   events: UInt64(bitPattern: s.int(3)), firstTSC: UInt64(bitPattern: s.int(4)),
                                   lastTSC: UInt64(bitPattern: s.int(5)), rawBytes: s.int(6), blobBytes: s.int(7),
                                   errors: UInt64(bitPattern: s.int(8)), bytes: UInt64(bitPattern: s.int(9)),
                                   crc32c: UInt32(truncatingIfNeeded: s.int(10)))
            let blob = s.unsafeBlob(11)
            guard blob.count == Int(info.blobBytes) else {
                report.problems.append(.init(segment: id, kind: .checksum,
                                             what: "truncated: blob is \(blob.count) bytes, row says \(info.blobBytes)"))
                return (info, false)
            }
            let crc = CRC32C.checksum(blob)
            guard crc == info.crc32c else {
                report.problems.append(.init(segment: id, kind: .checksum,
                                             what: "CRC-32C mismatch (blob 0x\(String(crc, radix: 16)), row 0x\(String(info.crc32c, radix: 16)))"))
                return (info, false)
            }
            do {
                try lz4.decompress(blob, into: body, limit: TraceFormat.maxSegmentBodyBytes)
            } catch {
                report.problems.append(.init(segment: id, kind: error.kind, what: error.description))
                return (info, false)
            }
            return (info, true)
        } catch {
            report.problems.append(.init(segment: id, kind: error.isDamage ? .databaseDamaged : .missingData,
                                         what: "row unreadable: \(error.message)"))
            return (nil, false)
        }
    }

    /// Compares the stored per-segment index rows with the rows rebuilt from the events.
    static func checkIndex(_ db: SQLiteConnection, _ info: SegmentInfo, _ index: IndexBuilder, _ report: inout VerifyReport) {
        index.settle()
        func problem(_ what: String) { report.indexProblems.append(.init(segment: info.id, kind: .missingData, what: what)) }
        if info.events != index.events || info.lastSeq != info.firstSeq + info.events - 1 {
            problem("row says \(info.events) events (\(info.firstSeq)–\(info.lastSeq)), body holds \(index.events)")
        }
        if info.firstTSC != index.minTSC || info.lastTSC != index.maxTSC { problem("time range disagrees with the events") }
        if info.errors != index.errors || info.bytes != index.bytes { problem("errors/bytes totals disagree with the events") }
        do {
            var stored: [String] = []
            let f = try db.cached("SELECT function, kind, events, errors, bytes FROM segment_functions WHERE segment = ?1 ORDER BY function, kind")
            f.bind(1, info.id)
            while try f.step() { stored.append("\(f.int(0))/\(f.int(1)):\(f.int(2))/\(f.int(3))/\(f.int(4))") }
            let rebuilt = index.functionRows().map { "\($0.function)/\($0.kind):\($0.count.events)/\($0.count.errors)/\($0.count.bytes)" }
            if stored.sorted() != rebuilt.sorted() { problem("segment_functions rows disagree with the events") }
            var sockets: [Int64: Int64] = [:]
            let s = try db.cached("SELECT socket, events FROM segment_sockets WHERE segment = ?1")
            s.bind(1, info.id)
            while try s.step() { sockets[s.int(0)] = s.int(1) }
            let rebuiltSockets = Dictionary(uniqueKeysWithValues: index.sockets.map { (Int64(bitPattern: $0.key), Int64(bitPattern: $0.value)) })
            if sockets != rebuiltSockets { problem("segment_sockets rows disagree with the events") }
            var threads: [Int64: [Int64]] = [:]
            let t = try db.cached("SELECT thread, first_thread_seq, last_thread_seq, events FROM segment_threads WHERE segment = ?1")
            t.bind(1, info.id)
            while try t.step() { threads[t.int(0)] = [t.int(1), t.int(2), t.int(3)] }
            let rebuiltThreads = Dictionary(uniqueKeysWithValues: index.threads.map {
                (Int64($0.key), [Int64(bitPattern: $0.value.firstThreadSeq), Int64(bitPattern: $0.value.lastThreadSeq),
                                 Int64(bitPattern: $0.value.events)])
            })
            if threads != rebuiltThreads { problem("segment_threads rows disagree with the events") }
        } catch {
            problem("index rows unreadable: \(error.message)")
        }
    }
}
