import Glibc
import SanTraceFormat
import Testing

@testable import SanTraceStore
import TraceTestSupport

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { self.value = v }
}

/// Runs `body(i)` on `n` pthreads and waits for them.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    var threads: [pthread_t] = []
    for i in 0..<n {
        let ctx = Unmanaged.passRetained(Box((i, body))).toOpaque()
        var t = pthread_t()
        pthread_create(&t, nil, { p in
            let b = Unmanaged<Box<(Int, @Sendable (Int) -> Void)>>.fromOpaque(p!).takeRetainedValue()
            b.value.1(b.value.0)
            return nil
        }, ctx)
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
}

@Suite struct RecorderTests {
    /// Four producers, a queue far smaller than what they record: producers stall (counted),
    /// nothing is lost, every thread's sequence is continuous.
    @Test func manyProducersLoseNothingAndCountStalls() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("r.santrace")
        var o = TraceWriterOptions()
        o.segmentRawBytes = 8 << 10
        let recorder = try TraceRecorder(writer: TraceWriter(path: path, metadata: Fixtures.metadata(), options: o), capacity: 64)
        let perThread = 5_000
        onThreads(4) { i in
            let t = recorder.makeThread(name: "producer \(i)")
            for k in 0..<perThread {
                recorder.record(t, .enter, .WSPSend, fields: [
                    .uint(UInt64(i + 1)), .buffers([BufferRef(length: UInt32(k), registration: 1, offset: 0)]), .uint(0),
                    .uint(UInt64(k % 16)), .uint(1), .payload(.none),
                ])
            }
        }
        try recorder.close()
        let stalls = recorder.backpressure.stalls
        let reader = try TraceReader(path: path)
        #expect(reader.eventCount == UInt64(4 * perThread))
        #expect(reader.meta["stalls"] == String(stalls))
        #expect(stalls > 0)
        var last: [UInt32: UInt64] = [:]
        var ok = true
        try reader.forEach { r in
            if r.threadSeq != last[r.thread, default: 0] + 1 { ok = false }
            last[r.thread] = r.threadSeq
        }
        #expect(ok)
        #expect(last.count == 4 && last.values.allSatisfy { $0 == UInt64(perThread) })
        let report = try TraceVerifier.verify(path: path)
        #expect(report.isIntact && report.threadGaps.isEmpty)
        let db = try SQLiteConnection(path: path, readOnly: true)
        #expect(try db.scalarInt("SELECT count(*) FROM threads WHERE os_tid IS NOT NULL AND name LIKE 'producer %'") == 4)
    }

    /// Lossy mode drops instead of waiting, counts the drops, and verify shows the gaps.
    @Test func lossyModeCountsWhatItDrops() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("l.santrace")
        let recorder = try TraceRecorder(writer: TraceWriter(path: path, metadata: Fixtures.metadata()), capacity: 8, lossy: true)
        let t = recorder.makeThread()
        for _ in 0..<20_000 { recorder.record(t, .leave, .WSPCloseSocket, fields: [.int(0), .int(0)]) }
        // (record() counts every event it is handed in the thread's sequence, kept or dropped.)
        try recorder.close()
        let drops = recorder.backpressure.drops
        let reader = try TraceReader(path: path)
        #expect(drops > 0)
        #expect(reader.eventCount + drops == 20_000)
        #expect(reader.meta["drops"] == String(drops))
        // Drops between recorded events show as gaps; drops after the last one only in the count.
        let report = try TraceVerifier.verify(path: path)
        let last = try reader.events().last!.threadSeq
        #expect(report.threadGaps.reduce(0) { $0 + $1.missing } + (20_000 - last) == drops)
    }

    @Test func flushCommitsWhatWasRecorded() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("f.santrace")
        let recorder = try TraceRecorder(writer: TraceWriter(path: path, metadata: Fixtures.metadata()))
        let t = recorder.makeThread()
        for _ in 0..<100 { recorder.record(t, .enter, .WSPCleanup, fields: []) }
        try recorder.flush()
        // Another connection sees the committed segment while the recorder is still open.
        #expect(try TraceReader(path: path).eventCount == 100)
        try recorder.close()
    }
}

@Suite struct DurabilityTests {
    /// What a kill -9 leaves: the file and its WAL as they are mid-recording. Every committed
    /// segment reads back; only the open segment is lost.
    @Test func aCrashLosesOnlyTheOpenSegment() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("c.santrace")
        var o = TraceWriterOptions()
        o.segmentRawBytes = 8 << 10
        let w = try TraceWriter(path: path, metadata: Fixtures.metadata(), options: o)
        var g = SyntheticWorkload(.writeBandwidth, seed: 2)
        try g.generate(into: w, events: 10_000)
        let committed = w.eventsCommitted
        #expect(committed > 0 && committed < w.eventsAppended)
        copyFile(path, dir.file("crash.santrace"))
        copyFile(path + "-wal", dir.file("crash.santrace-wal"))
        let report = try TraceVerifier.verify(path: dir.file("crash.santrace"))
        #expect(report.isIntact)
        #expect(!report.closedCleanly)
        let r = try TraceReader(path: dir.file("crash.santrace"))
        #expect(r.eventCount == committed)
        try w.close()
    }

    /// Time-based cut: an idle writer commits its open segment once it is older than the interval.
    @Test func oldSegmentsAreCommittedByFlushIfDue() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = TraceWriterOptions()
        o.segmentInterval = .milliseconds(30)
        let w = try TraceWriter(path: dir.file("t.santrace"), metadata: Fixtures.metadata(), options: o)
        try w.append(.enter, .WSPCleanup, thread: 1, threadSeq: 1, tsc: 1) { _ in }
        try w.flushIfDue()
        #expect(w.segmentsCommitted == 0)
        usleep(60_000)
        try w.flushIfDue()
        #expect(w.segmentsCommitted == 1)
        try w.close()
    }

    /// A forked child's view: the writer abandons the parent's connection and starts its own
    /// trace; the parent's file stays valid.
    @Test func reopenAfterForkStartsAFreshTrace() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let w = try TraceWriter(path: dir.file("parent.santrace"), metadata: Fixtures.metadata())
        try w.append(.enter, .WSPCleanup, thread: 1, threadSeq: 1, tsc: 1) { _ in }
        try w.flush()
        try w.append(.leave, .WSPCleanup, thread: 1, threadSeq: 2, tsc: 2) { f in f.i32(0); f.wsaError(0) }
        var child = Fixtures.metadata()
        child.parentPid = 1234
        try w.reopenAfterFork(path: dir.file("child.santrace"), metadata: child)
        try w.append(.enter, .WSPSocket, thread: 1, threadSeq: 1, tsc: 5) { f in f.i32(2); f.i32(1); f.i32(0); f.flags(1) }
        try w.close()
        let c = try TraceReader(path: dir.file("child.santrace"))
        #expect(c.eventCount == 1 && c.meta["parent_pid"] == "1234")
        #expect(try c.events().first?.function == .WSPSocket)
        #expect(try TraceReader(path: dir.file("parent.santrace")).eventCount == 1)
    }
}
