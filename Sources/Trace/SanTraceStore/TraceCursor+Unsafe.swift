import SanTraceFormat

/// The cursor's decoder lives in memory the cursor allocates, not in a stored property: a
/// mutating call on a struct stored in a class copies the struct out and back (~200 bytes per
/// event, a fifth of reading a trace), and an Optional would be copied too.
///
/// Unsafe code, and why it is safe: the memory is allocated and initialized (with an empty
/// decoder) in the cursor's init, deinitialized and freed in its deinit, and used only by that
/// cursor, which is confined to one thread (like its reader). It is never handed out.
extension TraceCursor {
    static func allocateDecoder() -> UnsafeMutablePointer<SegmentDecoder> {
        let p = UnsafeMutablePointer<SegmentDecoder>.allocate(capacity: 1)
        p.initialize(to: SegmentDecoder())
        return p
    }

    static func freeDecoder(_ p: UnsafeMutablePointer<SegmentDecoder>) {
        p.deinitialize(count: 1)
        p.deallocate()
    }

    /// The current segment's next event, decoded in place.
    @inline(__always)
    func decodeNext(into r: inout EventRecord) throws(TraceFormatError) -> Bool {
        try self.decoder.pointee.next(into: &r)
    }

    /// Starts decoding a new segment (the previous decoder is replaced in place).
    func startDecoding(_ d: SegmentDecoder) {
        self.decoder.pointee = d
    }
}
