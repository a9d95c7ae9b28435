import Histogram

/// Latencies in nanoseconds, kept in an HdrHistogram (3 significant digits, 1 ns to 100 s):
/// recording allocates nothing, so it can sit in the measured loop.
public struct LatencyRecorder: Sendable {
    var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 100_000_000_000,
                                      numberOfSignificantValueDigits: .three)
    /// Values are divided by this before being reported (2 for half round trips).
    public var divisor: UInt64 = 1

    public init(divisor: UInt64 = 1) { self.divisor = divisor }

    /// Records one measurement in nanoseconds (clamped into the histogram's range).
    @inline(__always)
    public mutating func record(_ nanoseconds: UInt64) {
        _ = self.histogram.record(min(max(nanoseconds, 1), 100_000_000_000))
    }

    public var count: UInt64 { self.histogram.totalCount }

    /// The summary, or nil when nothing was recorded.
    public var summary: LatencySummary? {
        guard self.histogram.totalCount > 0 else { return nil }
        let d = Double(self.divisor)
        func at(_ p: Double) -> Double { Double(self.histogram.valueAtPercentile(p)) / d }
        return LatencySummary(min: Double(self.histogram.min) / d, p50: at(50), average: self.histogram.mean / d,
                              p99: at(99), p999: at(99.9), max: Double(self.histogram.max) / d,
                              count: self.histogram.totalCount)
    }
}

/// Latency percentiles in nanoseconds.
public struct LatencySummary: Sendable, Equatable {
    public var min: Double
    public var p50: Double
    public var average: Double
    public var p99: Double
    public var p999: Double
    public var max: Double
    public var count: UInt64
}
