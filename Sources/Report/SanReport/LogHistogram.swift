/// A log-linear histogram of nanosecond latencies (32 sub-buckets per power of two: any value is
/// within 3 % of its bucket's midpoint), with its buckets readable: percentiles for tables, the
/// cumulative distribution for the HTML report's CDF curves. Mergeable.
public struct LogHistogram: Sendable {
    static let subBits = 5
    static let sub = 1 << subBits
    static let bucketCount = 64 * sub
    private(set) var counts: [UInt64] = []
    public private(set) var count: UInt64 = 0
    public private(set) var min = UInt64.max
    public private(set) var max: UInt64 = 0
    public private(set) var sum: Double = 0

    public init() {}

    @inline(__always)
    static func bucket(_ v: UInt64) -> Int {
        if v < UInt64(sub) { return Int(v) }
        let e = 63 - v.leadingZeroBitCount
        return (e - subBits + 1) * sub + Int((v >> UInt64(e - subBits)) & UInt64(sub - 1))
    }

    /// The lower and upper bound of bucket `b` (upper exclusive).
    static func bounds(_ b: Int) -> (UInt64, UInt64) {
        if b < sub { return (UInt64(b), UInt64(b) + 1) }
        let e = b / sub + subBits - 1
        let low = (UInt64(sub) + UInt64(b % sub)) << UInt64(e - subBits)
        return (low, low + (UInt64(1) << UInt64(e - subBits)))
    }

    public mutating func record(_ ns: UInt64) {
        if self.counts.isEmpty { self.counts = Array(repeating: 0, count: Self.bucketCount) }
        self.counts[Self.bucket(ns)] &+= 1
        self.count &+= 1
        if ns < self.min { self.min = ns }
        if ns > self.max { self.max = ns }
        self.sum += Double(ns)
    }

    public mutating func merge(_ o: LogHistogram) {
        guard o.count > 0 else { return }
        if self.counts.isEmpty { self.counts = Array(repeating: 0, count: Self.bucketCount) }
        for i in 0..<Self.bucketCount where o.counts[i] != 0 { self.counts[i] &+= o.counts[i] }
        self.count &+= o.count
        self.min = Swift.min(self.min, o.min)
        self.max = Swift.max(self.max, o.max)
        self.sum += o.sum
    }

    public var mean: Double { self.count == 0 ? 0 : self.sum / Double(self.count) }

    /// The value at percentile `p` (0–100): its bucket's midpoint, clamped to [min, max].
    public func percentile(_ p: Double) -> UInt64 {
        guard self.count > 0 else { return 0 }
        let rank = Swift.max(UInt64((p / 100 * Double(self.count)).rounded(.up)), 1)
        var seen: UInt64 = 0
        for (b, c) in self.counts.enumerated() where c > 0 {
            seen += c
            if seen >= rank {
                let (lo, hi) = Self.bounds(b)
                return Swift.min(Swift.max(lo + (hi - lo) / 2, self.min), self.max)
            }
        }
        return self.max
    }

    /// The cumulative distribution: (upper bound of each non-empty bucket, fraction ≤ it).
    public var cdf: [(ns: UInt64, fraction: Double)] {
        guard self.count > 0 else { return [] }
        var out: [(UInt64, Double)] = []
        var seen: UInt64 = 0
        for (b, c) in self.counts.enumerated() where c > 0 {
            seen += c
            out.append((Swift.min(Self.bounds(b).1, self.max), Double(seen) / Double(self.count)))
        }
        return out
    }

    /// Counts in power-of-two ranges from the minimum's to the maximum's (for sparklines).
    public var octaves: [UInt64] {
        guard self.count > 0 else { return [] }
        let lo = Self.bucket(self.min) / Self.sub, hi = Self.bucket(self.max) / Self.sub
        var out = [UInt64](repeating: 0, count: hi - lo + 1)
        for (b, c) in self.counts.enumerated() where c > 0 { out[b / Self.sub - lo] += c }
        return out
    }

    /// A one-line shape of the distribution, one block per power of two (`▁▂▅█▃▁`).
    public var sparkline: String {
        let o = self.octaves
        guard let top = o.max(), top > 0 else { return "" }
        let blocks: [Character] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
        return String(o.map { c in c == 0 ? blocks[0] : blocks[Swift.max(1, Int((Double(c) / Double(top) * 8).rounded(.up)))] })
    }
}
