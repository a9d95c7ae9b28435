/// Encodes events into one segment body (Docs/TraceFormat.md §Records): the record stream and
/// the TSC-delta stream grow side by side; ``finish(segment:into:)`` writes header + both.
///
/// Reused across segments: after ``reset(firstSequence:)`` it keeps its buffers, so a steady
/// writer allocates nothing per event or per segment. Not thread-safe (one drain thread).
public final class SegmentBuilder {
    /// Always the compiled layout (the format has one schema per build).
    public let layout = FieldLayout.compiled
    /// The record stream.
    public let records = ByteBuffer(capacity: 1 << 20)
    /// The TSC-delta stream (zigzag varints).
    public let tscDeltas = ByteBuffer(capacity: 1 << 18)

    public private(set) var eventCount = 0
    public private(set) var firstSequence: UInt64 = 0
    public private(set) var baseTSC: UInt64 = 0
    public private(set) var firstTSC: UInt64 = 0
    public private(set) var lastTSC: UInt64 = 0
    private var lastThread: UInt32 = 0
    /// Per thread: the segment generation it was last seen in, and its last sequence there.
    private var seenIn: [UInt32] = []
    private var lastSeq: [UInt64] = []
    private var generation: UInt32 = 1

    /// Where the record just appended starts and where its fields start (for indexing it).
    public private(set) var lastRecordStart = 0
    public private(set) var lastFieldsStart = 0
    public private(set) var lastFieldsEnd = 0
    /// The field writer's capture of the record just appended (``captureLast(into:_:_:thread:threadSeq:tsc:sequence:)``).
    private let starts = UnsafeMutablePointer<Int>.allocate(capacity: TraceFormat.maxFieldsPerRecord + 1)
    private let values = UnsafeMutablePointer<UInt64>.allocate(capacity: TraceFormat.maxFieldsPerRecord + 1)
    private var lastFieldCount = 0
    private var lastShapeStart = -1
    private var lastShift = 0

    public init() {}

    deinit {
        self.starts.deallocate()
        self.values.deallocate()
    }

    /// Raw bytes the segment holds so far (what the 1 MiB cut counts).
    public var rawBytes: Int { self.records.count + self.tscDeltas.count + TraceFormat.segmentHeaderSize }

    /// Starts a new, empty segment whose first event will get `firstSequence`.
    public func reset(firstSequence: UInt64) {
        self.records.clear()
        self.tscDeltas.clear()
        self.eventCount = 0
        self.firstSequence = firstSequence
        self.lastThread = 0
        self.generation &+= 1
        if self.generation == 0 {  // wrapped: forget every thread explicitly
            for i in self.seenIn.indices { self.seenIn[i] = 0 }
            self.generation = 1
        }
    }

    /// Appends one event. `fields` writes the record's fields in schema order; if it writes them
    /// wrongly nothing is appended and the mismatch is thrown.
    @inlinable
    public func append(_ kind: EventKind, _ function: FunctionID, thread: UInt32, threadSeq: UInt64, tsc: UInt64,
                       fields: (inout EventFieldWriter) throws -> Void) throws {
        try self.appendRecord(kind, function, thread: thread, threadSeq: threadSeq, tsc: tsc, fields: fields)
    }

    @usableFromInline
    func appendRecord(_ kind: EventKind, _ function: FunctionID, thread: UInt32, threadSeq: UInt64, tsc: UInt64,
                      fields: (inout EventFieldWriter) throws -> Void) throws {
        let hasFunction = kind == .enter || kind == .leave || kind == .upcall
        guard let shape = self.layout.shape(kind: kind.rawValue, function: hasFunction ? function.rawValue : 0) else {
            throw RecordEncodingError.unknownShape(kind: kind, function: function)
        }
        guard thread >= 1, thread <= TraceFormat.maxThreadID else { throw RecordEncodingError.invalidThread(thread) }
        let t = Int(thread)
        if t >= self.seenIn.count { self.growThreads(to: t + 1) }
        let seen = self.seenIn[t] == self.generation
        let sameThread = self.eventCount > 0 && thread == self.lastThread
        let nextSeq = seen && threadSeq == self.lastSeq[t] &+ 1

        let start = self.records.count
        var op = kind.rawValue
        if sameThread { op |= RecordOp.sameThread }
        if nextSeq { op |= RecordOp.nextSequence }
        self.records.putByte(op)
        if hasFunction { self.records.putVarint(UInt64(function.rawValue)) }
        if !sameThread { self.records.putVarint(UInt64(thread)) }
        if !nextSeq { self.records.putVarint(threadSeq) }
        let lengthAt = self.records.count
        self.records.putByte(0)  // one byte reserved for the fields length; widened below if needed
        let fieldsStart = self.records.count

        var writer = EventFieldWriter(out: self.records, layout: self.layout, start: shape.start, count: shape.count,
                                      starts: self.starts, values: self.values)
        do {
            try fields(&writer)
        } catch {
            self.records.count = start
            throw error
        }
        // The common case tested inline: calling `incomplete` copies the writer.
        if writer.failure != nil || writer.pending > 0 || writer.index < writer.count,
           let failure = writer.failure ?? Self.incomplete(writer) {
            self.records.count = start
            if let reason = failure.reason {
                throw RecordEncodingError.badList(function: function, kind: kind, position: failure.position, reason: reason)
            }
            throw RecordEncodingError.fieldMismatch(function: function, kind: kind, position: failure.position,
                                                    expected: failure.expected, got: failure.got)
        }
        var length = self.records.count - fieldsStart
        let extra = varintSize(UInt64(length)) - 1
        if extra > 0 {
            self.records.openGap(at: fieldsStart, size: extra)
        }
        self.records.writeVarint(UInt64(length), at: lengthAt)
        length += 0

        if self.eventCount == 0 {
            self.baseTSC = tsc
            self.firstTSC = tsc
            self.lastTSC = tsc
        }
        self.tscDeltas.putVarint(zigzagEncode(Int64(bitPattern: tsc &- self.lastTSC)))
        self.lastTSC = tsc
        self.lastThread = thread
        self.seenIn[t] = self.generation
        self.lastSeq[t] = threadSeq
        self.eventCount += 1
        self.lastRecordStart = start
        self.lastFieldsStart = fieldsStart + extra
        self.lastFieldsEnd = self.records.count
        self.lastFieldCount = shape.count
        self.lastShapeStart = shape.start
        self.lastShift = extra
    }

