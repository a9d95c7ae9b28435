/// One decoded event, reused by the low-level cursor: ``SegmentDecoder/next(into:)`` overwrites it
/// in place (no allocation per event).
///
/// Scalar fields are read with ``value(_:)`` / ``signed(_:)``; compound fields (addresses, lists,
/// byte strings, payloads, call references) through the accessors below, which re-read the
/// already validated bytes of the segment body. Those accessors and ``bytes(_:)`` are only valid
/// until the cursor moves on (the record borrows the decoder's body).
public struct EventRecord {
    /// Global sequence number (0, 1, 2 … in the trace).
    public var sequence: UInt64 = 0
    public var kind: EventKind = .enter
    /// `.none` for COMPLETION and LOOKUP events.
    public var function: FunctionID = .none
    /// Thread capture id (1 …).
    public var thread: UInt32 = 0
    /// The thread's own sequence number.
    public var threadSeq: UInt64 = 0
    /// Raw TSC (convert with the trace's clock calibration).
    public var tsc: UInt64 = 0
    /// Fields decoded (≤ the schema's count: an older trace may carry fewer).
    public var fieldCount = 0
    /// Field types of this record shape, nil for a function this schema does not know.
    @usableFromInline var typesStart = -1
    /// The compiled layout's types (immortal storage: no reference counting per event).
    @usableFromInline var types: UnsafePointer<UInt8>? = nil
    /// Scalars: the value (signed types as Int64 bit patterns). Compound: offset << 32 | length of
    /// the encoded field in `body`.
    @usableFromInline var slots = InlineArray<16, UInt64>(repeating: 0)
    @usableFromInline var body: UnsafeRawPointer? = nil

    public init() {}

    /// The type of field `i`, nil when absent or unknown.
    @inlinable
    public func type(_ i: Int) -> FieldType? {
        guard i >= 0, i < self.fieldCount, let t = self.types, self.typesStart >= 0 else { return nil }
        return FieldType(rawValue: t[self.typesStart + i])
    }

    /// The schema definitions of this record's fields (allocates; for tools).
    public var definitions: [FieldDefinition] {
        FieldLayout.compiled.fields(kind: self.kind, function: self.function) ?? []
    }

    /// Position of the field named `name`, nil when this shape has none (or it is absent).
    public func index(of name: String) -> Int? {
        guard let i = self.definitions.firstIndex(where: { $0.name == name }), i < self.fieldCount else { return nil }
        return i
    }

    /// A scalar field's raw value (0 when absent).
    @inlinable @inline(__always)
    public func value(_ i: Int) -> UInt64 { i < self.fieldCount ? self.slot(i) : 0 }

    /// Slot `i` (< 16, checked), read through a span: subscripting the InlineArray of a borrowed
    /// record copies all 128 bytes of it first (Swift 6.3), which made reading a field cost more
    /// than decoding it.
    @inlinable @inline(__always)
    func slot(_ i: Int) -> UInt64 { self.slots.span[i] }

    /// A signed field (`i32`, `wsaError`).
    @inlinable @inline(__always)
    public func signed(_ i: Int) -> Int64 { Int64(bitPattern: self.value(i)) }

    /// True when field `i` is present and holds bytes elsewhere in the body (compound types).
    @inlinable
    func span(_ i: Int) -> UnsafeRawBufferPointer? {
        guard i < self.fieldCount, let b = self.body, let t = self.type(i), t.isCompound else { return nil }
        let s = self.slot(i)
        return UnsafeRawBufferPointer(start: b + Int(s >> 32), count: Int(s & 0xFFFF_FFFF))
    }

    /// `address` field: (registration id, offset).
    public func address(_ i: Int) -> (registration: UInt64, offset: UInt64)? {
        guard self.type(i) == .address, let s = self.span(i) else { return nil }
        var r = ByteReader(s)
        return (r.varint(), r.varint())
    }

