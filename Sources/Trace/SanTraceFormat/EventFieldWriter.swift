/// Writes the fields of one record, in schema order, straight into the segment's record buffer.
///
/// Handed to the closure of ``SegmentBuilder/append(_:_:thread:threadSeq:tsc:fields:)`` (and of
/// the store's `TraceWriter.append`): call one method per field of the record shape, in the
/// order of Docs/TraceFormat.md's function table (`FieldIndex.<Function>.<kind>.<name>` gives
/// positions). Object fields take capture ids, never pointers. A call of the wrong type, a
/// missing or extra field, or a list whose entries don't match its count makes the append throw
/// ``RecordEncodingError`` and leaves nothing behind. No allocation.
///
/// List fields announce their count and then take exactly that many entries:
/// `bufferList(count: 2); buffer(length: 64, registration: 3, offset: 0); buffer(…)`.
public struct EventFieldWriter {
    @usableFromInline let out: ByteBuffer
    @usableFromInline let layout: FieldLayout
    @usableFromInline let start: Int
    @usableFromInline let count: Int
    /// What the decoder would read back, captured while writing (so the writer can index the
    /// event without decoding it): per field, its first byte in `out` and, for scalars, the value
    /// as ``EventRecord/value(_:)`` gives it. Owned by the ``SegmentBuilder``.
    @usableFromInline let starts: UnsafeMutablePointer<Int>
    @usableFromInline let values: UnsafeMutablePointer<UInt64>
    @usableFromInline var index = 0
    /// Entries still owed to the current list field; `listType` says which.
    @usableFromInline var pending = 0
    @usableFromInline var listType: FieldType? = nil
    @usableFromInline var failure: (position: Int, expected: FieldType?, got: FieldType?, reason: String?)? = nil

    init(out: ByteBuffer, layout: FieldLayout, start: Int, count: Int, starts: UnsafeMutablePointer<Int>,
         values: UnsafeMutablePointer<UInt64>) {
        self.out = out
        self.layout = layout
        self.start = start
        self.count = count
        self.starts = starts
        self.values = values
    }

    /// True when the next field is of `type` (and no list entries are owed); else records the
    /// mismatch. Advances past the field.
    @inlinable @inline(__always)
    mutating func expect(_ type: FieldType) -> Bool {
        guard self.failure == nil else { return false }
        guard self.pending == 0 else {
            self.failure = (self.index - 1, self.listType, type, "list entries missing before the next field")
            return false
        }
        guard self.index < self.count else {
            self.failure = (self.index, nil, type, nil)
            return false
        }
        let want = self.layout.typesPointer[self.start &+ self.index]
        guard want == type.rawValue else {
            self.failure = (self.index, FieldType(rawValue: want), type, nil)
            return false
        }
        self.starts[self.index] = self.out.count
        self.index &+= 1
        return true
    }

    /// Records the value of the scalar field just accepted by ``expect(_:)``.
    @inlinable @inline(__always)
    func captured(_ v: UInt64) { self.values[self.index &- 1] = v }

    @inlinable @inline(__always)
    mutating func entry(of type: FieldType) -> Bool {
        guard self.failure == nil else { return false }
        guard self.pending > 0, self.listType == type else {
            self.failure = (max(self.index - 1, 0), self.listType, type, "list entry without a list or beyond its count")
            return false
        }
        self.pending &-= 1
        return true
    }

    // MARK: Scalars

