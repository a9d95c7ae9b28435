/// The low-level cursor over one decompressed segment body: validates everything it reads
/// (hostile input yields a ``TraceFormatError`` with the offset, never a crash or a loop) and
/// decodes each event into a caller-owned ``EventRecord`` without allocating.
///
/// Unsafe code: reads the body through a raw pointer. Every read is preceded by a bounds check
/// against the end of the stream it belongs to.
public struct SegmentDecoder {
    public let header: SegmentHeader
    let base: UnsafeRawPointer
    let recordsEnd: Int
    let tscEnd: Int
    var position: Int
    var tscPosition: Int
    var index: UInt32 = 0
    var lastTSC: UInt64
    var lastThread: UInt32 = 0
    let layout: FieldLayout
    let threads: ThreadSequences

    /// Starts decoding `body`, which must stay valid and unchanged while the decoder is used.
    /// `threads` is scratch state (reuse one per reader to avoid allocating per segment).
    public init(body: UnsafeRawBufferPointer, layout: FieldLayout = .compiled,
                threads: ThreadSequences = ThreadSequences()) throws(TraceFormatError) {
        self.header = try SegmentHeader(parsing: body)
        self.base = body.baseAddress!
        self.position = TraceFormat.segmentHeaderSize
        self.recordsEnd = self.position + Int(self.header.recordsLength)
        self.tscPosition = self.recordsEnd
        self.tscEnd = self.recordsEnd + Int(self.header.tscLength)
        self.lastTSC = self.header.baseTSC
        self.layout = layout
        self.threads = threads
        threads.newSegment()
    }

    /// Events left.
    public var remaining: Int { Int(self.header.eventCount - self.index) }

    /// Byte offset of the next record in the body (for error reports).
    public var offset: Int { self.position }

    /// Decodes the next event into `record`; false at the end of the segment (after checking that
    /// both streams were consumed exactly).
    @inline(__always)
    public mutating func next(into record: inout EventRecord) throws(TraceFormatError) -> Bool {
        guard self.index < self.header.eventCount else {
            try self.checkEnd()
            return false
        }
        try self.decode(into: &record)
        return true
    }

    func checkEnd() throws(TraceFormatError) {
        guard self.position == self.recordsEnd else {
            throw self.fail("\(self.recordsEnd - self.position) bytes after the last record", at: self.position)
        }
        guard self.tscPosition == self.tscEnd else {
            throw self.fail("\(self.tscEnd - self.tscPosition) bytes after the last TSC delta", at: self.tscPosition)
        }
    }

    func fail(_ what: String, at offset: Int) -> TraceFormatError {
        TraceFormatError(.corruptRecord, "event \(self.header.firstSequence &+ UInt64(self.index)): \(what)",
                         segment: Int64(bitPattern: self.header.segment), offset: offset)
    }

    @inline(__always)
    func varint(_ p: inout Int, _ end: Int) throws(TraceFormatError) -> UInt64 {
        guard p < end else { throw self.fail("varint runs past the end of its stream", at: p) }
        let b0 = self.base.load(fromByteOffset: p, as: UInt8.self)
        if b0 < 0x80 {
            p &+= 1
            return UInt64(b0)
        }
        return try self.varintSlow(&p, end)
    }

    @inline(never)
    func varintSlow(_ p: inout Int, _ end: Int) throws(TraceFormatError) -> UInt64 {
        let start = p
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard p < end else { throw self.fail("varint runs past the end of its stream", at: start) }
            let b = self.base.load(fromByteOffset: p, as: UInt8.self)
            p &+= 1
            if shift == 63 && b > 1 { throw self.fail("varint longer than 64 bits", at: start) }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }

