/// A field's value in the convenient event form (``TraceEvent``).
public enum FieldValue: Hashable, Sendable {
    /// `i32`, `wsaError`.
    case int(Int64)
    /// Every other scalar type (`u32`, `u64`, `bool`, `flags`, ids, modes).
    case uint(UInt64)
    case address(registration: UInt64, offset: UInt64)
    case buffers([BufferRef])
    /// `sockaddr`, `bytes`, `descriptorBytes`, `guid`.
    case bytes([UInt8])
    case payload(Payload)
    case callRef(thread: UInt32, sequence: UInt64)

    /// The value as an unsigned integer where it is one (signed ones by bit pattern).
    public var integer: UInt64? {
        switch self {
        case .int(let v): return UInt64(bitPattern: v)
        case .uint(let v): return v
        default: return nil
        }
    }
}

/// One event as a value: what tools read and what tests, generators and in-process recorders
/// write. Allocates (fields are an array); the hot paths use ``EventRecord`` and
/// ``EventFieldWriter`` instead.
public struct TraceEvent: Hashable, Sendable {
    /// Global sequence number (assigned by the writer; ignored when appending).
    public var sequence: UInt64
    public var kind: EventKind
    public var function: FunctionID
    public var thread: UInt32
    public var threadSeq: UInt64
    public var tsc: UInt64
    /// In schema order; may be shorter than the schema's list for old traces.
    public var fields: [FieldValue]

    public init(sequence: UInt64 = 0, kind: EventKind, function: FunctionID, thread: UInt32, threadSeq: UInt64,
                tsc: UInt64, fields: [FieldValue]) {
        self.sequence = sequence
        self.kind = kind
        self.function = function
        self.thread = thread
        self.threadSeq = threadSeq
        self.tsc = tsc
        self.fields = fields
    }

    /// Copies a decoded record.
    public init(_ r: EventRecord) {
        self.sequence = r.sequence
        self.kind = r.kind
        self.function = r.function
        self.thread = r.thread
        self.threadSeq = r.threadSeq
        self.tsc = r.tsc
        self.fields = (0..<r.fieldCount).map { i in
            switch r.type(i)! {
            case .i32, .wsaError: return .int(r.signed(i))
            case .address:
                let a = r.address(i)!
                return .address(registration: a.registration, offset: a.offset)
            case .bufferList, .bufferListEx: return .buffers(r.buffers(i)!)
            case .sockaddr, .bytes, .descriptorBytes, .guid: return .bytes(r.byteArray(i)!)
            case .payload: return .payload(r.payload(i)!)
            case .callRef:
                let c = r.callRef(i)!
                return .callRef(thread: c.thread, sequence: c.sequence)
            default: return .uint(r.value(i))
            }
        }
    }

    /// The schema's definitions for this event's fields.
    public var definitions: [FieldDefinition] {
        Schema.fields(kind: self.kind, function: self.function) ?? []
    }

    /// The value of the field named `name`.
    public subscript(name: String) -> FieldValue? {
        guard let i = self.definitions.firstIndex(where: { $0.name == name }), i < self.fields.count else { return nil }
        return self.fields[i]
    }

    /// Writes this event's fields through a field writer (schema order and types are checked there).
    public func write(to w: inout EventFieldWriter) {
        for value in self.fields {
            let t = w.nextType
            switch (value, t) {
            case (.int(let v), .i32?): w.i32(Int32(truncatingIfNeeded: v))
            case (.int(let v), .wsaError?): w.wsaError(Int32(truncatingIfNeeded: v))
            case (.uint(let v), .u32?): w.u32(UInt32(truncatingIfNeeded: v))
            case (.uint(let v), .u64?): w.u64(v)
            case (.uint(let v), .bool?): w.bool(v != 0)
            case (.uint(let v), .flags?): w.flags(UInt32(truncatingIfNeeded: v))
            case (.uint(let v), .socket?): w.socket(v)
            case (.uint(let v), .switchSocket?): w.switchSocket(v)
            case (.uint(let v), .memHandle?): w.memHandle(v)
            case (.uint(let v), .rdmaDescriptor?): w.rdmaDescriptor(v)
            case (.uint(let v), .overlapped?): w.overlapped(v)
            case (.uint(let v), .event?): w.event(v)
            case (.uint(let v), .completionMode?): w.completionMode(UInt8(truncatingIfNeeded: v))
            case (.uint(let v), .completionVia?): w.completionVia(UInt8(truncatingIfNeeded: v))
            case (.address(let r, let o), _): w.address(registration: r, offset: o)
            case (.callRef(let th, let s), _): w.callRef(thread: th, sequence: s)
            case (.buffers(let list), .bufferListEx?):
                w.bufferListEx(count: list.count)
                for b in list { w.buffer(length: b.length, registration: b.registration, offset: b.offset, handle: b.handle) }
            case (.buffers(let list), _):
                w.bufferList(count: list.count)
                for b in list { w.buffer(length: b.length, registration: b.registration, offset: b.offset) }
            case (.bytes(let b), .sockaddr?): w.sockaddr(b)
            case (.bytes(let b), .descriptorBytes?): w.descriptorBytes(b)
            case (.bytes(let b), .guid?): w.guid(b)
            case (.bytes(let b), _): w.bytes(b)
            case (.payload(.none), _): w.payloadNone()
            case (.payload(.hashes(let hs)), _):
                w.payloadHashes(count: hs.count)
                for h in hs { w.payloadHash(h) }
            case (.payload(.full(let chunks)), _):
                w.payloadFull(count: chunks.count)
                for c in chunks { w.payloadChunk(c) }
            case (.int(let v), _): w.u64(UInt64(bitPattern: v))  // wrong type: the writer reports it
            case (.uint(let v), _): w.i32(Int32(truncatingIfNeeded: v))
            }
        }
    }
}

extension SegmentBuilder {
    /// Appends a ``TraceEvent`` (its `sequence` is ignored).
    public func append(_ e: TraceEvent) throws {
        try self.append(e.kind, e.function, thread: e.thread, threadSeq: e.threadSeq, tsc: e.tsc) { w in
            e.write(to: &w)
        }
    }
}