    @inlinable @inline(__always) public mutating func i32(_ v: Int32) {
        if self.expect(.i32) { self.captured(UInt64(bitPattern: Int64(v))); self.out.putVarint(zigzagEncode(Int64(v))) }
    }
    @inlinable @inline(__always) public mutating func u32(_ v: UInt32) {
        if self.expect(.u32) { self.captured(UInt64(v)); self.out.putVarint(UInt64(v)) }
    }
    @inlinable @inline(__always) public mutating func u64(_ v: UInt64) {
        if self.expect(.u64) { self.captured(v); self.out.putVarint(v) }
    }
    @inlinable @inline(__always) public mutating func bool(_ v: Bool) {
        if self.expect(.bool) { self.captured(v ? 1 : 0); self.out.putByte(v ? 1 : 0) }
    }
    /// A WSA error number (0 = none).
    @inlinable @inline(__always) public mutating func wsaError(_ v: Int32) {
        if self.expect(.wsaError) { self.captured(UInt64(bitPattern: Int64(v))); self.out.putVarint(zigzagEncode(Int64(v))) }
    }
    @inlinable @inline(__always) public mutating func flags(_ v: UInt32) {
        if self.expect(.flags) { self.captured(UInt64(v)); self.out.putVarint(UInt64(v)) }
    }
    /// Capture id of a provider SOCKET (0 = INVALID_SOCKET).
    @inlinable @inline(__always) public mutating func socket(_ id: UInt64) {
        if self.expect(.socket) { self.captured(id); self.out.putVarint(id) }
    }
    @inlinable @inline(__always) public mutating func switchSocket(_ id: UInt64) {
        if self.expect(.switchSocket) { self.captured(id); self.out.putVarint(id) }
    }
    /// Capture id of a WSPRegisterMemory handle (= registration id).
    @inlinable @inline(__always) public mutating func memHandle(_ id: UInt64) {
        if self.expect(.memHandle) { self.captured(id); self.out.putVarint(id) }
    }
    /// Capture id of an RDMA descriptor (its bytes go once into a `descriptorBytes` field).
    @inlinable @inline(__always) public mutating func rdmaDescriptor(_ id: UInt64) {
        if self.expect(.rdmaDescriptor) { self.captured(id); self.out.putVarint(id) }
    }
    @inlinable @inline(__always) public mutating func overlapped(_ id: UInt64) {
        if self.expect(.overlapped) { self.captured(id); self.out.putVarint(id) }
    }
    @inlinable @inline(__always) public mutating func event(_ id: UInt64) {
        if self.expect(.event) { self.captured(id); self.out.putVarint(id) }
    }
    /// 0 synchronous, 1 upcall, 2 poll.
    @inlinable @inline(__always) public mutating func completionMode(_ v: UInt8) {
        guard v <= 2 else {
            if self.failure == nil { self.failure = (self.index, .completionMode, .completionMode, "completion mode \(v) (0–2)") }
            return
        }
        if self.expect(.completionMode) { self.captured(UInt64(v)); self.out.putByte(v) }
    }
    /// 1 upcall, 2 poll, 3 inline.
    @inlinable @inline(__always) public mutating func completionVia(_ v: UInt8) {
        guard v <= 3 else {
            if self.failure == nil { self.failure = (self.index, .completionVia, .completionVia, "completion via \(v) (1–3)") }
            return
        }
        if self.expect(.completionVia) { self.captured(UInt64(v)); self.out.putByte(v) }
    }
    /// A memory address as (registration id, offset); registration 0 = unregistered, offset = raw.
    @inlinable @inline(__always) public mutating func address(registration: UInt64, offset: UInt64) {
        if self.expect(.address) {
            self.out.putVarint(registration)
            self.out.putVarint(offset)
        }
    }
    /// (thread, thread sequence) of the ENTER that started an operation; (0, 0) when unseen.
    @inlinable @inline(__always) public mutating func callRef(thread: UInt32, sequence: UInt64) {
        if self.expect(.callRef) {
            self.out.putVarint(UInt64(thread))
            self.out.putVarint(sequence)
        }
    }

    // MARK: Lists

    /// Starts a WSABUF list of `count` entries; follow with `count` ``buffer(length:registration:offset:)``.
    @inlinable @inline(__always) public mutating func bufferList(count: Int) {
        guard count >= 0, count <= TraceFormat.maxListEntries else {
            if self.failure == nil { self.failure = (self.index, .bufferList, .bufferList, "\(count) entries (limit \(TraceFormat.maxListEntries))") }
            return
        }
        if self.expect(.bufferList) {
            self.out.putVarint(UInt64(count))
            self.pending = count
            self.listType = .bufferList
        }
    }
    @inlinable @inline(__always) public mutating func buffer(length: UInt32, registration: UInt64, offset: UInt64) {
        if self.entry(of: .bufferList) {
            self.out.putVarint(UInt64(length))
            self.out.putVarint(registration)
            self.out.putVarint(offset)
        }
    }
    /// Starts a WSABUFEX list; follow with `count` ``buffer(length:registration:offset:handle:)``.
    @inlinable @inline(__always) public mutating func bufferListEx(count: Int) {
        guard count >= 0, count <= TraceFormat.maxListEntries else {
            if self.failure == nil { self.failure = (self.index, .bufferListEx, .bufferListEx, "\(count) entries (limit \(TraceFormat.maxListEntries))") }
            return
        }
        if self.expect(.bufferListEx) {
            self.out.putVarint(UInt64(count))
            self.pending = count
            self.listType = .bufferListEx
        }
    }
    @inlinable @inline(__always) public mutating func buffer(length: UInt32, registration: UInt64, offset: UInt64, handle: UInt64) {
        if self.entry(of: .bufferListEx) {
            self.out.putVarint(UInt64(length))
            self.out.putVarint(registration)
            self.out.putVarint(offset)
            self.out.putVarint(handle)
        }
    }

