/// Overflow-safe range arithmetic for everything a peer or a caller can choose: offsets and
/// lengths from the wire and from WSABUF/WSABUFEX entries. Nothing here adds two untrusted numbers
/// before comparing them.
public enum Bounds {
    /// True when [offset, offset + count) lies inside [0, length). A zero count at offset ==
    /// length fits (an empty transfer at the end of a region).
    @inlinable
    public static func fits(offset: UInt64, count: UInt64, within length: UInt64) -> Bool {
        offset <= length && count <= length - offset
    }

    /// True when [address, address + count) lies inside [base, base + length), with no
    /// wrap-around anywhere.
    @inlinable
    public static func contains(base: UInt, length: UInt, address: UInt, count: UInt) -> Bool {
        address >= base && self.fits(offset: UInt64(address - base), count: UInt64(count), within: UInt64(length))
            && base <= UInt.max - length
    }

    /// `base + offset` as an address when [offset, offset + count) fits in a region of `length`
    /// bytes at `base`; nil otherwise.
    @inlinable
    public static func address(base: UInt, length: UInt64, offset: UInt64, count: UInt64) -> UInt? {
        guard self.fits(offset: offset, count: count, within: length) else { return nil }
        let (sum, overflow) = base.addingReportingOverflow(UInt(truncatingIfNeeded: offset))
        return overflow || offset > UInt64(UInt.max) ? nil : sum
    }
}
