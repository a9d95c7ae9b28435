import CSanTrace

/// The drain's position in one thread's ring during a pass: from the ring's tail up to the head
/// it saw when the pass began. Walks over padding, checks each record's header (size, alignment,
/// bounds) and exposes the next record's timestamp for the merge.
///
/// Unsafe code: the ring memory, shared with the producer (which only writes beyond `head` and
/// only reuses space below `tail` once the drain released it).
struct RingCursor {
    let ring: OpaquePointer
    /// Capture thread number of the ring's owner (constant during a pass: only the drain recycles rings).
    let thread: UInt32
    private(set) var position: UInt64
    let end: UInt64
    private var released: UInt64
    /// The next record, valid while `available`.
    private(set) var record = RawRecord(base: UnsafeRawPointer(bitPattern: 8)!)
    private(set) var nextTSC: UInt64 = .max
    private(set) var available = false
    /// Set when the converter asked to hold the ring's next record until the next pass.
    var held = false
    /// How full the ring was when the pass began (0 … 1): the drain's pacing signal.
    let fill: Double
    /// Records whose header was impossible (a producer bug or damaged memory): skipped to `end`.
    private(set) var malformed: UInt64 = 0

    /// Hands space back to the producer at least this often within a pass.
    static let releaseChunk: UInt64 = 64 << 10

    init?(_ ring: OpaquePointer) {
        let head = csan_ring_head(ring)  // acquire: everything before it is complete
        let tail = csan_ring_tail(ring)
        guard head != tail else { return nil }
        self.ring = ring
        self.thread = csan_ring_thread(ring)  // read after head: the owner that wrote those records
        self.position = tail
        self.end = head
        self.released = tail
        self.fill = Double(head &- tail) / Double(csan_ring_capacity(ring))
        self.settle()
    }

    var osTid: UInt64 { csan_ring_os_tid(self.ring) }
    var threadName: String { String(cString: csan_ring_name(self.ring)) }

    /// Moves past the current record (converted or dropped).
    @inline(__always)
    mutating func advance() {
        self.position &+= UInt64(self.record.size)
        if self.position &- self.released >= Self.releaseChunk {
            csan_ring_release(self.ring, self.position)
            self.released = self.position
        }
        self.settle()
    }

    /// Skips padding and checks the record at `position`.
    @inline(__always)
    private mutating func settle() {
        while self.position < self.end {
            let base = UnsafeRawPointer(csan_ring_record(self.ring, self.position)!)
            let r = RawRecord(base: base)
            let size = UInt64(r.size)
            let minimum: UInt64 = r.kind == UInt8(CSAN_KIND_PAD) ? 8 : UInt64(RawRecord.headerSize)
            guard size >= minimum, size & 7 == 0, self.position &+ size <= self.end else {
                self.malformed &+= 1
                self.position = self.end  // cannot resynchronise inside the ring: skip what is there
                break
            }
            if r.kind == UInt8(CSAN_KIND_PAD) {
                self.position &+= size
                continue
            }
            self.record = r
            self.nextTSC = r.tsc
            self.available = true
            return
        }
        self.available = false
        self.nextTSC = .max
    }

    /// Hands everything consumed back to the producer (end of the pass).
    mutating func release() {
        if self.position != self.released {
            csan_ring_release(self.ring, self.position)
            self.released = self.position
        }
    }
}
