/// A log-linear histogram of nanosecond latencies: 32 sub-buckets per power of two, so any
/// percentile is within 1/32 (3 %) of the true value, in constant memory. Mergeable.
public struct LatencyHistogram: Sendable {
    static let subBits = 5
    static let sub = 1 << subBits
    private var counts = [UInt64](repeating: 0, count: 64 * LatencyHistogram.sub)
    public private(set) var count: UInt64 = 0
    public private(set) var min = UInt64.max
    public private(set) var max: UInt64 = 0
    public private(set) var sum: Double = 0

    public init() {}

    @inline(__always)
    static func bucket(_ v: UInt64) -> Int {
        if v < UInt64(sub) { return Int(v) }
        let e = 63 - v.leadingZeroBitCount  // ≥ subBits
        let mantissa = Int((v >> UInt64(e - subBits)) & UInt64(sub - 1))
        return (e - subBits + 1) * sub + mantissa
    }

    /// The midpoint of a bucket's range.
    static func value(_ b: Int) -> UInt64 {
        if b < sub { return UInt64(b) }
        let e = b / sub + subBits - 1
        let mantissa = UInt64(b % sub)
        let low = (UInt64(sub) + mantissa) << UInt64(e - subBits)
        let width = UInt64(1) << UInt64(e - subBits)
        return low + width / 2
    }

    public mutating func record(_ ns: UInt64) {
        self.counts[Self.bucket(ns)] &+= 1
        self.count &+= 1
        if ns < self.min { self.min = ns }
        if ns > self.max { self.max = ns }
        self.sum += Double(ns)
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for i in self.counts.indices { self.counts[i] &+= other.counts[i] }
        self.count &+= other.count
        self.min = Swift.min(self.min, other.min)
        self.max = Swift.max(self.max, other.max)
        self.sum += other.sum
    }

    /// The value at percentile `p` (0–100); 0 when empty.
    public func percentile(_ p: Double) -> UInt64 {
        guard self.count > 0 else { return 0 }
        let rank = UInt64((p / 100 * Double(self.count)).rounded(.up))
        var seen: UInt64 = 0
        for (b, c) in self.counts.enumerated() where c > 0 {
            seen += c
            if seen >= Swift.max(rank, 1) { return Swift.min(Swift.max(Self.value(b), self.min), self.max) }
        }
        return self.max
    }

    public var mean: Double { self.count == 0 ? 0 : self.sum / Double(self.count) }

    /// A histogram from raw bucket counts (``HistogramBank``).
    init(counts: UnsafeBufferPointer<UInt64>, min: UInt64, max: UInt64, sum: Double) {
        self.counts = Array(counts)
        self.count = counts.reduce(0, &+)
        self.min = min
        self.max = max
        self.sum = sum
    }

    static var bucketCount: Int { 64 * sub }
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