    /// `callRef` field: (thread, thread sequence).
    public func callRef(_ i: Int) -> (thread: UInt32, sequence: UInt64)? {
        guard self.type(i) == .callRef, let s = self.span(i) else { return nil }
        var r = ByteReader(s)
        return (UInt32(truncatingIfNeeded: r.varint()), r.varint())
    }

    /// `sockaddr`, `bytes`, `descriptorBytes`, `guid`: the bytes (borrowed from the body).
    public func bytes(_ i: Int) -> UnsafeRawBufferPointer? {
        guard let t = self.type(i), let s = self.span(i) else { return nil }
        switch t {
        case .guid: return s
        case .sockaddr, .bytes, .descriptorBytes:
            var r = ByteReader(s)
            let n = Int(r.varint())
            return UnsafeRawBufferPointer(rebasing: s[r.position..<(r.position + n)])
        default: return nil
        }
    }

    /// A copy of a byte-string field.
    public func byteArray(_ i: Int) -> [UInt8]? { self.bytes(i).map { Array($0) } }

    /// Entries of a `bufferList` / `bufferListEx` field.
    public func buffers(_ i: Int) -> [BufferRef]? {
        guard let t = self.type(i), t == .bufferList || t == .bufferListEx, let s = self.span(i) else { return nil }
        var r = ByteReader(s)
        let n = Int(r.varint())
        var out: [BufferRef] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let len = UInt32(truncatingIfNeeded: r.varint())
            let reg = r.varint()
            let off = r.varint()
            let handle = t == .bufferListEx ? r.varint() : 0
            out.append(BufferRef(length: len, registration: reg, offset: off, handle: handle))
        }
        return out
    }

    /// Count and summed length of a buffer list (no allocation).
    public func bufferTotals(_ i: Int) -> (count: Int, bytes: UInt64)? {
        guard let t = self.type(i), t == .bufferList || t == .bufferListEx, let s = self.span(i) else { return nil }
        var r = ByteReader(s)
        let n = Int(r.varint())
        var total: UInt64 = 0
        for _ in 0..<n {
            total &+= r.varint()
            _ = r.varint()
            _ = r.varint()
            if t == .bufferListEx { _ = r.varint() }
        }
        return (n, total)
    }

    /// A `payload` field.
    public func payload(_ i: Int) -> Payload? {
        guard self.type(i) == .payload, let s = self.span(i) else { return nil }
        var r = ByteReader(s)
        switch r.byte() {
        case 1:
            let n = Int(r.varint())
            return .hashes((0..<n).map { _ in r.u64LE() })
        case 2:
            let n = Int(r.varint())
            return .full((0..<n).map { _ in
                let len = Int(r.varint())
                defer { r.position += len }
                return Array(s[r.position..<(r.position + len)])
            })
        default: return Payload.none
        }
    }
}

/// One WSABUF / WSABUFEX entry as recorded.
public struct BufferRef: Hashable, Sendable {
    public var length: UInt32
    /// Registration id (0 = unregistered memory, then `offset` is the raw address).
    public var registration: UInt64
    public var offset: UInt64
    /// WSABUFEX only: the memory handle's capture id.
    public var handle: UInt64

    public init(length: UInt32, registration: UInt64, offset: UInt64, handle: UInt64 = 0) {
        self.length = length
        self.registration = registration
        self.offset = offset
        self.handle = handle
    }
}

/// A `payload` field's value.
public enum Payload: Hashable, Sendable {
    case none
    /// One XXH64 (seed 0) per buffer (``payloadHash(_:)``).
    case hashes([UInt64])
    /// The bytes of each buffer.
    case full([[UInt8]])
}

extension FieldType {
    /// Stored as bytes in the body rather than as one integer.
    @inlinable public var isCompound: Bool {
        switch self {
        case .address, .bufferList, .bufferListEx, .sockaddr, .bytes, .guid, .payload, .descriptorBytes, .callRef:
            return true
        default:
            return false
        }
    }
}
