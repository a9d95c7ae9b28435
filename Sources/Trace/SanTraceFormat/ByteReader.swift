/// Reads varints and fixed-width integers from bytes already validated by ``SegmentDecoder``
/// (the accessors of ``EventRecord``). Still bounds-checked: past the end it yields zeros.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func byte() -> UInt8 {
        guard self.position < self.bytes.count else { return 0 }
        defer { self.position += 1 }
        return self.bytes[self.position]
    }

    mutating func varint() -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while self.position < self.bytes.count, shift < 64 {
            let b = self.bytes[self.position]
            self.position += 1
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
        return v
    }

    mutating func u64LE() -> UInt64 {
        guard self.position + 8 <= self.bytes.count else { return 0 }
        defer { self.position += 8 }
        return UInt64(littleEndian: self.bytes.loadUnaligned(fromByteOffset: self.position, as: UInt64.self))
    }
}
