import SanTraceFormat

/// Latency samples of one endpoint per (function, size class), in nanoseconds: enter → leave for
/// synchronous calls, start → completion for operations that went pending (as `stats` pairs
/// them). Kept raw (8 bytes each) so percentiles are exact and the rank test sees every sample.
final class PerformanceSamples {
    /// Cell = function × ``SizeClass/count`` + size class.
    static let cells = 128 * SizeClass.count
    var latencies: [[UInt64]] = Array(repeating: [], count: PerformanceSamples.cells)
    /// Bytes the calls of each cell asked for.
    var bytes: [UInt64] = Array(repeating: 0, count: PerformanceSamples.cells)
    /// First and last event time of the endpoint, ns (the span throughput divides by).
    var spanNs: Int64 = 0

    @inline(__always)
    static func cell(_ fn: FunctionID, _ sizeClass: Int) -> Int32 {
        Int32(Int(fn.rawValue & 0x7F) * SizeClass.count + sizeClass)
    }

    @inline(__always)
    func record(_ cell: Int32, _ ns: UInt64) { self.latencies[Int(cell)].append(ns) }

    /// The cells with samples.
    var usedCells: [Int] { (0..<Self.cells).filter { !self.latencies[$0].isEmpty } }
}
