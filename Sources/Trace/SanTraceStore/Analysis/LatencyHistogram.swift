/// A log-linear histogram of nanosecond latencies: 32 sub-buckets per power of two, so any
/// percentile is within 1/32 (3 %) of the true value, in constant memory (allocated at the first
/// value: reports keep one per function and size, most of them empty). Mergeable; its buckets are
/// readable for the HTML report's CDF curves and the sparklines of the canned reports.
public struct LatencyHistogram: Sendable {
    static let subBits = 5
    static let sub = 1 << subBits
    static var bucketCount: Int { 64 * sub }
    private var counts: [UInt64] = []
    public private(set) var count: UInt64 = 0
    public private(set) var min = UInt64.max
    public private(set) var max: UInt64 = 0
    public private(set) var sum: Double = 0

    public init() {}

    /// A histogram from raw bucket counts (``HistogramBank``).
    init(counts: UnsafeBufferPointer<UInt64>, min: UInt64, max: UInt64, sum: Double) {
        self.counts = Array(counts)
        self.count = counts.reduce(0, &+)
        self.min = min
        self.max = max
        self.sum = sum
    }

    @inline(__always)
    static func bucket(_ v: UInt64) -> Int {
        if v < UInt64(sub) { return Int(v) }
        let e = 63 - v.leadingZeroBitCount  // ≥ subBits
        let mantissa = Int((v >> UInt64(e - subBits)) & UInt64(sub - 1))
        return (e - subBits + 1) * sub + mantissa
    }

    /// The lower and upper bound of bucket `b` (upper exclusive).
    static func bounds(_ b: Int) -> (low: UInt64, high: UInt64) {
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

    public mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        if self.counts.isEmpty { self.counts = Array(repeating: 0, count: Self.bucketCount) }
        for i in 0..<Self.bucketCount where other.counts[i] != 0 { self.counts[i] &+= other.counts[i] }
        self.count &+= other.count
        self.min = Swift.min(self.min, other.min)
        self.max = Swift.max(self.max, other.max)
        self.sum += other.sum
    }

    public var mean: Double { self.count == 0 ? 0 : self.sum / Double(self.count) }

    /// The value at percentile `p` (0–100): its bucket's midpoint, clamped to [min, max]; 0 when empty.
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
            out.append((Swift.min(Self.bounds(b).high, self.max), Double(seen) / Double(self.count)))
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

/// Many latency histograms in one block of raw memory, for per-event recording without
/// copy-on-write checks (stats over millions of events). Unsafe code: owns the block.
final class HistogramBank {
    let histograms: Int
    let counts: UnsafeMutablePointer<UInt64>
    let mins: UnsafeMutablePointer<UInt64>
    let maxs: UnsafeMutablePointer<UInt64>
    let sums: UnsafeMutablePointer<Double>

    init(histograms: Int) {
        self.histograms = histograms
        let n = histograms * LatencyHistogram.bucketCount
        self.counts = .allocate(capacity: n)
        self.counts.initialize(repeating: 0, count: n)
        self.mins = .allocate(capacity: histograms)
        self.mins.initialize(repeating: .max, count: histograms)
        self.maxs = .allocate(capacity: histograms)
        self.maxs.initialize(repeating: 0, count: histograms)
        self.sums = .allocate(capacity: histograms)
        self.sums.initialize(repeating: 0, count: histograms)
    }

    deinit {
        self.counts.deallocate()
        self.mins.deallocate()
        self.maxs.deallocate()
        self.sums.deallocate()
    }

    @inline(__always)
    func record(_ h: Int, _ ns: UInt64) {
        self.counts[h &* LatencyHistogram.bucketCount &+ LatencyHistogram.bucket(ns)] &+= 1
        if ns < self.mins[h] { self.mins[h] = ns }
        if ns > self.maxs[h] { self.maxs[h] = ns }
        self.sums[h] += Double(ns)
    }

    func histogram(_ h: Int) -> LatencyHistogram {
        LatencyHistogram(counts: UnsafeBufferPointer(start: self.counts + h * LatencyHistogram.bucketCount,
                                                     count: LatencyHistogram.bucketCount),
                         min: self.mins[h], max: self.maxs[h], sum: self.sums[h])
    }
}
