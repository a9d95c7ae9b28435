#if canImport(Glibc)
import Glibc
#endif

/// A growable byte buffer the encoder appends to without allocating once it has grown to its
/// working size (segments are cut at ~1 MiB, so after the first segment it never reallocates).
///
/// Unsafe code: this file owns raw memory. `base` is valid until the next call that may grow the
/// buffer (`reserve`, any `put…`); never keep it across one.
public final class ByteBuffer {
    public private(set) var base: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    /// Bytes written so far.
    public var count: Int

    public init(capacity: Int = 1 << 16) {
        self.capacity = max(capacity, 64)
        self.base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
        self.count = 0
    }

    deinit { self.base.deallocate() }

    /// The written bytes. Valid until the buffer next grows or is cleared; do not escape.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: self.base, count: self.count) }

    /// Makes room for `n` more bytes.
    @inlinable @inline(__always)
    public func reserve(_ n: Int) {
        if self.count &+ n > self.capacity { self.grow(to: self.count + n) }
    }

    @usableFromInline @inline(never)
    func grow(to needed: Int) {
        var c = self.capacity
        while c < needed { c *= 2 }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 16)
        fresh.copyMemory(from: self.base, byteCount: self.count)
        self.base.deallocate()
        self.base = fresh
        self.capacity = c
    }

    /// Forgets the contents, keeps the memory.
    public func clear() { self.count = 0 }

    // The put methods are inlinable: a field writer inlined into another module (the
    // interposer's converter) would otherwise call them, with a retain/release around each call.
    @inlinable @inline(__always)
    public func putByte(_ b: UInt8) {
        self.reserve(1)
        self.base.storeBytes(of: b, toByteOffset: self.count, as: UInt8.self)
        self.count &+= 1
    }

    /// Appends an unsigned LEB128 varint (1–10 bytes).
    @inlinable @inline(__always)
    public func putVarint(_ value: UInt64) {
        self.reserve(10)
        var v = value
        var p = self.base + self.count
        while v >= 0x80 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, as: UInt8.self)
            p += 1
            v >>= 7
        }
        p.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self)
        self.count = (p + 1) - self.base
    }

    @inlinable @inline(__always)
    public func putU64LE(_ v: UInt64) {
        self.reserve(8)
        (self.base + self.count).storeBytes(of: v.littleEndian, as: UInt64.self)
        self.count &+= 8
    }

    @inlinable @inline(__always)
    public func putU32LE(_ v: UInt32) {
        self.reserve(4)
        (self.base + self.count).storeBytes(of: v.littleEndian, as: UInt32.self)
        self.count &+= 4
    }

    public func putBytes(_ src: UnsafeRawBufferPointer) {
        guard let s = src.baseAddress, src.count > 0 else { return }
        self.reserve(src.count)
        (self.base + self.count).copyMemory(from: s, byteCount: src.count)
        self.count &+= src.count
    }

    public func putBytes(_ src: [UInt8]) {
        src.withUnsafeBytes { self.putBytes($0) }
    }

    /// Overwrites a little-endian u32 at `offset` (< count - 3).
    public func setU32LE(_ v: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= self.count, "ByteBuffer.setU32LE out of range")
        (self.base + offset).storeBytes(of: v.littleEndian, as: UInt32.self)
    }

    /// Overwrites a little-endian u64 at `offset`.
    public func setU64LE(_ v: UInt64, at offset: Int) {
        precondition(offset >= 0 && offset + 8 <= self.count, "ByteBuffer.setU64LE out of range")
        (self.base + offset).storeBytes(of: v.littleEndian, as: UInt64.self)
    }

    /// Inserts `gap` bytes at `offset`, moving what follows (for a length prefix that turned out
    /// longer than the one byte reserved for it).
    public func openGap(at offset: Int, size gap: Int) {
        precondition(offset >= 0 && offset <= self.count && gap >= 0, "ByteBuffer.openGap out of range")
        self.reserve(gap)
        memmove(self.base + offset + gap, self.base + offset, self.count - offset)
        self.count += gap
    }

    /// Writes a varint at `offset` over bytes already reserved for it; returns its size.
    @discardableResult
    public func writeVarint(_ value: UInt64, at offset: Int) -> Int {
        var v = value
        var p = self.base + offset
        let start = p
        while v >= 0x80 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, as: UInt8.self)
            p += 1
            v >>= 7
        }
        p.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self)
        return p + 1 - start
    }

    /// A copy of the written bytes.
    public func toArray() -> [UInt8] { Array(self.bytes) }
}
