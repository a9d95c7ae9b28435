import CSanReplay
import Testing

@testable import SanReplay

/// The payload stream: any window is computed without the bytes before it, and verify finds
/// the first differing byte.
struct PayloadStreamTests {
    @Test func windowsAgreeWithTheWholeStream() {
        let seed: UInt64 = 0x1234_5678_9abc_def0
        var whole = [UInt8](repeating: 0, count: 1000)
        csan_replay_fill(&whole, 1000, seed, 0)
        for (start, length) in [(0, 1000), (1, 7), (3, 64), (999, 1), (8, 16), (13, 500)] {
            var part = [UInt8](repeating: 0, count: length)
            csan_replay_fill(&part, UInt64(length), seed, UInt64(start))
            #expect(part == Array(whole[start..<(start + length)]))
            #expect(csan_replay_verify(part, UInt64(length), seed, UInt64(start)) == -1)
        }
    }

    @Test func verifyReportsTheFirstDifference() {
        var b = [UInt8](repeating: 0, count: 300)
        csan_replay_fill(&b, 300, 42, 5)
        b[17] ^= 1
        b[200] ^= 0x80
        #expect(csan_replay_verify(b, 300, 42, 5) == 17)
        #expect(csan_replay_verify(b, 300, 43, 5) == 0 || csan_replay_verify(b, 300, 43, 5) < 8)
    }
}
