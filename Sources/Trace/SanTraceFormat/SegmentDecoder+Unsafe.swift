#if canImport(Glibc)
import Glibc
#endif

/// The low-level cursor over one decompressed segment body: validates everything it reads
/// (hostile input yields a ``TraceFormatError`` with the offset, never a crash or a loop) and
/// decodes each event into a caller-owned ``EventRecord`` without allocating.
///
/// Unsafe code: reads the body through a raw pointer. Every read is preceded by a bounds check
/// against the end of the stream it belongs to.
public struct SegmentDecoder {
    public let header: SegmentHeader
    @usableFromInline let base: UnsafeRawPointer
    @usableFromInline let recordsEnd: Int
    @usableFromInline let tscEnd: Int
    @usableFromInline var position: Int
    @usableFromInline var tscPosition: Int
    @usableFromInline var index: UInt32 = 0
    @usableFromInline var lastTSC: UInt64
    @usableFromInline var lastThread: UInt32 = 0
    /// Always `FieldLayout.compiled`, which is immortal: unowned(unsafe) spares the reference
    /// counting a copy of the decoder would otherwise cost.
    @usableFromInline unowned(unsafe) let layout: FieldLayout
    @usableFromInline let types: UnsafePointer<UInt8>
    @usableFromInline let threads: ThreadSequences
    /// The layout's and the thread state's tables, held directly so the hot path loads them
    /// without going through the objects.
    @usableFromInline let starts: UnsafePointer<Int32>
    @usableFromInline let counts: UnsafePointer<UInt8>
    @usableFromInline let fieldKinds: UnsafePointer<UInt8>
    @usableFromInline let fieldLimits: UnsafePointer<UInt64>
    @usableFromInline let seenIn: UnsafeMutablePointer<UInt32>
    @usableFromInline let lastSeq: UnsafeMutablePointer<UInt64>
    @usableFromInline let generation: UInt32

    /// Starts decoding `body`, which must stay valid and unchanged while the decoder is used.
    /// `threads` is scratch state (reuse one per reader to avoid allocating per segment).
    public init(body: UnsafeRawBufferPointer, threads: ThreadSequences = ThreadSequences()) throws(TraceFormatError) {
        let header = try SegmentHeader(parsing: body)
        threads.newSegment()
        let recordsEnd = TraceFormat.segmentHeaderSize + Int(header.recordsLength)
        self.init(header: header, base: body.baseAddress!, recordsStart: TraceFormat.segmentHeaderSize,
                  recordsEnd: recordsEnd, tscEnd: recordsEnd + Int(header.tscLength),
                  threads: threads)
    }

    init(header: SegmentHeader, base: UnsafeRawPointer, recordsStart: Int, recordsEnd: Int, tscEnd: Int,
         threads: ThreadSequences) {
        let layout = FieldLayout.compiled
        self.header = header
        self.base = base
        self.position = recordsStart
        self.recordsEnd = recordsEnd
        self.tscPosition = recordsEnd
        self.tscEnd = tscEnd
        self.lastTSC = header.baseTSC
        self.layout = layout
        self.types = UnsafePointer(layout.typesPointer)
        self.threads = threads
        self.starts = UnsafePointer(layout.startsPointer)
        self.counts = UnsafePointer(layout.countsPointer)
        self.fieldKinds = UnsafePointer(layout.fieldKindsPointer)
        self.fieldLimits = UnsafePointer(layout.fieldLimitsPointer)
        self.seenIn = threads.seenIn
        self.lastSeq = threads.lastSeq
        self.generation = threads.generation
    }

    /// Events left.
    public var remaining: Int { Int(self.header.eventCount - self.index) }

    /// Byte offset of the next record in the body (for error reports).
    public var offset: Int { self.position }

    /// Decodes the next event into `record`; false at the end of the segment (after checking that
    /// both streams were consumed exactly).
    @inlinable @inline(__always)
    public mutating func next(into record: inout EventRecord) throws(TraceFormatError) -> Bool {
        guard self.index < self.header.eventCount else {
            try self.checkEnd()
            return false
        }
        try self.decode(into: &record)
        return true
    }

