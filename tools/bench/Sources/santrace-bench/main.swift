// santrace-bench — measures the trace store in release builds, each figure next to a baseline
// measured in the same run. Run through tools/bench/run, which adds the CLI measurements
// (lz4 CLI, sqlite3 queries, sanreplay stats) and prints the commands that reproduce them.
//
//   santrace-bench [--events N] [--runs R] [--out DIR]
import CSQLite
import Glibc
import SanTraceFormat
import SanTraceStore

/// CPU time of this thread: the machine is shared (2 cores, other builds running), so rates are
/// events per CPU-second of the one thread doing the work, not per wall-clock second.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s[s.count / 2]
}

func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : 0
}

func rm(_ path: String) {
    for s in ["", "-wal", "-shm", "-journal"] { unlink(path + s) }
}

func f(_ x: Double, _ d: Int = 2) -> String { fixed(x, d) }

func say(_ s: String = "") {
    let l = s + "\n"
    _ = l.withCString { write(1, $0, strlen($0)) }
}
var events = 2_000_000
var runs = 3
var out = "/tmp/santrace-bench"
var readerOnly = false
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    let a = args.removeFirst()
    switch a {
    case "--events": events = Int(args.removeFirst())!
    case "--runs": runs = Int(args.removeFirst())!
    case "--out": out = args.removeFirst()
    case "--reader-only": readerOnly = true
    case "--read-loop":
        // Profiling aid: read the write_bw trace with the cursor for N seconds.
        let seconds = Double(args.removeFirst())!
        var n: UInt64 = 0
        let t0 = now()
        while now() - t0 < seconds {
            let reader = try TraceReader(path: "\(out)/write_bw.santrace")
            let c = try reader.cursor()
            var r = EventRecord()
            while try c.next(into: &r) { n &+= 1 }
        }
        say("read \(n) events: \(f(Double(n) / (now() - t0) / 1e6)) M events/s")
        exit(0)
    case "--decode-loop":
        // Profiling aid: decode the write_bw trace's bodies for N seconds (perf record … --decode-loop 5).
        // A count instead ("--decode-loop x3"): that many passes, for instruction counts
        // (valgrind --tool=cachegrind … --decode-loop x1).
        let arg = args.removeFirst()
        let passes = arg.hasPrefix("x") ? Int(arg.dropFirst())! : Int.max
        let seconds = arg.hasPrefix("x") ? .infinity : Double(arg)!
        let reader = try TraceReader(path: "\(out)/write_bw.santrace")
        var bodies: [ByteBuffer] = []
        for s in reader.segments {
            let b = ByteBuffer(capacity: 1 << 20)
            try reader.loadSegment(s, into: b)
            bodies.append(b)
        }
        let threads = ThreadSequences()
        var r = EventRecord()
        var n: UInt64 = 0
        let t0 = now()
        var pass = 0
        while now() - t0 < seconds && pass < passes {
            pass += 1
            for b in bodies {
                var d = try SegmentDecoder(body: b.bytes, threads: threads)
                while try d.next(into: &r) { n &+= 1 }
            }
        }
        say("decoded \(n) events: \(f(Double(n) / (now() - t0) / 1e6)) M events/s")
        exit(0)
    case "--interposer-mix":
        // The store writer alone on the events the interposer's drain writes for a tight loop of
        // synchronous WSPSends: ENTER, LEAVE, inline COMPLETION (tools/bench/santrace compares).
        let n = Int(args.removeFirst())!
        var rates: [Double] = []
        for run in 0..<3 {
            let path = "\(out)/interposer-mix-\(run).santrace"
            mkdir(out, 0o755)
            rm(path)
            let w = try TraceWriter(path: path, metadata: TraceMetadata(clock: .nanoseconds))
            var tsc: UInt64 = 1_000_000
            var seq: UInt64 = 0
            let t0 = now()
            for i in 0..<(n / 3) {
                tsc &+= 90 &+ UInt64(i & 7)
                seq &+= 1
                let enter = seq
                try w.append(.enter, .WSPSend, thread: 1, threadSeq: seq, tsc: tsc) { f in
                    f.socket(1); f.bufferList(count: 1); f.buffer(length: 64, registration: 1, offset: 0)
                    f.flags(0); f.overlapped(0); f.completionMode(0); f.payloadNone()
                }
                tsc &+= 60
                seq &+= 1
                try w.append(.leave, .WSPSend, thread: 1, threadSeq: seq, tsc: tsc) { f in f.i32(0); f.wsaError(0); f.u32(64) }
                seq &+= 1
                try w.append(.completion, .none, thread: 1, threadSeq: seq, tsc: tsc) { f in
                    f.overlapped(0); f.callRef(thread: 1, sequence: enter); f.u32(23); f.socket(1); f.wsaError(0)
                    f.u32(64); f.flags(0); f.completionVia(3); f.payloadNone()
                }
            }
            try w.close()
            rates.append(Double(n / 3 * 3) / (now() - t0))
            rm(path)
        }
        say("store writer alone, same events (ENTER/LEAVE/COMPLETION of sync WSPSend): \(f(median(rates) / 1e6)) M events/s per CPU-second (median of 3)")
        exit(0)
    default:
        say("usage: santrace-bench [--events N] [--runs R] [--out DIR] | --interposer-mix N")
        exit(64)
    }
}
mkdir(out, 0o755)
if readerOnly {
    try benchReader(out, runs)
    exit(0)
}

