import SanTraceFormat
import Testing

@testable import SanTraceStore

/// The LZ4 content checksum the reader checks itself (liblz4 is told to skip it): the published
/// XXH32 vectors, agreement with liblz4's own on frames it wrote, and a wrong checksum refused.
@Suite struct XXH32Tests {
    func hash(_ s: String) -> UInt32 { Array(s.utf8).withUnsafeBytes { XXH32.hash($0) } }

    @Test func referenceVectors() {
        #expect(self.hash("") == 0x02CC_5D05)
        #expect(self.hash("a") == 0x550D_7456)
        #expect(self.hash("abc") == 0x32D1_53FF)
        #expect(self.hash("Nobody inspects the spammish repetition") == 0xE229_3B2F)
    }

    @Test func agreesWithLiblz4AndRefusesAWrongChecksum() throws {
        let lz4 = LZ4Frame()
        var rng = SystemRandomNumberGenerator()
        for length in [1, 3, 15, 16, 17, 100, 4096, 70_001] {
            // Compressible but not trivial: small values, as in a segment body.
            let body = (0..<length).map { _ in UInt8.random(in: 0...7, using: &rng) }
            let frame = ByteBuffer(capacity: 64)
            try body.withUnsafeBytes { try lz4.compress($0, into: frame) }
            // liblz4 wrote the content checksum; our check accepts it.
            let out = ByteBuffer(capacity: 64)
            try lz4.decompress(frame.bytes, into: out, limit: 1 << 20)
            #expect(Array(out.bytes) == body)
            let stored = frame.bytes.loadUnaligned(fromByteOffset: frame.count - 4, as: UInt32.self)
            #expect(UInt32(littleEndian: stored) == body.withUnsafeBytes { XXH32.hash($0) })
            // One bit of the stored checksum flipped: refused.
            var bad = Array(frame.bytes)
            bad[bad.count - 1] ^= 0x10
            #expect(throws: TraceFormatError.self) { try bad.withUnsafeBytes { try lz4.decompress($0, into: out, limit: 1 << 20) } }
        }
    }
}