    @usableFromInline @inline(never)
    func checkEnd() throws(TraceFormatError) {
        guard self.position == self.recordsEnd else {
            throw self.fail("\(self.recordsEnd - self.position) bytes after the last record", at: self.position)
        }
        guard self.tscPosition == self.tscEnd else {
            throw self.fail("\(self.tscEnd - self.tscPosition) bytes after the last TSC delta", at: self.tscPosition)
        }
    }

    @inline(never)
    func fail(_ what: String, at offset: Int) -> TraceFormatError {
        TraceFormatError(.corruptRecord, "event \(self.header.firstSequence &+ UInt64(self.index)): \(what)",
                         segment: Int64(bitPattern: self.header.segment), offset: offset)
    }

    /// What can be wrong with a record's framing. The messages are built out of line
    /// (``failure(_:at:)``): string interpolation in the hot function costs it a large stack
    /// frame and spilled registers.
    @usableFromInline enum Framing {
        case recordStreamEnds, badOp(UInt8), badFunction, badThread, sameThreadFirst, unseenThread(UInt32)
        case sequencePastEnd, lengthPastEnd, tscStreamEnds
    }

    @usableFromInline @inline(never)
    func failure(_ f: Framing, at offset: Int) -> TraceFormatError {
        switch f {
        case .recordStreamEnds: return self.fail("record stream ends early", at: offset)
        case .badOp(let op): return self.fail("bad op byte 0x\(String(op, radix: 16))", at: offset)
        case .badFunction: return self.fail("bad function id", at: offset)
        case .badThread: return self.fail("bad thread id", at: offset)
        case .sameThreadFirst: return self.fail("first record of a segment says 'same thread'", at: offset)
        case .unseenThread(let t): return self.fail("'next sequence' for thread \(t), unseen in this segment", at: offset)
        case .sequencePastEnd: return self.fail("thread sequence runs past the end", at: offset)
        case .lengthPastEnd: return self.fail("fields length past the end of the records", at: offset)
        case .tscStreamEnds: return self.fail("TSC stream ends early", at: offset)
        }
    }