let meta = TraceMetadata(argv: ["santrace-bench"], providerPath: "synthetic", clock: SyntheticWorkload.clock)

say("santrace-bench: \(events) events per run, median of \(runs) runs, release build")
say("")

// MARK: Encoding only (the generator's own cost is inside every figure below)
for kind in [SyntheticWorkload.Kind.writeBandwidth, .mixed] {
    var times: [Double] = []
    var raw = 0
    for _ in 0..<runs {
        let b = SegmentBuilder()
        b.reset(firstSequence: 0)
        var gen = SyntheticWorkload(kind, seed: 1)
        let t0 = now()
        var n = 0
        raw = 0
        while n < events {
            n += try gen.generate(into: b, events: min(50_000, events - n))
            if b.rawBytes >= 1 << 20 {
                raw += b.rawBytes
                b.reset(firstSequence: UInt64(n))
            }
        }
        raw += b.rawBytes
        times.append(now() - t0)
    }
    let t = median(times)
    say("encode only (generator + SegmentBuilder), \(kind.rawValue): \(f(Double(events) / t / 1e6)) M events/s, raw \(f(Double(raw) / Double(events))) B/event")
}
say("")

// MARK: Writer: encode + index + LZ4 + CRC + SQLite commit, and size on disk
struct WriteResult { var rate: Double; var fileBytes: Int; var blobBytes: Int; var rawBytes: Int; var segments: Int64 }
func writeTrace(_ kind: SyntheticWorkload.Kind, _ path: String, _ n: Int, options: TraceWriterOptions = TraceWriterOptions()) throws -> WriteResult {
    rm(path)
    let w = try TraceWriter(path: path, metadata: meta, options: options)
    var gen = SyntheticWorkload(kind, seed: 1)
    let t0 = now()
    _ = try gen.generate(into: w, events: n)
    try w.flush()
    let t = now() - t0
    try w.close()
    let db = try SQLiteConnection(path: path, readOnly: true)
    let blob = try db.scalarInt("SELECT sum(blob_bytes) FROM segments") ?? 0
    let raw = try db.scalarInt("SELECT sum(raw_bytes) FROM segments") ?? 0
    return WriteResult(rate: Double(n) / t, fileBytes: fileSize(path), blobBytes: Int(blob), rawBytes: Int(raw), segments: w.segmentsCommitted)
}

