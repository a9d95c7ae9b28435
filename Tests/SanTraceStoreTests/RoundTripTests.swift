import SanTraceFormat
import Testing

@testable import SanTraceStore
import TraceTestSupport

@Suite struct RoundTripTests {
    static func metadata() -> TraceMetadata {
        TraceMetadata(argv: ["sanperf", "write_bw"], providerPath: "libsan_null.so", providerVersion: "1",
                      payloadPolicy: .none, captureOptions: [("buffer", "1MiB")], clock: SyntheticWorkload.clock)
    }

    /// Writes a synthetic trace, reads every event back, and compares with what was generated.
    @Test(arguments: SyntheticWorkload.Kind.allCases)
    func syntheticRoundTrip(_ kind: SyntheticWorkload.Kind) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        // Reference: the same events encoded into a bare segment and decoded.
        var options = TraceWriterOptions()
        options.segmentRawBytes = 16 << 10  // many segments
        let path = dir.file("t.santrace")
        let writer = try TraceWriter(path: path, metadata: Self.metadata(), options: options)
        var gen = SyntheticWorkload(kind, seed: 7)
        let n = try gen.generate(into: writer, events: 20_000)
        try writer.close()
        #expect(writer.segmentsCommitted > 3)

        let builder = SegmentBuilder()
        var gen2 = SyntheticWorkload(kind, seed: 7)
        builder.reset(firstSequence: 0)
        let n2 = try gen2.generate(into: builder, events: 20_000)
        #expect(n == n2)
        let body = ByteBuffer()
        builder.finish(segment: 0, into: body)
        var expected: [TraceEvent] = []
        var d = try SegmentDecoder(body: body.bytes)
        var r = EventRecord()
        while try d.next(into: &r) { expected.append(TraceEvent(r)) }

        let reader = try TraceReader(path: path)
        let got = try reader.events()
        #expect(got.count == n)
        #expect(got.count == expected.count && got == expected, "decoded events differ from the encoded ones")
        #expect(reader.eventCount == UInt64(n))
        #expect(reader.argv == ["sanperf", "write_bw"])
        #expect(reader.meta["option.buffer"] == "1MiB")
        #expect(reader.isClosed)
        // Sequence numbers are 0…n-1 and per-thread sequences count up from 1 without gaps.
        #expect(got.map(\.sequence).elementsEqual(0..<UInt64(n)))
        var perThread: [UInt32: UInt64] = [:]
        for e in got {
            #expect(e.threadSeq == perThread[e.thread, default: 0] + 1)
            perThread[e.thread] = e.threadSeq
        }
    }

    @Test func fieldMismatchIsRejectedAndLeavesNothing() throws {
        let b = SegmentBuilder()
        b.reset(firstSequence: 0)
        #expect(throws: RecordEncodingError.self) {
            try b.append(.enter, .WSPSocket, thread: 1, threadSeq: 1, tsc: 10) { w in w.i32(2); w.u32(1) }
        }
        #expect(throws: RecordEncodingError.self) {
            try b.append(.enter, .WSPSocket, thread: 1, threadSeq: 1, tsc: 10) { w in w.i32(2) }
        }
        #expect(throws: RecordEncodingError.self) {
            try b.append(.upcall, .WSPSend, thread: 1, threadSeq: 1, tsc: 10) { _ in }
        }
        #expect(throws: RecordEncodingError.self) {
            try b.append(.enter, .WSPCleanup, thread: 0, threadSeq: 1, tsc: 10) { _ in }
        }
        #expect(b.eventCount == 0)
        #expect(b.records.count == 0)
        try b.append(.enter, .WSPSocket, thread: 1, threadSeq: 1, tsc: 10) { w in w.i32(2); w.i32(1); w.i32(0); w.flags(1) }
        #expect(b.eventCount == 1)
    }

    @Test func indexTablesDescribeTheTrace() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("t.santrace")
        let writer = try TraceWriter(path: path, metadata: Self.metadata())
        var gen = SyntheticWorkload(.mixed, seed: 3)
        let n = try gen.generate(into: writer, events: 5000)
        try writer.close()
        let db = try SQLiteConnection(path: path, readOnly: true)
        #expect(try db.scalarInt("SELECT sum(events) FROM segments") == Int64(n))
        #expect(try db.scalarInt("SELECT sum(events) FROM function_summary") == Int64(n))
        #expect(try db.scalarInt("SELECT count(*) FROM sockets WHERE peer = '127.0.0.1:40001'") == 1)
        // Churn registrations: 8 are still live at the end, besides the 3 setup registrations.
        let live = try db.scalarInt("SELECT count(*) FROM registrations WHERE kind = 'memory' AND deregistered_seq IS NULL")
        #expect(live == Int64(3 + 8))
        #expect(try db.scalarInt("SELECT count(*) FROM descriptors WHERE length(bytes) = 24") == 3)
        #expect(try db.scalarInt("SELECT count(*) FROM threads") == 3)
        #expect(try db.scalarInt("PRAGMA application_id") == Int64(TraceFormat.applicationID))
    }
}
