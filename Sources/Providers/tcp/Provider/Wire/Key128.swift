/// A 128-bit value used as a secret: the RDMA key of a registration, a handshake nonce, and the
/// connection id both sides derive from the nonces (Docs/TCPProvider.md, "Descriptor").
///
/// `==` is branch-free over all 16 bytes (constant time), so the time a target takes to refuse a
/// key says nothing about how many of its bytes were right.
public struct Key128: Sendable, Hashable, CustomStringConvertible {
    public var low: UInt64
    public var high: UInt64

    public init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    public static let zero = Key128(low: 0, high: 0)

    /// Constant-time comparison.
    @inline(never)
    public static func == (a: Key128, b: Key128) -> Bool {
        ((a.low ^ b.low) | (a.high ^ b.high)) == 0
    }

    /// Byte-wise exclusive or (the connection id is the two handshake nonces combined).
    public static func ^ (a: Key128, b: Key128) -> Key128 { Key128(low: a.low ^ b.low, high: a.high ^ b.high) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.low)
        hasher.combine(self.high)
    }

    /// Reads 16 little-endian bytes at `offset`.
    public init(loading p: UnsafeRawPointer, at offset: Int) {
        self.low = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        self.high = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
    }

    /// Writes 16 little-endian bytes at `offset`.
    public func store(to p: UnsafeMutableRawPointer, at offset: Int) {
        p.storeBytes(of: self.low.littleEndian, toByteOffset: offset, as: UInt64.self)
        p.storeBytes(of: self.high.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
    }

    /// Short hex form for diagnostics (never print whole keys into logs or traces).
    public var description: String { "Key128(\(String(self.high >> 48, radix: 16))…)" }
}
