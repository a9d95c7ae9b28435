import SanCore
import SanProviderKit
@testable import SanProviderVerbs
import Testing

/// sg-list construction and its limits.
@Suite struct ScatterGatherTests {
    let keys: [UInt: UInt32] = [0x10: 0xA, 0x20: 0xB]
    func lkey(_ h: UInt) -> UInt32? { self.keys[h] }
    func seg(_ a: UInt, _ n: UInt32, _ h: UInt) -> SanBufferSegment { SanBufferSegment(address: a, length: n, handle: h) }

    @Test func entriesCarryAddressLengthAndKey() {
        let r = VerbsScatterGather.build([self.seg(0x1000, 100, 0x10), self.seg(0x9000, 28, 0x20)], lkey: self.lkey,
                                         maxEntries: 4, maxTotal: 1 << 20)
        #expect(r == .success(VerbsScatterGatherList(entries: [
            VerbsScatterGatherEntry(address: 0x1000, length: 100, lkey: 0xA),
            VerbsScatterGatherEntry(address: 0x9000, length: 28, lkey: 0xB),
        ], total: 128)))
    }

    @Test func emptyBuffersAreLeftOutAndDoNotCount() {
        let segs = [self.seg(0, 0, 0), self.seg(0x1000, 8, 0x10), self.seg(0x2000, 0, 0x99), self.seg(0x3000, 8, 0x10)]
        let r = VerbsScatterGather.build(segs, lkey: self.lkey, maxEntries: 2, maxTotal: 100)
        #expect((try? r.get())?.entries.count == 2)
        #expect((try? r.get())?.total == 16)
        #expect(VerbsScatterGather.build([], lkey: self.lkey, maxEntries: 1, maxTotal: 1)
            == .success(VerbsScatterGatherList(entries: [], total: 0)))
    }

    @Test func tooManyEntriesIsInvalid() {
        let segs = (0..<5).map { self.seg(0x1000 * UInt($0 + 1), 1, 0x10) }
        #expect(VerbsScatterGather.build(segs, lkey: self.lkey, maxEntries: 4, maxTotal: 100) == .failure(.invalidArgument))
        #expect((try? VerbsScatterGather.build(segs, lkey: self.lkey, maxEntries: 5, maxTotal: 100).get())?.total == 5)
    }

    @Test func tooLongIsMessageSize() {
        let segs = [self.seg(0x1000, 60, 0x10), self.seg(0x2000, 41, 0x10)]
        #expect(VerbsScatterGather.build(segs, lkey: self.lkey, maxEntries: 4, maxTotal: 100) == .failure(.messageSize))
        #expect((try? VerbsScatterGather.build(segs, lkey: self.lkey, maxEntries: 4, maxTotal: 101).get())?.total == 101)
        // The sum is taken in 64 bits: two maximal buffers do not wrap around.
        let huge = [self.seg(0x1000, UInt32.max, 0x10), self.seg(0x2000, UInt32.max, 0x10)]
        #expect(VerbsScatterGather.build(huge, lkey: self.lkey, maxEntries: 4, maxTotal: UInt32.max) == .failure(.messageSize))
    }

    @Test func aHandleWithoutRegionIsInvalid() {
        #expect(VerbsScatterGather.build([self.seg(0x1000, 1, 0x30)], lkey: self.lkey, maxEntries: 4, maxTotal: 100)
            == .failure(.invalidArgument))
    }
}
