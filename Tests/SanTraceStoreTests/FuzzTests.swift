import Glibc
import SanTraceFormat
import Testing

@testable import SanTraceStore
import TraceTestSupport

/// Mutated traces never crash, hang or loop: every reader either reads them or throws
/// TraceFormatError. Counts: SANTRACE_FUZZ_BLOBS (default 100 000) mutated segment blobs through
/// the whole segment path (CRC, LZ4 frame, body, records), and SANTRACE_FUZZ_FILES (default
/// 1 000) mutated whole files through TraceReader, the cursor and verify. The long run is
/// SANTRACE_FUZZ_FILES=100000 (Docs/TraceFormat.md §Testing).
@Suite struct FuzzTests {
    static func count(_ name: String, _ fallback: Int) -> Int {
        getenv(name).flatMap { Int(String(cString: $0)) } ?? fallback
    }

    @Test func mutatedSegmentBlobs() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("f.santrace")
        try Fixtures.trace(path, .mixed, events: 3_000, segmentBytes: 4 << 10)
        let reader = try TraceReader(path: path)
        var blobs: [[UInt8]] = []
        let s = try reader.db.prepare("SELECT blob FROM segments ORDER BY id")
        while try s.step() { blobs.append(s.blob(0)) }
        let lz4 = LZ4Frame()
        let body = ByteBuffer()
        let threads = ThreadSequences()
        var rng = SplitMix64(seed: 42)
        let crcs = blobs.map { CRC32C.checksum($0) }
        let rounds = Self.count("SANTRACE_FUZZ_BLOBS", 100_000)
        var outcomes = (decoded: 0, rejected: 0)
        for round in 0..<rounds {
            let which = Int(rng.next() % UInt64(blobs.count))
            var b = blobs[which]
            Self.mutate(&b, &rng, round)
            var r = EventRecord()
            do {
                try b.withUnsafeBytes { raw in
                    // Even rounds check the CRC first, as the reader does; odd rounds skip it so
                    // the LZ4 frame, its content checksum and the decoder see the damage.
                    if round % 2 == 0, CRC32C.checksum(raw) != crcs[which] {
                        throw TraceFormatError(.checksum, "CRC-32C mismatch")
                    }
                    try lz4.decompress(raw, into: body, limit: TraceFormat.maxSegmentBodyBytes)
                }
                var d = try SegmentDecoder(body: body.bytes, threads: threads)
                var n = 0
                while try d.next(into: &r) {
                    n += 1
                    precondition(n <= TraceFormat.maxEventsPerSegment, "decoder does not stop")
                }
                outcomes.decoded += 1
            } catch is TraceFormatError {
                outcomes.rejected += 1
            }
        }
        #expect(outcomes.decoded + outcomes.rejected == rounds)
        #expect(outcomes.rejected > rounds / 2)
    }

    /// Bodies behind a valid LZ4 frame: the decoder itself sees every mutation.
    @Test func mutatedBodiesBehindValidFrames() throws {
        let b = SegmentBuilder()
        b.reset(firstSequence: 0)
        var g = SyntheticWorkload(.mixed, seed: 9)
        try g.generate(into: b, events: 500)
        let good = ByteBuffer()
        b.finish(segment: 0, into: good)
        let original = good.toArray()
        let lz4 = LZ4Frame()
        let frame = ByteBuffer()
        let out = ByteBuffer()
        var rng = SplitMix64(seed: 7)
        var rejected = 0
        let rounds = Self.count("SANTRACE_FUZZ_BODIES", 20_000)
        for round in 0..<rounds {
            var body = original
            Self.mutate(&body, &rng, round)
            try body.withUnsafeBytes { try lz4.compress($0, into: frame) }
            do {
                try lz4.decompress(frame.bytes, into: out, limit: TraceFormat.maxSegmentBodyBytes)
                var d = try SegmentDecoder(body: out.bytes)
                var r = EventRecord()
                while try d.next(into: &r) { _ = TraceEvent(r) }
            } catch {  // typed: always a TraceFormatError
                rejected += 1
            }
        }
        #expect(rejected > rounds / 3)
    }

    @Test func mutatedWholeFiles() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let good = dir.file("good.santrace")
        try Fixtures.trace(good, .mixed, events: 1_500, segmentBytes: 4 << 10)
        let original = readFile(good)
        var rng = SplitMix64(seed: 1234)
        let rounds = Self.count("SANTRACE_FUZZ_FILES", 1_000)
        var outcomes = (read: 0, rejected: 0)
        let path = dir.file("m.santrace")
        for round in 0..<rounds {
            var bytes = original
            Self.mutate(&bytes, &rng, round)
            writeFile(path, bytes)
            do {
                let r = try TraceReader(path: path)
                let c = try r.cursor()
                var e = EventRecord()
                var n = 0
                while try c.next(into: &e) { n += 1 }
                _ = try TraceStats.compute(r)
                let v = try TraceVerifier.verify(path: path)
                _ = v.lines
                outcomes.read += 1
            } catch is TraceFormatError {
                outcomes.rejected += 1
            }
        }
        #expect(outcomes.read + outcomes.rejected == rounds)
        #expect(outcomes.rejected > 0)
    }

    /// One of: flip 1–4 bits, overwrite a run with random bytes, truncate, zero a 4 KiB page,
    /// duplicate a run.
    static func mutate(_ b: inout [UInt8], _ rng: inout SplitMix64, _ round: Int) {
        guard !b.isEmpty else { return }
        func at() -> Int { Int(rng.next() % UInt64(b.count)) }
        switch round % 5 {
        case 0:
            for _ in 0..<(1 + Int(rng.next() % 4)) { b[at()] ^= UInt8(1 << (rng.next() % 8)) }
        case 1:
            let i = at()
            for k in i..<min(b.count, i + 1 + Int(rng.next() % 16)) { b[k] = UInt8(truncatingIfNeeded: rng.next()) }
        case 2:
            b.removeLast(1 + Int(rng.next() % UInt64(b.count)))
        case 3:
            let page = (at() / 4096) * 4096
            for k in page..<min(b.count, page + 4096) { b[k] = 0 }
        default:
            let i = at(), n = min(b.count - i, 1 + Int(rng.next() % 64))
            let j = at()
            let run = Array(b[i..<(i + n)])
            for (k, v) in run.enumerated() where j + k < b.count { b[j + k] = v }
        }
    }
}
