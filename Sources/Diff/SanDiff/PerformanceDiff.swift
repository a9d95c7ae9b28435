import SanTraceFormat

#if canImport(Glibc)
import Glibc
#endif

/// Latency and throughput of one (function, size class) cell of one endpoint.
public struct LatencySummary: Sendable, Equatable {
    public var count: Int = 0
    public var p50: UInt64 = 0
    public var p90: UInt64 = 0
    public var p99: UInt64 = 0
    public var p999: UInt64 = 0
    public var min: UInt64 = 0
    public var max: UInt64 = 0
    public var mean: Double = 0
    /// Bytes the calls asked for, and the time from the first call's start to the last one's
    /// end that throughput divides them by.
    public var bytes: UInt64 = 0
    public var spanNs: Int64 = 0

    public var opsPerSecond: Double { self.spanNs > 0 ? Double(self.count) * 1e9 / Double(self.spanNs) : 0 }
    public var bytesPerSecond: Double { self.spanNs > 0 ? Double(self.bytes) * 1e9 / Double(self.spanNs) : 0 }

    /// Nearest-rank percentiles of a sorted sample.
    init(sorted s: UnsafeBufferPointer<UInt64>, bytes: UInt64, spanNs: Int64) {
        self.count = s.count
        self.bytes = bytes
        self.spanNs = spanNs
        guard !s.isEmpty else { return }
        func pct(_ p: Double) -> UInt64 {
            let rank = Int((p / 100 * Double(s.count)).rounded(.up))
            return s[Swift.min(Swift.max(rank, 1), s.count) - 1]
        }
        self.p50 = pct(50)
        self.p90 = pct(90)
        self.p99 = pct(99)
        self.p999 = pct(99.9)
        self.min = s[0]
        self.max = s[s.count - 1]
        var sum = 0.0
        for v in s { sum += Double(v) }
        self.mean = sum / Double(s.count)
    }

    public init() {}
}

/// One row of the performance table.
public struct PerformanceRow: Sendable {
    public var endpoint: String
    public var function: FunctionID
    public var sizeClass: Int
    public var a: LatencySummary
    public var b: LatencySummary
    /// Mann–Whitney U on the two latency samples (nil when one side has none).
    public var test: MannWhitney.Result?
    /// Relative changes B/A − 1 (nil when A's value is 0 or a side is empty).
    public var p50Change: Double? { Self.change(self.a.p50, self.b.p50) }
    public var p99Change: Double? { Self.change(self.a.p99, self.b.p99) }
    public var throughputChange: Double? {
        guard self.a.count > 0, self.b.count > 0 else { return nil }
        let x = self.a.bytes > 0 ? self.a.bytesPerSecond : self.a.opsPerSecond
        let y = self.b.bytes > 0 ? self.b.bytesPerSecond : self.b.opsPerSecond
        return x > 0 ? y / x - 1 : nil
    }
    public var significant: Bool
    /// Significant and slower (median) beyond the threshold.
    public var regression: Bool
    /// Significant and faster beyond the threshold.
    public var improvement: Bool
    /// With repeated runs: the median of each run that has calls in this cell, sorted (what the
    /// test compared). Empty for a diff of two single runs.
    public var runMediansA: [UInt64] = []
    public var runMediansB: [UInt64] = []

    static func change(_ x: UInt64, _ y: UInt64) -> Double? { x > 0 ? Double(y) / Double(x) - 1 : nil }
}

/// The performance half of a diff: per endpoint, function and size class, latency percentiles of
/// A and B, the relative change of the median with its significance, throughput; a geometric-mean
/// row over the rows both sides have. Regression rule (Docs/Diff.md §Performance): p < α **and**
/// the median is slower by more than the threshold.
public struct PerformanceReport: Sendable {
    public var rows: [PerformanceRow] = []
    /// Geometric means of the rows' medians (rows with samples on both sides).
    public var geomeanA: Double = 0
    public var geomeanB: Double = 0
    public var threshold: Double
    public var alpha: Double
    /// Runs compared on each side (1 and 1: per-call samples are tested; more: per-run medians).
    public var runsA = 1
    public var runsB = 1

    public var geomeanChange: Double? { self.geomeanA > 0 ? self.geomeanB / self.geomeanA - 1 : nil }
    public var regressions: [PerformanceRow] { self.rows.filter(\.regression) }
    public var improvements: [PerformanceRow] { self.rows.filter(\.improvement) }

    public init(threshold: Double, alpha: Double) {
        self.threshold = threshold
        self.alpha = alpha
    }

    /// Compares the samples of one endpoint pair and appends its rows (sorts the samples in place).
    mutating func compare(_ a: PerformanceSamples, _ b: PerformanceSamples, endpoint: String) {
        let cells = Set(a.usedCells).union(b.usedCells).sorted()
        for cell in cells {
            // Sorted already when TraceDiff sorted both sides on two threads.
            for s in [a, b] where !Self.isSorted(s.latencies[cell]) { RadixSort.sort(&s.latencies[cell]) }
            var row = a.latencies[cell].withUnsafeBufferPointer { pa in
                b.latencies[cell].withUnsafeBufferPointer { pb in
                    PerformanceRow(endpoint: endpoint, function: FunctionID(UInt16(cell / SizeClass.count)),
                                   sizeClass: cell % SizeClass.count,
                                   a: LatencySummary(sorted: pa, bytes: a.bytes[cell], spanNs: a.cellSpanNs[cell]),
                                   b: LatencySummary(sorted: pb, bytes: b.bytes[cell], spanNs: b.cellSpanNs[cell]),
                                   test: pa.isEmpty || pb.isEmpty ? nil : MannWhitney.test(sorted: pa, pb),
                                   significant: false, regression: false, improvement: false)
                }
            }
            self.classify(&row)
            self.rows.append(row)
        }
    }

    /// The rule: significant at α, and a median change beyond the threshold.
    func classify(_ row: inout PerformanceRow) {
        row.significant = (row.test?.p ?? 1) < self.alpha
        if row.significant, let c = row.p50Change {
            row.regression = c > self.threshold
            row.improvement = c < -self.threshold
        }
    }

    static func isSorted(_ a: [UInt64]) -> Bool {
        var i = 1
        while i < a.count {
            if a[i - 1] > a[i] { return false }
            i += 1
        }
        return true
    }

    mutating func finish() {
        var la = 0.0, lb = 0.0, n = 0.0
        for r in self.rows where r.a.p50 > 0 && r.b.p50 > 0 {
            la += log(Double(r.a.p50))
            lb += log(Double(r.b.p50))
            n += 1
        }
        if n > 0 {
            self.geomeanA = exp(la / n)
            self.geomeanB = exp(lb / n)
        }
    }
}
