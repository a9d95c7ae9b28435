/// Size buckets of the performance diff: the bit length of a call's byte count, as the trace
/// store's `size_summary` table defines it (Docs/TraceFormat.md §3.2): class 0 holds calls that
/// move no bytes (or have no size), class k holds sizes 2^(k−1) ≤ n < 2^k.
public enum SizeClass {
    public static let count = 65

    @inline(__always)
    public static func of(_ bytes: UInt64) -> Int { bytes == 0 ? 0 : 64 - bytes.leadingZeroBitCount }

    /// The bucket's lower bound in binary units: `-` for class 0, `1`, `2` … `512`, `1K` … `64K`,
    /// `1M`, `1G`.
    public static func label(_ c: Int) -> String {
        guard c > 0 else { return "-" }
        let v = UInt64(1) << UInt64(c - 1)
        for (shift, unit) in [(60, "E"), (50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")] where v >= UInt64(1) << UInt64(shift) {
            return String(v >> UInt64(shift)) + unit
        }
        return String(v)
    }

    /// `[64K, 128K)`: the bucket's range, for documentation and JSON.
    public static func range(_ c: Int) -> (low: UInt64, high: UInt64) {
        guard c > 0 else { return (0, 0) }
        let low = UInt64(1) << UInt64(c - 1)
        return (low, c >= 64 ? UInt64.max : low << 1)
    }
}
