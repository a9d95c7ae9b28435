import SanTraceFormat
import SanTraceStore

/// Latency samples of one endpoint per (function, size class), in nanoseconds: enter → leave for
/// synchronous calls, start → completion for operations that went pending (as `stats` pairs
/// them). Kept raw (8 bytes each) so percentiles are exact and the rank test sees every sample.
final class PerformanceSamples {
    /// Cell = function × ``SizeClass/count`` + size class.
    static let cells = 128 * SizeClass.count
    var latencies: [[UInt64]] = Array(repeating: [], count: PerformanceSamples.cells)
    /// Bytes the calls of each cell asked for.
    var bytes: [UInt64] = Array(repeating: 0, count: PerformanceSamples.cells)
    /// First and last event time of the endpoint, ns.
    var spanNs: Int64 = 0
    /// Per cell, the first start and last end (TSC) of its calls, then (``finish(_:)``) the time
    /// between them in ns: the span its throughput divides by (the function's own activity, not
    /// the whole trace's).
    var firstTSC: [UInt64] = Array(repeating: UInt64.max, count: PerformanceSamples.cells)
    var lastTSC: [UInt64] = Array(repeating: 0, count: PerformanceSamples.cells)
    var cellSpanNs: [Int64] = Array(repeating: 0, count: PerformanceSamples.cells)

    @inline(__always)
    static func cell(_ fn: FunctionID, _ sizeClass: Int) -> Int32 {
        Int32(Int(fn.rawValue & 0x7F) * SizeClass.count + sizeClass)
    }

    @inline(__always)
    func record(_ cell: Int32, _ ns: UInt64, start: UInt64, end: UInt64) {
        let c = Int(cell)
        self.latencies[c].append(ns)
        if start < self.firstTSC[c] { self.firstTSC[c] = start }
        if end > self.lastTSC[c] { self.lastTSC[c] = end }
    }

    /// Converts the cells' TSC spans to nanoseconds.
    func finish(_ clock: ClockCalibration) {
        for c in self.usedCells where self.lastTSC[c] >= self.firstTSC[c] {
            self.cellSpanNs[c] = clock.nanoseconds(from: self.firstTSC[c], to: self.lastTSC[c])
        }
    }

    /// The cells with samples.
    var usedCells: [Int] { (0..<Self.cells).filter { !self.latencies[$0].isEmpty } }
}
