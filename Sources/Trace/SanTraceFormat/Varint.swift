/// Zigzag mapping of signed to unsigned integers (Docs/TraceFormat.md §Integers): 0, -1, 1, -2 …
/// become 0, 1, 2, 3 …, so small magnitudes of either sign take one varint byte.
@inlinable @inline(__always)
public func zigzagEncode(_ v: Int64) -> UInt64 {
    UInt64(bitPattern: (v &<< 1) ^ (v >> 63))
}

/// Inverse of ``zigzagEncode(_:)``.
@inlinable @inline(__always)
public func zigzagDecode(_ u: UInt64) -> Int64 {
    Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1)
}

/// Bytes a LEB128 varint of `v` takes (1 … 10).
@inlinable @inline(__always)
public func varintSize(_ v: UInt64) -> Int {
    var n = 1
    var x = v >> 7
    while x != 0 {
        n += 1
        x >>= 7
    }
    return n
}
