import SanTestSupport
import SanTraceFormat
import Testing

@testable import SanTraceStore
import TraceTestSupport

@Suite struct ReaderTests {
    /// Filters give exactly what a brute-force scan gives, and decode fewer segments.
    @Test func filtersArePushedDownAndExact() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("f.santrace")
        try Fixtures.trace(path, .mixed, events: 60_000, segmentBytes: 8 << 10)
        let reader = try TraceReader(path: path)
        let all = try reader.events()
        let mid = all[all.count / 2].tsc
        var f = TraceFilter()
        f.functions = [.WSPRdmaWrite]
        f.sockets = [1]
        f.fromTSC = mid
        f.toTSC = mid + 3_000_000  // 1 ms of the synthetic 3 GHz clock
        let got = try reader.events(f)
        // Brute force: an event is on socket 1 when a socket field says so, or it is the LEAVE of
        // an ENTER that was.
        var open: [UInt32: [(FunctionID, Bool)]] = [:]
        let want = all.filter { e in
            let fn = e.kind == .completion ? FunctionID(UInt16(e["function"]!.integer!)) : e.function
            var onSocket = zip(e.definitions, e.fields).contains { $0.0.type == .socket && $0.1 == .uint(1) }
            if e.kind == .enter { open[e.thread, default: []].append((e.function, onSocket)) }
            if e.kind == .leave, let i = open[e.thread]?.lastIndex(where: { $0.0 == e.function }) {
                onSocket = onSocket || open[e.thread]![i].1
                open[e.thread]!.removeSubrange(i...)
            }
            return fn == .WSPRdmaWrite && onSocket && e.tsc >= mid && e.tsc <= mid + 3_000_000
        }
        #expect(!want.isEmpty)
        #expect(got == want)
        #expect(try reader.candidateSegments(f).count < reader.segments.count / 4)