    @inline(__always)
    mutating func decode(into r: inout EventRecord) throws(TraceFormatError) {
        let recordStart = self.position
        var p = self.position
        guard p < self.recordsEnd else { throw self.fail("record stream ends early", at: p) }
        let op = self.base.load(fromByteOffset: p, as: UInt8.self)
        p &+= 1
        let kindRaw = op & RecordOp.kindMask
        guard op & RecordOp.reservedMask == 0, let kind = EventKind(rawValue: kindRaw) else {
            throw self.fail("bad op byte 0x\(String(op, radix: 16))", at: recordStart)
        }
        var function = FunctionID.none
        if kind == .enter || kind == .leave || kind == .upcall {
            let f = try self.varint(&p, self.recordsEnd)
            guard f <= UInt64(FunctionID.maxRawValue) else { throw self.fail("function id \(f)", at: recordStart) }
            function = FunctionID(UInt16(f))
        }
        var thread = self.lastThread
        if op & RecordOp.sameThread == 0 {
            let t = try self.varint(&p, self.recordsEnd)
            guard t >= 1, t <= UInt64(TraceFormat.maxThreadID) else { throw self.fail("thread id \(t)", at: recordStart) }
            thread = UInt32(t)
        } else if self.index == 0 {
            throw self.fail("first record of a segment says 'same thread'", at: recordStart)
        }
        var seq: UInt64
        if op & RecordOp.nextSequence != 0 {
            guard let last = self.threads.last(thread) else {
                throw self.fail("'next sequence' for thread \(thread), unseen in this segment", at: recordStart)
            }
            seq = last &+ 1
        } else {
            seq = try self.varint(&p, self.recordsEnd)
        }
        let length = try self.varint(&p, self.recordsEnd)
        guard length <= UInt64(self.recordsEnd &- p) else { throw self.fail("fields length \(length) past the end", at: recordStart) }
        let fieldsEnd = p &+ Int(length)

        var delta: UInt64
        var tp = self.tscPosition
        delta = try self.varint(&tp, self.tscEnd)
        self.tscPosition = tp

        r.sequence = self.header.firstSequence &+ UInt64(self.index)
        r.kind = kind
        r.function = function
        r.thread = thread
        r.threadSeq = seq
        r.tsc = self.lastTSC &+ UInt64(bitPattern: zigzagDecode(delta))
        r.body = self.base
        r.layout = self.layout
        if let shape = self.layout.shape(kind: kindRaw, function: function.rawValue) {
            r.typesStart = shape.start
            try self.decodeFields(&p, fieldsEnd, shape.start, shape.count, &r)
        } else {
            r.typesStart = -1
            r.fieldCount = 0
        }
        self.position = fieldsEnd
        self.lastTSC = r.tsc
        self.lastThread = thread
        self.threads.set(thread, seq)
        self.index &+= 1
    }

    @inline(__always)
    func decodeFields(_ p: inout Int, _ end: Int, _ start: Int, _ count: Int, _ r: inout EventRecord) throws(TraceFormatError) {
        var i = 0
        try self.layout.types.withUnsafeBufferPointer { (types) throws(TraceFormatError) in
            while i < count && p < end {
                let t = types[start &+ i]
                r.slots[i] = try self.field(t, &p, end)
                i &+= 1
            }
        }
        r.fieldCount = i
    }

    /// Decodes one field of type `t` (raw value), checking its bounds and limits.
    @inline(__always)
    func field(_ t: UInt8, _ p: inout Int, _ end: Int) throws(TraceFormatError) -> UInt64 {
        let at = p
        switch t {
        case FieldType.u64.rawValue, FieldType.socket.rawValue, FieldType.switchSocket.rawValue,
             FieldType.memHandle.rawValue, FieldType.rdmaDescriptor.rawValue, FieldType.overlapped.rawValue,
             FieldType.event.rawValue:
            return try self.varint(&p, end)
        case FieldType.u32.rawValue, FieldType.flags.rawValue:
            let v = try self.varint(&p, end)
            guard v <= UInt64(UInt32.max) else { throw self.fail("u32 field holds \(v)", at: at) }
            return v
        case FieldType.i32.rawValue, FieldType.wsaError.rawValue:
            let v = zigzagDecode(try self.varint(&p, end))
            guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { throw self.fail("i32 field holds \(v)", at: at) }
            return UInt64(bitPattern: v)
        case FieldType.bool.rawValue, FieldType.completionMode.rawValue, FieldType.completionVia.rawValue:
            let v = try self.varint(&p, end)
            let limit: UInt64 = t == FieldType.bool.rawValue ? 1 : (t == FieldType.completionMode.rawValue ? 2 : 3)
            guard v <= limit else { throw self.fail("\(FieldType(rawValue: t)!) field holds \(v)", at: at) }
            return v
        default:
            try self.skipCompound(t, &p, end)
            return UInt64(at) << 32 | UInt64(p &- at)
        }
    }