    @inlinable @inline(__always)
    mutating func decode(into r: inout EventRecord) throws(TraceFormatError) {
        // Everything in locals: the hot loop must not copy the decoder or touch reference counts.
        // Varints are read with ``readVarintWord`` (branch-free within 8 bytes, exact fallback).
        let base = self.base
        let end = self.recordsEnd
        var p = self.position
        let recordStart = p
        guard p < end else { throw self.failure(.recordStreamEnds, at: p) }
        let op = base.load(fromByteOffset: p, as: UInt8.self)
        p &+= 1
        let kindRaw = op & RecordOp.kindMask
        guard op & RecordOp.reservedMask == 0, kindRaw &- 1 < 5 else { throw self.failure(.badOp(op), at: recordStart) }
        // FunctionID.none, as a literal: inlined into another module, the static would be read
        // through its accessor at every event.
        var function: UInt16 = 0xFFFF
        var slot = FieldLayout.slot(kindRaw, 0)
        if (0x16 &>> kindRaw) & 1 != 0 {  // ENTER (1), LEAVE (2) and UPCALL (4) name their function
            guard let f = readVarint(base, &p, end), f <= UInt64(FunctionID.maxRawValue) else {
                throw self.failure(.badFunction, at: recordStart)
            }
            function = UInt16(truncatingIfNeeded: f)
            slot &+= Int(truncatingIfNeeded: f)
        }
        var thread = self.lastThread
        if op & RecordOp.sameThread == 0 {
            guard let t = readVarint(base, &p, end), t &- 1 < UInt64(TraceFormat.maxThreadID) else {
                throw self.failure(.badThread, at: recordStart)
            }
            thread = UInt32(truncatingIfNeeded: t)
        } else if self.index == 0 {
            throw self.failure(.sameThreadFirst, at: recordStart)
        }
        let seq: UInt64
        if op & RecordOp.nextSequence != 0 {
            // thread ≤ maxThreadID: checked above, or the previous record's (checked then).
            guard self.seenIn[Int(thread)] == self.generation else {
                throw self.failure(.unseenThread(thread), at: recordStart)
            }
            seq = self.lastSeq[Int(thread)] &+ 1
        } else {
            guard let s = readVarint(base, &p, end) else { throw self.failure(.sequencePastEnd, at: recordStart) }
            seq = s
        }
        guard let length = readVarint(base, &p, end), length <= UInt64(end &- p) else {
            throw self.failure(.lengthPastEnd, at: recordStart)
        }
        let fieldsEnd = p &+ Int(truncatingIfNeeded: length)
        var tp = self.tscPosition
        guard let delta = readVarint(base, &tp, self.tscEnd) else {
            throw self.failure(.tscStreamEnds, at: self.tscPosition)
        }
        let tsc = self.lastTSC &+ UInt64(bitPattern: zigzagDecode(delta))

        r.sequence = self.header.firstSequence &+ UInt64(self.index)
        r.kind = eventKind(kindRaw)
        r.function = FunctionID(function)
        r.thread = thread
        r.threadSeq = seq
        r.tsc = tsc
        r.body = base
        r.types = self.types
        let start = self.starts[slot]
        var i = 0
        if start >= 0 {
            let count = Int(self.counts[slot])
            let kinds = self.fieldKinds + Int(start)
            let limits = self.fieldLimits + Int(start)
            while i < count && p < fieldsEnd {
                let k = kinds[i]
                var v: UInt64
                if _fastPath(k < FieldLayout.compoundField) {
                    // A scalar: one varint within its type's limit (signed types: the zigzag
                    // encoding ≤ UInt32.max is exactly an Int32). Decoded without a branch on
                    // the sign.
                    guard let u = readVarint(base, &p, fieldsEnd), u <= limits[i] else {
                        throw self.malformed(i, self.types[Int(start) &+ i], p)
                    }
                    // Zigzag for s = 1 (signed), the identity for s = 0.
                    let s = UInt64(k)
                    v = (u &>> s) ^ (0 &- (u & s))
                } else {
                    let t = self.types[Int(start) &+ i]
                    let at = p
                    if t == FieldType.payload.rawValue && base.load(fromByteOffset: p, as: UInt8.self) == 0 {
                        p &+= 1  // the usual payload: policy 0, nothing follows (p < fieldsEnd: loop condition)
                    } else if t == FieldType.callRef.rawValue || t == FieldType.address.rawValue {
                        guard readVarint(base, &p, fieldsEnd) != nil, readVarint(base, &p, fieldsEnd) != nil else {
                            throw self.malformed(i, t, p)
                        }
                    } else {
                        let q = checkCompound(base, t, p, fieldsEnd)
                        guard q >= 0 else { throw self.malformed(i, t, p) }
                        p = q
                    }
                    v = UInt64(at) << 32 | UInt64(p &- at)
                }
                r.slots[i] = v
                i &+= 1
            }
            r.typesStart = Int(start)
        } else {
            r.typesStart = -1
        }
        r.fieldCount = i
        self.position = fieldsEnd
        self.tscPosition = tp
        self.lastTSC = tsc
        self.lastThread = thread
        self.seenIn[Int(thread)] = self.generation
        self.lastSeq[Int(thread)] = seq
        self.index &+= 1
    }

    @usableFromInline @inline(never)
    func malformed(_ i: Int, _ t: UInt8, _ p: Int) -> TraceFormatError {
        self.fail("field \(i) (\(FieldType(rawValue: t).map { "\($0)" } ?? "type \(t)")) is malformed", at: p)
    }

    /// Decodes `count` fields from `p` (for the writer's own freshly encoded record).
    func decodeFields(_ p: inout Int, _ end: Int, _ start: Int, _ count: Int, _ r: inout EventRecord) throws(TraceFormatError) {
        var i = 0
        while i < count && p < end {
            let t = self.types[start &+ i]
            guard let v = decodeField(self.base, t, &p, end) else { throw self.fail("field \(i) is malformed", at: p) }
            r.slots[i] = v
            i &+= 1
        }
        r.fieldCount = i
    }
}

