import CSanTrace

/// A record as the hot path wrote it, read in place in its ring (layout: csan_trace.h, "Raw
/// record layout"). Valid only until the drain hands that ring space back (csan_ring_release):
/// never kept past the conversion of the record.
///
/// Unsafe code: reads raw ring memory. Every read of a field is bounds-checked against the
/// record's size (`RawFields`); the header was checked by the ring walk (`RingCursor`).
struct RawRecord {
    let base: UnsafeRawPointer

    @inline(__always) var size: Int { Int(self.base.load(as: UInt32.self)) }
    @inline(__always) var kind: UInt8 { self.base.load(fromByteOffset: 4, as: UInt8.self) }
    @inline(__always) var function: UInt8 { self.base.load(fromByteOffset: 5, as: UInt8.self) }
    @inline(__always) var flags: UInt16 { self.base.load(fromByteOffset: 6, as: UInt16.self) }
    /// The thread's own record number, from 0.
    @inline(__always) var sequence: UInt64 { self.base.load(fromByteOffset: 8, as: UInt64.self) }
    @inline(__always) var tsc: UInt64 { self.base.load(fromByteOffset: 16, as: UInt64.self) }

    @inline(__always) var fields: RawFields { RawFields(base: self.base, offset: MemoryLayout<csan_rec_hdr>.size, end: self.size) }

    static let headerSize = MemoryLayout<csan_rec_hdr>.size
}

/// Sequential, bounds-checked reads of a record's fields. A read past the record's end returns
/// zeros / empty bytes and sets `overrun` (a producer bug or damaged memory: the converter then
/// refuses the record).
struct RawFields {
    let base: UnsafeRawPointer
    var offset: Int
    let end: Int
    private(set) var overrun = false

    @inline(__always)
    mutating func u64() -> UInt64 {
        guard self.offset &+ 8 <= self.end else {
            self.overrun = true
            return 0
        }
        let v = self.base.load(fromByteOffset: self.offset, as: UInt64.self)
        self.offset &+= 8
        return v
    }

    /// `count` bytes, then padding to 8.
    @inline(__always)
    mutating func bytes(_ count: UInt64) -> UnsafeRawBufferPointer {
        let padded = (count &+ 7) & ~7
        guard count <= UInt64(self.end), UInt64(self.offset) &+ padded <= UInt64(self.end) else {
            self.overrun = true
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        let b = UnsafeRawBufferPointer(start: self.base + self.offset, count: Int(count))
        self.offset &+= Int(padded)
        return b
    }

    /// sockaddr, bytes, rdmaDescriptor, descriptorBytes: u64 length asked, u64 stored, bytes.
    @inline(__always)
    mutating func blob() -> UnsafeRawBufferPointer {
        _ = self.u64()
        return self.bytes(self.u64())
    }

    /// A buffer-list entry count the record claims, checked against the room left.
    @inline(__always)
    mutating func entries(_ stored: UInt64, size: Int) -> Int {
        guard stored <= UInt64(self.end &- self.offset) / UInt64(size) else {
            self.overrun = true
            return 0
        }
        return Int(stored)
    }

    /// Skips to the end (a field the converter does not copy).
    mutating func skipRest() { self.offset = self.end }
}