    /// The record just appended as the decoder would read it, from what the field writer
    /// captured while encoding it (no decoding: the writer indexes every event this way).
    /// Same result as ``decodeLast(into:_:_:thread:threadSeq:tsc:sequence:)``.
    public func captureLast(into r: inout EventRecord, _ kind: EventKind, _ function: FunctionID, thread: UInt32,
                            threadSeq: UInt64, tsc: UInt64, sequence: UInt64) {
        r.sequence = sequence
        r.kind = kind
        r.function = (kind == .completion || kind == .lookup) ? .none : function
        r.thread = thread
        r.threadSeq = threadSeq
        r.tsc = tsc
        r.types = UnsafePointer(self.layout.typesPointer)
        r.body = UnsafeRawPointer(self.records.base)
        r.typesStart = self.lastShapeStart
        let n = self.lastFieldCount
        r.fieldCount = n
        let types = self.layout.typesPointer + self.lastShapeStart
        let classes = self.layout.typeClass
        for i in 0..<n {
            if classes[Int(types[i])] == 2 {
                // Compound: offset << 32 | length of its bytes, as decodeField reports it.
                let at = self.starts[i] &+ self.lastShift
                let end = i &+ 1 < n ? self.starts[i &+ 1] &+ self.lastShift : self.lastFieldsEnd
                r.slots[i] = UInt64(at) << 32 | UInt64(end &- at)
            } else {
                r.slots[i] = self.values[i]
            }
        }
    }

    private static func incomplete(_ w: EventFieldWriter) -> (position: Int, expected: FieldType?, got: FieldType?, reason: String?)? {
        if w.pending > 0 { return (w.index - 1, w.listType, nil, "\(w.pending) list entries missing") }
        if w.index < w.count { return (w.index, w.nextType, nil, nil) }
        return nil
    }

    private func growThreads(to n: Int) {
        let size = max(n, min(Int(TraceFormat.maxThreadID) + 1, max(64, self.seenIn.count * 2)))
        self.seenIn.append(contentsOf: repeatElement(0, count: size - self.seenIn.count))
        self.lastSeq.append(contentsOf: repeatElement(0, count: size - self.lastSeq.count))
    }

    /// Writes the finished body (header, records, TSC deltas) into `out` (cleared first).
    public func finish(segment: UInt64, into out: ByteBuffer) {
        out.clear()
        out.reserve(self.rawBytes)
        SegmentHeader(eventCount: UInt32(self.eventCount), segment: segment, firstSequence: self.firstSequence,
                      baseTSC: self.baseTSC, recordsLength: UInt32(self.records.count),
                      tscLength: UInt32(self.tscDeltas.count)).write(to: out)
        out.putBytes(self.records.bytes)
        out.putBytes(self.tscDeltas.bytes)
    }
}

/// Bits of a record's op byte (Docs/TraceFormat.md §Records).
public enum RecordOp {
    /// Bits 0–2: the event kind (1–5).
    public static let kindMask: UInt8 = 0x07
    /// Bit 3: same thread as the previous record of the segment (no thread varint follows).
    public static let sameThread: UInt8 = 0x08
    /// Bit 4: thread sequence = this thread's previous sequence in the segment + 1 (no varint).
    public static let nextSequence: UInt8 = 0x10
    /// Bits 5–7 are reserved and must be 0.
    public static let reservedMask: UInt8 = 0xE0
}
