/// The fixed 40-byte header at the start of every decompressed segment body (all little-endian):
///
///     0  u32 magic "SSG1" (0x31475353)
///     4  u32 event count
///     8  u64 segment number (0, 1, 2 … in commit order)
///    16  u64 first sequence (global sequence number of the segment's first event)
///    24  u64 base TSC (the first event's TSC is base + its delta)
///    32  u32 records length (bytes of the record stream that follows the header)
///    36  u32 TSC stream length (bytes of the TSC-delta stream that follows the records)
///
/// The body is exactly header + records + TSC stream; anything else is corrupt.
public struct SegmentHeader: Equatable, Sendable {
    public var eventCount: UInt32
    public var segment: UInt64
    public var firstSequence: UInt64
    public var baseTSC: UInt64
    public var recordsLength: UInt32
    public var tscLength: UInt32

    public init(eventCount: UInt32, segment: UInt64, firstSequence: UInt64, baseTSC: UInt64,
                recordsLength: UInt32, tscLength: UInt32) {
        self.eventCount = eventCount
        self.segment = segment
        self.firstSequence = firstSequence
        self.baseTSC = baseTSC
        self.recordsLength = recordsLength
        self.tscLength = tscLength
    }

    /// Appends the 40 header bytes.
    public func write(to out: ByteBuffer) {
        out.putU32LE(TraceFormat.segmentMagic)
        out.putU32LE(self.eventCount)
        out.putU64LE(self.segment)
        out.putU64LE(self.firstSequence)
        out.putU64LE(self.baseTSC)
        out.putU32LE(self.recordsLength)
        out.putU32LE(self.tscLength)
    }

    /// Parses and checks a body's header against the body's size.
    public init(parsing body: UnsafeRawBufferPointer) throws(TraceFormatError) {
        guard body.count >= TraceFormat.segmentHeaderSize else {
            throw TraceFormatError(.corruptRecord, "segment body of \(body.count) bytes is shorter than its header", offset: 0)
        }
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: body.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: body.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        guard u32(0) == TraceFormat.segmentMagic else {
            throw TraceFormatError(.corruptRecord, "segment body magic is 0x\(String(u32(0), radix: 16)), not SSG1", offset: 0)
        }
        self.eventCount = u32(4)
        self.segment = u64(8)
        self.firstSequence = u64(16)
        self.baseTSC = u64(24)
        self.recordsLength = u32(32)
        self.tscLength = u32(36)
        let total = TraceFormat.segmentHeaderSize + Int(self.recordsLength) + Int(self.tscLength)
        guard total == body.count else {
            throw TraceFormatError(.corruptRecord,
                                   "segment header announces \(total) bytes, body has \(body.count)", offset: 32)
        }
        guard Int(self.eventCount) <= TraceFormat.maxEventsPerSegment else {
            throw TraceFormatError(.corruptRecord, "segment announces \(self.eventCount) events", offset: 4)
        }
        // Each event takes at least 3 record bytes (op, thread or flag, length) and 1 TSC byte.
        guard Int(self.tscLength) >= Int(self.eventCount), Int(self.recordsLength) >= 3 * Int(self.eventCount) else {
            throw TraceFormatError(.corruptRecord, "segment announces \(self.eventCount) events in too few bytes", offset: 4)
        }
    }
}