    func skipCompound(_ t: UInt8, _ p: inout Int, _ end: Int) throws(TraceFormatError) {
        let at = p
        switch t {
        case FieldType.address.rawValue, FieldType.callRef.rawValue:
            _ = try self.varint(&p, end)
            _ = try self.varint(&p, end)
        case FieldType.bufferList.rawValue, FieldType.bufferListEx.rawValue:
            let n = try self.varint(&p, end)
            guard n <= UInt64(TraceFormat.maxListEntries) else { throw self.fail("list of \(n) buffers", at: at) }
            let perEntry = t == FieldType.bufferList.rawValue ? 3 : 4
            for _ in 0..<(Int(n) * perEntry) { _ = try self.varint(&p, end) }
        case FieldType.sockaddr.rawValue, FieldType.bytes.rawValue, FieldType.descriptorBytes.rawValue:
            let n = try self.varint(&p, end)
            let limit = t == FieldType.sockaddr.rawValue ? TraceFormat.maxSockaddrBytes : TraceFormat.maxBytesField
            guard n <= UInt64(limit), n <= UInt64(end &- p) else { throw self.fail("byte string of \(n) bytes", at: at) }
            p &+= Int(n)
        case FieldType.guid.rawValue:
            guard end &- p >= 16 else { throw self.fail("GUID runs past the record", at: at) }
            p &+= 16
        case FieldType.payload.rawValue:
            guard p < end else { throw self.fail("payload runs past the record", at: at) }
            let policy = self.base.load(fromByteOffset: p, as: UInt8.self)
            p &+= 1
            switch policy {
            case 0: break
            case 1:
                let n = try self.varint(&p, end)
                guard n <= UInt64(TraceFormat.maxListEntries), n * 8 <= UInt64(end &- p) else {
                    throw self.fail("payload of \(n) hashes", at: at)
                }
                p &+= Int(n) * 8
            case 2:
                let n = try self.varint(&p, end)
                guard n <= UInt64(TraceFormat.maxListEntries) else { throw self.fail("payload of \(n) buffers", at: at) }
                for _ in 0..<Int(n) {
                    let len = try self.varint(&p, end)
                    guard len <= UInt64(TraceFormat.maxPayloadChunk), len <= UInt64(end &- p) else {
                        throw self.fail("payload buffer of \(len) bytes", at: at)
                    }
                    p &+= Int(len)
                }
            default:
                throw self.fail("payload policy byte \(policy)", at: at)
            }
        default:
            throw self.fail("field type \(t) unknown", at: at)
        }
    }
}

/// Per-thread "last sequence seen in this segment" state of a decoder, reused across segments
/// so decoding allocates nothing per segment.
public final class ThreadSequences {
    private var seenIn: [UInt32] = []
    private var lastSeq: [UInt64] = []
    private var generation: UInt32 = 0

    public init() {}

    func newSegment() {
        self.generation &+= 1
        if self.generation == 0 {
            for i in self.seenIn.indices { self.seenIn[i] = 0 }
            self.generation = 1
        }
    }

    @inline(__always)
    func last(_ thread: UInt32) -> UInt64? {
        let t = Int(thread)
        guard t < self.seenIn.count, self.seenIn[t] == self.generation else { return nil }
        return self.lastSeq[t]
    }

    @inline(__always)
    func set(_ thread: UInt32, _ seq: UInt64) {
        let t = Int(thread)
        if t >= self.seenIn.count {
            let size = max(t + 1, min(Int(TraceFormat.maxThreadID) + 1, max(64, self.seenIn.count * 2)))
            self.seenIn.append(contentsOf: repeatElement(0, count: size - self.seenIn.count))
            self.lastSeq.append(contentsOf: repeatElement(0, count: size - self.lastSeq.count))
        }
        self.seenIn[t] = self.generation
        self.lastSeq[t] = seq
    }
}

extension SegmentDecoder {
    /// A decoder over a record stream being built (fields only; no header).
    init(fieldsOf base: UnsafeRawPointer, end: Int, layout: FieldLayout) {
        self.header = SegmentHeader(eventCount: 0, segment: 0, firstSequence: 0, baseTSC: 0, recordsLength: UInt32(end),
                                    tscLength: 0)
        self.base = base
        self.recordsEnd = end
        self.tscEnd = end
        self.position = 0
        self.tscPosition = end
        self.lastTSC = 0
        self.layout = layout
        self.threads = ThreadSequences()
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
        r.layout = self.layout
        r.body = UnsafeRawPointer(self.records.base)
        guard let shape = self.layout.shape(kind: kind.rawValue, function: r.function.rawValue) else {
            r.typesStart = -1
            r.fieldCount = 0
            return
        }
        r.typesStart = shape.start
        let d = SegmentDecoder(fieldsOf: UnsafeRawPointer(self.records.base), end: self.lastFieldsEnd, layout: self.layout)
        var p = self.lastFieldsStart
        do {
            try d.decodeFields(&p, self.lastFieldsEnd, shape.start, shape.count, &r)
        } catch {
            r.fieldCount = 0
        }
    }
}
