import Testing

@testable import SanTraceStore

/// The segment checksum: the check value of the format contract, and the SSE4.2 instruction path
/// equal to the table path on every length and alignment (they must never disagree, or traces
/// written on one machine would fail verification on another).
@Suite struct CRC32CTests {
    @Test func checkValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        Array("123456789".utf8).withUnsafeBytes { #expect(CRC32C.software($0) == 0xE306_9283) }
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func instructionMatchesTables() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { all in
            for offset in 0..<9 {
                for length in [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4000] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    #expect(CRC32C.checksum(slice) == CRC32C.software(slice), "offset \(offset) length \(length)")
                }
            }
        }
    }
}
