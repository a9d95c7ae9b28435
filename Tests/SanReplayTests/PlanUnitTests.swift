import SanTraceFormat
import Testing

@testable import SanReplay

/// Pieces of the planner on their own: options, addresses, buffer layout, source tracking.
struct PlanUnitTests {
    @Test func paceParsing() {
        #expect(ReplayPace("asap") == .asap && ReplayPace("recorded") == .recorded)
        #expect(ReplayPace("x2") == .scaled(2) && ReplayPace("x0.5")?.factor == 0.5)
        for bad in ["", "x", "x0", "x-1", "xnan", "fast", "2"] { #expect(ReplayPace(bad) == nil, "\(bad)") }
    }

    @Test func addressesMatchListeners() throws {
        let wildcard = RecordedAddress(family: 2, ip: [0, 0, 0, 0], port: 7000)
        let loop = RecordedAddress(family: 2, ip: [127, 0, 0, 1], port: 7000)
        let other = RecordedAddress(family: 2, ip: [10, 1, 2, 3], port: 7000)
        #expect(wildcard.accepts(loop) && wildcard.accepts(other))
        #expect(loop.accepts(RecordedAddress(family: 2, ip: [127, 0, 0, 2], port: 7000)))
        #expect(!loop.accepts(other) && !loop.accepts(RecordedAddress(family: 2, ip: [127, 0, 0, 1], port: 7001)))
        #expect(RecordedAddress(loop.bytes) == loop && loop.description == "127.0.0.1:7000")
        let v6 = RecordedAddress.loopback(family: 10, port: 9)
        #expect(RecordedAddress(v6.bytes) == v6 && v6.isLoopback && v6.description == "[::1]:9")
        #expect(RecordedAddress([1, 2, 3]) == nil && RecordedAddress([7, 0, 0, 1, 0, 0, 0, 0]) == nil)
    }

    @Test func overlappingOperationsShareOrInheritContent() {
        var t = SourceTracker()
        let a = [(block: Int32(0), start: UInt64(0), end: UInt64(100))]
        // Nothing in flight: the first send fills its buffer.
        guard case .fill(let w0) = t.start(0, kind: .send, ranges: a, at: 10, until: 50), w0.isEmpty else {
            Issue.record("first send must fill")
            return
        }
        // Same buffer while the first is still in flight: it carries the same bytes.
        guard case .inherit(0) = t.start(1, kind: .send, ranges: a, at: 20, until: 60) else {
            Issue.record("a send from the same buffer in flight inherits")
            return
        }
        // A partial overlap in flight: unknown.
        guard case .unknown = t.start(2, kind: .rdmaWrite, ranges: [(0, 50, 150)], at: 30, until: 70) else {
            Issue.record("a partial overlap is unknown")
            return
        }
        // Once all are done (recorded), the next fill waits for them live first.
        guard case .fill(let w) = t.start(3, kind: .send, ranges: a, at: 100, until: 110) else {
            Issue.record("a later send fills")
            return
        }
        #expect(w.sorted() == [0, 1, 2])
    }

    @Test func writesCoverEachOther() {
        let pieces = DataLinker.subtract((0, 0, 100), [(0, 10, 20), (0, 90, 200), (1, 0, 100)])
        #expect(pieces.map { [$0.start, $0.end] } == [[0, 10], [20, 90]])
        #expect(DataLinker.subtract((0, 0, 10), [(0, 0, 10)]).isEmpty)
    }

    @Test func reportFormatsNumbersWithoutFoundation() {
        #expect(fixed(1.005, 2) == "1.01" || fixed(1.005, 2) == "1.00")
        #expect(fixed(12345.678, 1) == "12345.7" && fixed(-0.25, 2) == "-0.25" && fixed(3, 0) == "3")
        #expect(nsText(999) == "999ns" && nsText(1500) == "1.50us" && nsText(2_500_000) == "2.50ms")
        #expect(byteText(2048) == "2.00 KiB")
    }
}
