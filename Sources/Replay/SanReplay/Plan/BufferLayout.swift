import SanTraceFormat

/// The replay's memory for one endpoint: one block per group of overlapping recorded ranges.
///
/// A recorded address is (registration id, offset), or (0, raw address) for memory no
/// registration covered. Every registration's raw range is resolved (a registration inside an
/// earlier one is at that one's raw address plus its offset), every range the calls touch is
/// collected, and overlapping ranges are merged: registrations of the same memory (aliases, a
/// region and the control buffers inside it, a buffer registered again after a deregistration)
/// share a block at the same relative offsets, exactly as they shared memory when recorded.
struct BufferLayout {
    struct Interval {
        var start: UInt64
        var end: UInt64
    }

    /// Block extents in recorded raw addresses, sorted and disjoint.
    private(set) var blocks: [Interval] = []
    /// Registration id → its recorded raw start.
    private var registrationStart: [UInt64: UInt64] = [:]

    /// Largest block, and most memory in all blocks of an endpoint, the replay allocates (a
    /// hostile or corrupt trace must not make it try to allocate terabytes).
    static let maxBlock: UInt64 = 1 << 30
    static let maxTotal: UInt64 = 4 << 30

    init(_ t: EndpointTrace) throws(ReplayError) {
        var intervals: [Interval] = []
        for c in t.calls {
            switch c.function {
            case .WSPRegisterMemory, .WSPRegisterRdmaMemory, .WSPMemoryRegistrationCacheCallback:
                guard let b = t.bufferList(c).first else { continue }
                let raw = self.raw(b)
                let len = UInt64(max(Int64(0), c.p0))
                intervals.append(Interval(start: raw, end: raw &+ max(len, 1)))
                if c.function == .WSPRegisterMemory, !c.failed, c.retObject != 0, self.registrationStart[c.retObject] == nil {
                    self.registrationStart[c.retObject] = raw
                }
            case .WSPSend, .WSPRecv, .WSPRdmaWrite, .WSPRdmaRead, .WSPRecvFrom, .WSPSendTo:
                for b in t.bufferList(c) {
                    let raw = self.raw(b)
                    intervals.append(Interval(start: raw, end: raw &+ max(UInt64(b.length), 1)))
                }
            default:
                continue
            }
        }
        intervals.sort { $0.start < $1.start }
        for i in intervals where i.end > i.start {
            if let last = self.blocks.last, i.start < last.end {
                self.blocks[self.blocks.count - 1].end = max(last.end, i.end)
            } else {
                self.blocks.append(i)
            }
        }
        for b in self.blocks where b.end - b.start > Self.maxBlock {
            throw ReplayError.unsupported("\(t.name): the recorded buffers span one range of \(b.end - b.start) bytes (more than \(Self.maxBlock)); the replay will not allocate it")
        }
        let total = self.blocks.reduce(UInt64(0)) { $0 + ($1.end - $1.start) }
        if total > Self.maxTotal {
            throw ReplayError.unsupported("\(t.name): the recorded buffers need \(total) bytes (more than \(Self.maxTotal)); the replay will not allocate them")
        }
        if self.blocks.isEmpty { self.blocks.append(Interval(start: 0, end: 64)) }
    }

    /// The recorded raw address of a buffer reference. A registration the trace never saw made
    /// (registered before recording began) gets a private range of its own.
    func raw(_ b: BufferRef) -> UInt64 {
        if b.registration == 0 { return b.offset }
        if let s = self.registrationStart[b.registration] { return s &+ b.offset }
        return 0xF000_0000_0000_0000 &+ (b.registration << 32) &+ b.offset
    }

    /// (block, offset in the block) of a buffer reference.
    func locate(_ b: BufferRef) -> (block: Int32, offset: UInt64) {
        let raw = self.raw(b)
        var lo = 0, hi = self.blocks.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let blk = self.blocks[mid]
            if raw < blk.start { hi = mid - 1 } else if raw >= blk.end { lo = mid + 1 } else {
                return (Int32(mid), raw - blk.start)
            }
        }
        return (0, 0)  // a zero-length reference outside every block
    }

    func size(_ block: Int) -> UInt64 { self.blocks[block].end - self.blocks[block].start }
}