        // Threads and errors.
        var t = TraceFilter()
        t.threads = [3]
        #expect(try reader.events(t) == all.filter { $0.thread == 3 })
        var e = TraceFilter()
        e.errorsOnly = true
        #expect(try reader.events(e).isEmpty)  // the synthetic workloads never fail
        #expect(try reader.candidateSegments(e).isEmpty)
    }

    @Test func seekBySequenceAndTime() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("s.santrace")
        try Fixtures.trace(path, .pingPong, events: 20_000, segmentBytes: 4 << 10)
        let reader = try TraceReader(path: path)
        var f = TraceFilter()
        f.fromSequence = 12_345
        f.toSequence = 12_349
        #expect(try reader.events(f).map(\.sequence) == [12_345, 12_346, 12_347, 12_348, 12_349])
        #expect(try reader.candidateSegments(f).count <= 2)
        let all = try reader.events()
        var tf = TraceFilter()
        tf.fromTSC = all[5000].tsc
        #expect(try reader.events(tf).first == all.first { $0.tsc >= all[5000].tsc })
    }

    /// stats: call and operation latencies from hand-made events with known times.
    @Test func statsComputeExactLatencies() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("l.santrace")
        var meta = Fixtures.metadata()
        meta.clock = .nanoseconds  // 1 tick = 1 ns
        let w = try TraceWriter(path: path, metadata: meta)
        var seq: UInt64 = 0
        func next() -> UInt64 { seq += 1; return seq }
        for i in 0..<100 {
            let t0 = UInt64(i) * 10_000
            let enterSeq = next()
            try w.append(.enter, .WSPSend, thread: 1, threadSeq: enterSeq, tsc: t0) { f in
                f.socket(1); f.bufferList(count: 1); f.buffer(length: 100, registration: 1, offset: 0); f.flags(0)
                f.overlapped(1); f.completionMode(1); f.payloadNone()
            }
            try w.append(.leave, .WSPSend, thread: 1, threadSeq: next(), tsc: t0 + 200) { f in
                f.i32(-1); f.wsaError(997); f.u32(0)
            }
            try w.append(.completion, .none, thread: 1, threadSeq: next(), tsc: t0 + 5_000) { f in
                f.overlapped(1); f.callRef(thread: 1, sequence: enterSeq); f.u32(23); f.socket(1)
                f.wsaError(i == 0 ? 10054 : 0); f.u32(100); f.flags(0); f.completionVia(1); f.payloadNone()
            }
        }
        try w.close()
        let s = try TraceStats.compute(TraceReader(path: path))
        let send = try #require(s.functions[.WSPSend])
        #expect(send.calls == 100 && send.completions == 100 && send.errors == 1 && send.bytes == 9_900)
        #expect(send.callLatency.percentile(50) == 200 && send.callLatency.max == 200)
        #expect(send.operationLatency.min == 5_000 && send.operationLatency.max == 5_000)
        #expect(abs(Double(send.operationLatency.percentile(99)) - 5_000) <= 5_000 / 32)
    }

    /// Two workers give exactly what one pass gives (calls straddling the split are paired).
    @Test func parallelStatsEqualSerialStats() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("p.santrace")
        try Fixtures.trace(path, .mixed, events: 30_000, segmentBytes: 4 << 10)
        let reader = try TraceReader(path: path)
        let serial = try TraceStats.compute(reader, parallelFrom: .max)
        let parallel = try TraceStats.compute(reader, parallelFrom: 0)
        #expect(serial.events == parallel.events && serial.lookups == parallel.lookups)
        #expect(serial.functions.count == parallel.functions.count)
        for (fn, a) in serial.functions {
            let b = try #require(parallel.functions[fn])
            #expect(a.calls == b.calls && a.errors == b.errors && a.bytes == b.bytes && a.completions == b.completions)
            #expect(a.callLatency.count == b.callLatency.count, "\(fn) call latency pairs")
            #expect(a.operationLatency.count == b.operationLatency.count, "\(fn) operation latency pairs")
            for p in [50.0, 99, 99.9] {
                #expect(a.callLatency.percentile(p) == b.callLatency.percentile(p))
                #expect(a.operationLatency.percentile(p) == b.operationLatency.percentile(p))
            }
        }
    }

    @Test func eventIndexAnswersSQL() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("i.santrace")
        let n = try Fixtures.trace(path, .mixed, events: 10_000)
        #expect(try EventIndexer.build(path: path) == UInt64(n))
        let db = try SQLiteConnection(path: path, readOnly: true)
        #expect(try db.scalarInt("SELECT count(*) FROM events") == Int64(n))
        let leaves = try db.scalarInt("SELECT count(*) FROM events_named WHERE kind = 'leave' AND function = 'WSPRdmaWrite' AND latency_ns > 0")
        let enters = try db.scalarInt("SELECT count(*) FROM events WHERE kind = 1 AND function = 37")
        #expect(leaves == enters)
        // Every completion points at its starting ENTER.
        #expect(try db.scalarInt("""
            SELECT count(*) FROM events c JOIN events s ON s.seq = c.start_seq
            WHERE c.kind = 3 AND s.kind = 1 AND s.function = c.function
            """) == db.scalarInt("SELECT count(*) FROM events WHERE kind = 3"))
        // The trace still verifies (the index is extra).
        #expect(try TraceVerifier.verify(path: path).isIntact)
    }

    /// The SQLite DDL in Docs/TraceFormat.md is the DDL the writer runs.
    @Test func documentedDDLMatches() throws {
        let doc = String(decoding: readFile(SanProducts.packageRoot + "/Docs/TraceFormat.md"), as: UTF8.self)
        for ddl in [TraceDDL.create, TraceDDL.eventsTable, TraceDDL.eventsIndexes] {
            for line in ddl.split(separator: "\n") {
                #expect(doc.contains(line.trimmingPrefixSpaces()), "Docs/TraceFormat.md lacks: \(line)")
            }
        }
    }
}

extension Substring {
    func trimmingPrefixSpaces() -> String { String(self.drop { $0 == " " }) }
}