/// Checks a compound field of type `t` at `p0` (field bytes end at `fieldsEnd`): the position
/// after it, or -1 when malformed. A free function (a decoder method called from the mutating
/// `next` gets a copy of the decoder), out of line and taking the position by value (see
/// ``readVarintSlow``).
@usableFromInline @inline(never)
func checkCompound(_ base: UnsafeRawPointer, _ t: UInt8, _ p0: Int, _ fieldsEnd: Int) -> Int {
    var p = p0
    return checkCompound(base, t, &p, fieldsEnd) ? p : -1
}

@inline(__always)
func checkCompound(_ base: UnsafeRawPointer, _ t: UInt8, _ p: inout Int, _ fieldsEnd: Int) -> Bool {
    if t == FieldType.address.rawValue || t == FieldType.callRef.rawValue {
        return readVarint(base, &p, fieldsEnd) != nil && readVarint(base, &p, fieldsEnd) != nil
    }
    if t == FieldType.bufferListEx.rawValue || t == FieldType.bufferList.rawValue {
        guard let n = readVarint(base, &p, fieldsEnd), n <= UInt64(TraceFormat.maxListEntries) else { return false }
        let extra = t == FieldType.bufferListEx.rawValue ? 3 : 2
        for _ in 0..<Int(n) {
            guard let len = readVarint(base, &p, fieldsEnd), len <= UInt64(UInt32.max) else { return false }
            for _ in 0..<extra where readVarint(base, &p, fieldsEnd) == nil { return false }
        }
        return true
    }
    if t == FieldType.payload.rawValue && p < fieldsEnd && base.load(fromByteOffset: p, as: UInt8.self) == 0 {
        p &+= 1  // policy 0: nothing follows (the usual payload)
        return true
    }
    return skipCompound(base, t, &p, fieldsEnd)
}

/// The event kind of a validated op byte's kind bits (1–5), without the out-of-line
/// `init(rawValue:)`.
@inlinable @inline(__always)
func eventKind(_ raw: UInt8) -> EventKind {
    switch raw {
    case 1: return .enter
    case 2: return .leave
    case 3: return .completion
    case 4: return .upcall
    default: return .lookup
    }
}

/// A LEB128 varint at `p` (< `end`), or nil when it runs past `end` or past 64 bits.
@inlinable @inline(__always)
func readVarint(_ base: UnsafeRawPointer, _ p: inout Int, _ end: Int) -> UInt64? {
    guard p < end else { return nil }
    let b0 = base.load(fromByteOffset: p, as: UInt8.self)
    if b0 < 0x80 {
        p &+= 1
        return UInt64(b0)
    }
    // Two and three bytes: TSC deltas, lengths and offsets are usually below 2^21.
    if p &+ 2 < end {
        let b1 = base.load(fromByteOffset: p &+ 1, as: UInt8.self)
        if b1 < 0x80 {
            p &+= 2
            return UInt64(b0 & 0x7F) | UInt64(b1) << 7
        }
        let b2 = base.load(fromByteOffset: p &+ 2, as: UInt8.self)
        if b2 < 0x80 {
            p &+= 3
            return UInt64(b0 & 0x7F) | UInt64(b1 & 0x7F) << 7 | UInt64(b2) << 14
        }
    }
    let (v, q) = readVarintSlow(base, p, end)
    guard q >= 0 else { return nil }
    p = q
    return v
}

/// The general case of ``readVarint``: (value, position after it), or (0, -1) when malformed.
/// Takes and returns the position by value: an `inout` position passed to a function that is
/// not inlined lives in memory for the whole caller's loop.
@usableFromInline @inline(never)
func readVarintSlow(_ base: UnsafeRawPointer, _ p: Int, _ end: Int) -> (UInt64, Int) {
    var q = p
    var v: UInt64 = 0
    var shift: UInt64 = 0
    while q < end {
        let b = base.load(fromByteOffset: q, as: UInt8.self)
        q &+= 1
        if shift == 63 && b > 1 { return (0, -1) }
        v |= UInt64(b & 0x7F) << shift
        if b < 0x80 { return (v, q) }
        shift &+= 7
    }
    return (0, -1)
}