    // MARK: Payload

    /// Policy `none`: the payload is absent.
    @inlinable @inline(__always) public mutating func payloadNone() {
        if self.expect(.payload) { self.out.putByte(0) }
    }
    /// Policy `hash`: follow with `count` ``payloadHash(_:)`` (one per buffer).
    @inlinable @inline(__always) public mutating func payloadHashes(count: Int) {
        guard count >= 0, count <= TraceFormat.maxListEntries else {
            if self.failure == nil { self.failure = (self.index, .payload, .payload, "\(count) hashes") }
            return
        }
        if self.expect(.payload) {
            self.out.putByte(1)
            self.out.putVarint(UInt64(count))
            self.pending = count
            self.listType = .u64
        }
    }
    @inlinable @inline(__always) public mutating func payloadHash(_ h: UInt64) {
        if self.entry(of: .u64) { self.out.putU64LE(h) }
    }
    /// Policy `full`: follow with `count` ``payloadChunk(_:)`` (one per buffer).
    @inlinable @inline(__always) public mutating func payloadFull(count: Int) {
        guard count >= 0, count <= TraceFormat.maxListEntries else {
            if self.failure == nil { self.failure = (self.index, .payload, .payload, "\(count) chunks") }
            return
        }
        if self.expect(.payload) {
            self.out.putByte(2)
            self.out.putVarint(UInt64(count))
            self.pending = count
            self.listType = .bytes
        }
    }
    public mutating func payloadChunk(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= TraceFormat.maxPayloadChunk else {
            if self.failure == nil { self.failure = (self.index - 1, .payload, .payload, "payload chunk of \(bytes.count) bytes") }
            return
        }
        if self.entry(of: .bytes) {
            self.out.putVarint(UInt64(bytes.count))
            self.out.putBytes(bytes)
        }
    }

    // MARK: Byte strings

    /// Socket address bytes (≤ 128).
    public mutating func sockaddr(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= TraceFormat.maxSockaddrBytes else {
            if self.failure == nil { self.failure = (self.index, .sockaddr, .sockaddr, "sockaddr of \(bytes.count) bytes") }
            return
        }
        if self.expect(.sockaddr) { self.putString(bytes) }
    }
    /// Opaque bytes; anything beyond TraceFormat.maxBytesField is cut off.
    public mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        if self.expect(.bytes) {
            self.putString(UnsafeRawBufferPointer(rebasing: bytes.prefix(TraceFormat.maxBytesField)))
        }
    }
    /// RDMA descriptor bytes (≤ 4096).
    public mutating func descriptorBytes(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= TraceFormat.maxBytesField else {
            if self.failure == nil { self.failure = (self.index, .descriptorBytes, .descriptorBytes, "descriptor of \(bytes.count) bytes") }
            return
        }
        if self.expect(.descriptorBytes) { self.putString(bytes) }
    }
    /// A GUID's 16 bytes in memory order.
    public mutating func guid(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else {
            if self.failure == nil { self.failure = (self.index, .guid, .guid, "GUID of \(bytes.count) bytes") }
            return
        }
        if self.expect(.guid) { self.out.putBytes(bytes) }
    }

    public mutating func sockaddr(_ bytes: [UInt8]) { bytes.withUnsafeBytes { self.sockaddr($0) } }
    public mutating func bytes(_ bytes: [UInt8]) { bytes.withUnsafeBytes { self.bytes($0) } }
    public mutating func descriptorBytes(_ bytes: [UInt8]) { bytes.withUnsafeBytes { self.descriptorBytes($0) } }
    public mutating func guid(_ bytes: [UInt8]) { bytes.withUnsafeBytes { self.guid($0) } }
    public mutating func payloadChunk(_ bytes: [UInt8]) { bytes.withUnsafeBytes { self.payloadChunk($0) } }

    private mutating func putString(_ bytes: UnsafeRawBufferPointer) {
        self.out.putVarint(UInt64(bytes.count))
        self.out.putBytes(bytes)
    }

    /// The next field's type, nil when all are written (for generic writers such as ``TraceEvent``).
    public var nextType: FieldType? {
        self.index < self.count ? FieldType(rawValue: self.layout.typesPointer[self.start + self.index]) : nil
    }
}