for kind in SyntheticWorkload.Kind.allCases {
    var results: [WriteResult] = []
    for _ in 0..<runs { results.append(try writeTrace(kind, "\(out)/\(kind.rawValue).santrace", events)) }
    let rate = median(results.map(\.rate))
    let r = results[0]
    say("writer \(kind.rawValue): \(f(rate / 1e6)) M events/s; \(f(Double(r.blobBytes) / Double(events))) B/event in LZ4 blobs, \(f(Double(r.fileBytes) / Double(events))) B/event whole file (raw \(f(Double(r.rawBytes) / Double(events))) B/event, \(r.segments) segments)")
}
say("")

// MARK: Compression level (size vs writer speed), write_bw
for level: Int32 in [0, 3, 9] {
    var o = TraceWriterOptions()
    o.compressionLevel = level
    var rs: [WriteResult] = []
    for _ in 0..<runs { rs.append(try writeTrace(.writeBandwidth, "\(out)/level.santrace", events, options: o)) }
    say("LZ4 level \(level), write_bw: \(f(median(rs.map(\.rate)) / 1e6)) M events/s, \(f(Double(rs[0].blobBytes) / Double(events))) B/event")
    for k in [SyntheticWorkload.Kind.mixed] {
        let m = try writeTrace(k, "\(out)/level.santrace", events, options: o)
        say("LZ4 level \(level), \(k.rawValue): \(f(m.rate / 1e6)) M events/s, \(f(Double(m.blobBytes) / Double(events))) B/event")
    }
}
rm("\(out)/level.santrace")
say("")

// MARK: Reader: low-level cursor (SQLite blob read + CRC-32C + LZ4 + decode)

/// Reads the whole trace with the low-level cursor `max(runs, 5)` times, adding `perEvent(r)`
/// into a checksum (so the reads are not optimized away): events per second (median) and the
/// checksum. Inlined so the per-event closure is too (no call per event in the timed loop).
@inline(__always)
func timeCursor(_ path: String, _ runs: Int, _ perEvent: (borrowing EventRecord) -> UInt64) throws
    -> (rate: Double, check: UInt64)
{
    var times: [Double] = []
    var n: UInt64 = 0
    var check: UInt64 = 0
    for _ in 0..<max(runs, 5) {
        let c = try TraceReader(path: path).cursor()
        var r = EventRecord()
        n = 0
        let t0 = now()
        while try c.next(into: &r) {
            n &+= 1
            check &+= perEvent(r)
        }
        times.append(now() - t0)
    }
    return (Double(n) / median(times), check)
}
/// The reader figures, on the traces the writer section left in `out` (`--reader-only` runs just
/// these, on the traces of an earlier run).
func benchReader(_ out: String, _ runs: Int) throws {
    for kind in [SyntheticWorkload.Kind.writeBandwidth, .mixed] {
        let path = "\(out)/\(kind.rawValue).santrace"
        var check: UInt64 = 0
        let plain = try timeCursor(path, runs) { r in r.tsc }
        check &+= plain.check
        say("reader \(kind.rawValue) (low-level cursor): \(f(plain.rate / 1e6)) M events/s (checksum \(check % 1000))")
        // The same, reading every field's value (what a consumer that looks at the fields pays).
        let fields = try timeCursor(path, runs) { r in
            var sum: UInt64 = 0
            for i in 0..<r.fieldCount { sum &+= r.value(i) }
            return sum
        }
        check &+= fields.check
        say("reader \(kind.rawValue), every field read: \(f(fields.rate / 1e6)) M events/s (checksum \(check % 1000))")
        // Decode only: the bodies already decompressed, to separate the decoder from LZ4/SQLite.
        let reader = try TraceReader(path: path)
        var bodies: [ByteBuffer] = []
        for s in reader.segments {
            let b = ByteBuffer(capacity: 1 << 20)
            try reader.loadSegment(s, into: b)
            bodies.append(b)
        }
        var dt: [Double] = []
        var decoded = 0.0
        for _ in 0..<max(runs, 5) {
            let threads = ThreadSequences()
            var r = EventRecord()
            let t0 = now()
            var n: UInt64 = 0
            for b in bodies {
                var d = try SegmentDecoder(body: b.bytes, threads: threads)
                while try d.next(into: &r) { n &+= 1; check &+= r.tsc }
            }
            dt.append(now() - t0)
            decoded = Double(n)
        }
        say("decoder only \(kind.rawValue): \(f(decoded / median(dt) / 1e6)) M events/s")
        // Raw bodies for the lz4 CLI baseline (tools/bench/run).
        if let fp = fopen("\(out)/\(kind.rawValue).raw", "wb") {
            for b in bodies { _ = fwrite(b.base, 1, b.count, fp) }
            fclose(fp)
        }
    }
    say("")
}
try benchReader(out, runs)