/// Decodes one field of type `t` at `p`, checking bounds and limits: scalars give their value
/// (signed ones as Int64 bit patterns); compound types give offset << 32 | length of their bytes.
/// nil when malformed.
@inline(__always)
func decodeField(_ base: UnsafeRawPointer, _ t: UInt8, _ p: inout Int, _ end: Int) -> UInt64? {
    switch t {
    case FieldType.u64.rawValue, FieldType.socket.rawValue, FieldType.switchSocket.rawValue,
         FieldType.memHandle.rawValue, FieldType.rdmaDescriptor.rawValue, FieldType.overlapped.rawValue,
         FieldType.event.rawValue:
        return readVarint(base, &p, end)
    case FieldType.u32.rawValue, FieldType.flags.rawValue:
        guard let v = readVarint(base, &p, end), v <= UInt64(UInt32.max) else { return nil }
        return v
    case FieldType.i32.rawValue, FieldType.wsaError.rawValue:
        guard let u = readVarint(base, &p, end) else { return nil }
        let v = zigzagDecode(u)
        guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { return nil }
        return UInt64(bitPattern: v)
    case FieldType.bool.rawValue:
        guard let v = readVarint(base, &p, end), v <= 1 else { return nil }
        return v
    case FieldType.completionMode.rawValue:
        guard let v = readVarint(base, &p, end), v <= 2 else { return nil }
        return v
    case FieldType.completionVia.rawValue:
        guard let v = readVarint(base, &p, end), v <= 3 else { return nil }
        return v
    default:
        let at = p
        guard skipCompound(base, t, &p, end) else { return nil }
        return UInt64(at) << 32 | UInt64(p &- at)
    }
}

@inline(never)
func skipCompound(_ base: UnsafeRawPointer, _ t: UInt8, _ p: inout Int, _ end: Int) -> Bool {
    switch t {
    case FieldType.address.rawValue, FieldType.callRef.rawValue:
        return readVarint(base, &p, end) != nil && readVarint(base, &p, end) != nil
    case FieldType.bufferList.rawValue, FieldType.bufferListEx.rawValue:
        guard let n = readVarint(base, &p, end), n <= UInt64(TraceFormat.maxListEntries) else { return false }
        let perEntry = t == FieldType.bufferList.rawValue ? 3 : 4
        for k in 0..<(Int(n) * perEntry) {
            guard let v = readVarint(base, &p, end) else { return false }
            if k % perEntry == 0 && v > UInt64(UInt32.max) { return false }  // a buffer length is a u32
        }
        return true
    case FieldType.sockaddr.rawValue, FieldType.bytes.rawValue, FieldType.descriptorBytes.rawValue:
        guard let n = readVarint(base, &p, end) else { return false }
        let limit = t == FieldType.sockaddr.rawValue ? TraceFormat.maxSockaddrBytes : TraceFormat.maxBytesField
        guard n <= UInt64(limit), n <= UInt64(end &- p) else { return false }
        p &+= Int(n)
        return true
    case FieldType.guid.rawValue:
        guard end &- p >= 16 else { return false }
        p &+= 16
        return true
    case FieldType.payload.rawValue:
        guard p < end else { return false }
        let policy = base.load(fromByteOffset: p, as: UInt8.self)
        p &+= 1
        switch policy {
        case 0: return true
        case 1:
            guard let n = readVarint(base, &p, end), n <= UInt64(TraceFormat.maxListEntries),
                  n * 8 <= UInt64(end &- p) else { return false }
            p &+= Int(n) * 8
            return true
        case 2:
            guard let n = readVarint(base, &p, end), n <= UInt64(TraceFormat.maxListEntries) else { return false }
            for _ in 0..<Int(n) {
                guard let len = readVarint(base, &p, end), len <= UInt64(TraceFormat.maxPayloadChunk),
                      len <= UInt64(end &- p) else { return false }
                p &+= Int(len)
            }
            return true
        default: return false
        }
    default:
        return false
    }
}