// MARK: Baseline: raw SQLite inserts (one row per event, prepared statement, one transaction)
do {
    let path = "\(out)/inserts.sqlite"
    var times: [Double] = []
    for _ in 0..<runs {
        rm(path)
        let db = try SQLiteConnection(path: path, readOnly: false)
        try db.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        try db.execute("CREATE TABLE e (seq INTEGER PRIMARY KEY, kind INTEGER, function INTEGER, thread INTEGER, tsc INTEGER, socket INTEGER, ov INTEGER, ret INTEGER, status INTEGER, bytes INTEGER)")
        let s = try db.prepare("INSERT INTO e VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
        let t0 = now()
        try db.execute("BEGIN")
        for i in 0..<events {
            s.reset()
            s.bind(1, i); s.bind(2, 1 + i % 3); s.bind(3, 37); s.bind(4, 1); s.bind(5, 1_000_000 + i * 300)
            s.bind(6, 1); s.bind(7, 1 + i % 16); s.bind(8, -1); s.bind(9, 997); s.bind(10, 65536)
            try s.run()
        }
        try db.execute("COMMIT")
        times.append(now() - t0)
    }
    say("baseline raw SQLite inserts (10 integer columns): \(f(Double(events) / median(times) / 1e6)) M rows/s, \(f(Double(fileSize(path)) / Double(events))) B/row")
    rm(path)
}

// MARK: Event index (what `sanreplay index` costs)
do {
    let path = "\(out)/mixed.santrace"
    let t0 = now()
    let rows = try EventIndexer.build(path: path)
    let t = now() - t0
    say("event index (sanreplay index) on mixed: \(f(Double(rows) / t / 1e6)) M events/s, file grows to \(f(Double(fileSize(path)) / Double(rows))) B/event")
}
say("")

// MARK: Commit cost per journal mode (1 MiB raw segments of write_bw), wall clock: fsyncs wait
// without using CPU time.
for (journal, sync) in [(TraceWriterOptions.Journal.wal, TraceWriterOptions.Synchronous.normal), (.wal, .full), (.delete, .normal), (.delete, .full)] {
    var o = TraceWriterOptions()
    o.journal = journal
    o.synchronous = sync
    let path = "\(out)/journal.santrace"
    var perCommit: [Double] = []
    for _ in 0..<runs {
        rm(path)
        let w = try TraceWriter(path: path, metadata: meta, options: o)
        var gen = SyntheticWorkload(.writeBandwidth, seed: 1)
        _ = try gen.generate(into: w, events: events)
        try w.flush()
        perCommit.append(Double(w.commitNanoseconds) / Double(w.segmentsCommitted) / 1e6)
        try w.close()
    }
    say("journal \(journal.rawValue), synchronous \(sync.rawValue): \(f(median(perCommit), 3)) ms wall clock per segment commit (insert + index rows + COMMIT)")
}
rm("\(out)/journal.santrace")