/// Per-thread "last sequence seen in this segment" state of a decoder, reused across segments
/// so decoding allocates nothing per segment.
public final class ThreadSequences {
    /// Indexed by thread capture id (≤ maxThreadID): the segment generation the thread was last
    /// seen in, and its last sequence there. calloc'd: untouched pages cost nothing.
    let seenIn: UnsafeMutablePointer<UInt32>
    let lastSeq: UnsafeMutablePointer<UInt64>
    private(set) var generation: UInt32 = 0
    static let capacity = Int(TraceFormat.maxThreadID) + 1

    public init() {
        self.seenIn = calloc(Self.capacity, 4)!.bindMemory(to: UInt32.self, capacity: Self.capacity)
        self.lastSeq = calloc(Self.capacity, 8)!.bindMemory(to: UInt64.self, capacity: Self.capacity)
    }

    deinit {
        free(self.seenIn)
        free(self.lastSeq)
    }

    func newSegment() {
        self.generation &+= 1
        if self.generation == 0 {
            memset(self.seenIn, 0, Self.capacity * 4)
            self.generation = 1
        }
    }

    /// `thread` is ≤ maxThreadID (checked by the decoder before).
    @inline(__always)
    func last(_ thread: UInt32) -> UInt64? {
        let t = Int(thread)
        return self.seenIn[t] == self.generation ? self.lastSeq[t] : nil
    }

    @inline(__always)
    func set(_ thread: UInt32, _ seq: UInt64) {
        let t = Int(thread)
        self.seenIn[t] = self.generation
        self.lastSeq[t] = seq
    }
}

extension SegmentDecoder {
    nonisolated(unsafe) static let emptyBody = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)

    /// A decoder with no events (a placeholder for a cursor between segments).
    public init() {
        self.init(fieldsOf: UnsafeRawPointer(Self.emptyBody), end: 0)
    }

    /// Scratch thread state for decoders that only decode fields.
    nonisolated(unsafe) static let fieldsOnlyThreads = ThreadSequences()

    /// A decoder over a record stream being built (fields only; no header).
    init(fieldsOf base: UnsafeRawPointer, end: Int) {
        self.init(header: SegmentHeader(eventCount: 0, segment: 0, firstSequence: 0, baseTSC: 0, recordsLength: UInt32(end),
                                        tscLength: 0),
                  base: base, recordsStart: 0, recordsEnd: end, tscEnd: end, threads: Self.fieldsOnlyThreads)
    }
}

extension SegmentBuilder {
    /// Decodes the record just appended into `r` (for indexing it as it is written). The
    /// record's byte accessors are valid until the next append.
    public func decodeLast(into r: inout EventRecord, _ kind: EventKind, _ function: FunctionID, thread: UInt32,
                           threadSeq: UInt64, tsc: UInt64, sequence: UInt64) {
        r.sequence = sequence
        r.kind = kind
        r.function = (kind == .completion || kind == .lookup) ? .none : function
        r.thread = thread
        r.threadSeq = threadSeq
        r.tsc = tsc
        r.types = UnsafePointer(self.layout.typesPointer)
        r.body = UnsafeRawPointer(self.records.base)
        guard let shape = self.layout.shape(kind: kind.rawValue, function: r.function.rawValue) else {
            r.typesStart = -1
            r.fieldCount = 0
            return
        }
        r.typesStart = shape.start
        let d = SegmentDecoder(fieldsOf: UnsafeRawPointer(self.records.base), end: self.lastFieldsEnd)
        var p = self.lastFieldsStart
        do {
            try d.decodeFields(&p, self.lastFieldsEnd, shape.start, shape.count, &r)
        } catch {
            r.fieldCount = 0
        }
    }
}
